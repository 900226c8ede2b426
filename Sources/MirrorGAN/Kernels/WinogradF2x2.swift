import Foundation

/// 3×3, stride-1, pad-1 convolution by Winograd F(2×2, 3×3) (Lavin & Gray 2016): each 2×2 output tile is
/// Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the 4×4 input tile d, 16 multiplies instead of 36 per input channel and
/// output channel (2.25× fewer MACs). The 16 element-wise products over channels are 16 GEMMs
/// [O × C] · [C × tiles]; the kernel transform U = G g Gᵀ is computed once at load (in Double).
///
/// Tiles are processed in blocks of tile rows (transform buffers within ~8 MB, reused per thread). The
/// input transform runs over whole rows at once: the four input rows of a tile row are split into even
/// and odd columns, so that both the row and the column transforms are contiguous vector operations.
/// The output transform adds the bias and applies the epilogue (GLU, tanh, residual add or ReLU) in the same
/// pass. F(2, 3)'s transforms only add, subtract and halve, so it is as accurate as direct convolution
/// to within a few ulp.
public struct WinogradF2x2: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    /// [16][O][C]: U_ξ for ξ = 4·i + j.
    let u: [Float]
    let bias: [Float]

    /// - Parameters: weight `[O, C, 3, 3]` (BN folded); bias `[O]` or nil.
    public init(weight: Tensor, bias: Tensor?) throws {
        let (o, c) = try conv3x3Channels("WinogradF2x2", weight: weight)
        let bias = try biasValues("WinogradF2x2", bias, o)
        inChannels = c
        outChannels = o
        let wd = Array(weight.data)
        let gm: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        var u = [Float](repeating: 0, count: 16 * o * c)
        for oc in 0..<o {
            for ic in 0..<c {
                let base = (oc * c + ic) * 9
                for i in 0..<4 {
                    for j in 0..<4 {
                        var s = 0.0
                        for ky in 0..<3 {
                            for kx in 0..<3 { s += gm[i][ky] * Double(wd[base + ky * 3 + kx]) * gm[j][kx] }
                        }
                        u[((4 * i + j) * o + oc) * c + ic] = Float(s)
                    }
                }
            }
        }
        self.u = u
        self.bias = bias
    }

    /// - Parameters: x `[N, C, H, W]`; blockBudget: scratch floats per block of tile rows (tests lower it).
    /// - Returns: `[N, O (O/2 with .glu), H, W]`.
    public func callAsFunction(_ x: Tensor, epilogue: ConvEpilogue = .identity, blockBudget: Int = 2 << 20) throws -> Tensor {
        let op = "WinogradF2x2"
        let (n, h, w) = try nchwInput(op, x, channels: inChannels)
        let c = inChannels
        let o = outChannels
        let (oOut, residual) = try epilogue.resolve(op, outChannels: o, shape: [n, o, h, w])
        // Every element is written below.
        let out = TensorBuffer.uninitialized(n * oOut * h * w)
        if out.isEmpty { return Tensor(uncheckedShape: [n, oOut, h, w], data: out) }
        let tw = (w + 1) / 2, th = (h + 1) / 2
        let half = tw + 1  // even / odd columns of a padded row (W + 2 ≤ 2·half)
        let rowsPerBlock = max(1, min(th, blockBudget / (16 * (c + o) * tw)))
        let maxTiles = rowsPerBlock * tw
        let vCount = 16 * c * maxTiles
        let scratch = ScratchBuffer.current.floats(vCount + 16 * o * maxTiles)
        let vBuf = scratch, mBuf = scratch + vCount
        let mode: Int
        switch epilogue {
        case .identity: mode = 0
        case .glu: mode = 1
        case .tanh: mode = 2
        case .residual: mode = 3
        case .relu: mode = 4
        }
        forEachRowBlock(x: x, weights: u, bias: bias, residual: residual, out: out, images: n, rows: th,
                        rowsPerBlock: rowsPerBlock) { k, image, ty0, rowsHere in
            let xp = k.x, ub = k.weights, bp = k.bias, op = k.out, rp = k.residual
            let tiles = rowsHere * tw
            // Input transform: V[ξ][c][t].
            let geometry = (h: h, w: w, tw: tw, half: half, ty0: ty0, rows: rowsHere, tiles: tiles)
            parallelFor(c, (xp, vBuf, image, c, geometry)) { operands, ch in
                let (xp, vBuf, image, c, g) = operands.pointee
                let (h, w, tw, half, ty0, rowsHere, tiles) = g
                let plane = xp + (image * c + ch) * h * w
                // 4 rows × (even, odd) columns of the padded input, then row-transformed.
                do {  // per-thread scratch: an array here was one allocation per channel and block
                    let e = ScratchBuffer.perItem.floats(8 * half)
                    e.update(repeating: 0, count: 8 * half)
                    for tr in 0..<rowsHere {
                        let ty = ty0 + tr
                        for i in 0..<4 {
                            let ev = e + (2 * i) * half, od = e + (2 * i + 1) * half
                            let iy = 2 * ty - 1 + i
                            if iy < 0 || iy >= h {
                                ev.update(repeating: 0, count: half)
                                od.update(repeating: 0, count: half)
                                continue
                            }
                            // padded column 2k → x column 2k − 1; 2k + 1 → x column 2k.
                            let src = plane + iy * w
                            ev[0] = 0
                            let evLast = w / 2, odLast = (w - 1) / 2  // last k with a real column
                            for k in 1...max(1, evLast) where k <= evLast { ev[k] = src[2 * k - 1] }
                            if evLast + 1 < half { (ev + evLast + 1).update(repeating: 0, count: half - evLast - 1) }
                            for k in 0...odLast { od[k] = src[2 * k] }
                            if odLast + 1 < half { (od + odLast + 1).update(repeating: 0, count: half - odLast - 1) }
                        }
                        // Bᵀ over rows: t0 = d0 − d2, t1 = d1 + d2, t2 = d2 − d1, t3 = d1 − d3,
                        // then over columns (even E, odd O): v0 = E[k] − E[k+1], v1 = O[k] + E[k+1],
                        // v2 = E[k+1] − O[k], v3 = O[k] − O[k+1].
                        let t = tr * tw
                        for part in 0..<2 {  // even, odd
                            let d0 = e + part * half, d1 = e + (2 + part) * half
                            let d2 = e + (4 + part) * half, d3 = e + (6 + part) * half
                            var k = 0
                            while k + 8 <= half {
                                let a0 = load8(d0 + k), a1 = load8(d1 + k), a2 = load8(d2 + k), a3 = load8(d3 + k)
                                store8(a0 - a2, d0 + k); store8(a1 + a2, d1 + k)
                                store8(a2 - a1, d2 + k); store8(a1 - a3, d3 + k)
                                k += 8
                            }
                            while k < half {
                                let a0 = d0[k], a1 = d1[k], a2 = d2[k], a3 = d3[k]
                                d0[k] = a0 - a2; d1[k] = a1 + a2; d2[k] = a2 - a1; d3[k] = a1 - a3
                                k += 1
                            }
                        }
                        for i in 0..<4 {
                            let ev = e + (2 * i) * half, od = e + (2 * i + 1) * half
                            let v0 = vBuf + ((4 * i + 0) * c + ch) * tiles + t
                            let v1 = vBuf + ((4 * i + 1) * c + ch) * tiles + t
                            let v2 = vBuf + ((4 * i + 2) * c + ch) * tiles + t
                            let v3 = vBuf + ((4 * i + 3) * c + ch) * tiles + t
                            var k = 0
                            while k + 8 <= tw {
                                let e0 = load8(ev + k), e1 = load8(ev + k + 1)
                                let o0 = load8(od + k), o1 = load8(od + k + 1)
                                store8(e0 - e1, v0 + k); store8(o0 + e1, v1 + k)
                                store8(e1 - o0, v2 + k); store8(o0 - o1, v3 + k)
                                k += 8
                            }
                            while k < tw {
                                let e0 = ev[k], e1 = ev[k + 1], o0 = od[k], o1 = od[k + 1]
                                v0[k] = e0 - e1; v1[k] = o0 + e1; v2[k] = e1 - o0; v3[k] = o0 - o1
                                k += 1
                            }
                        }
                    }
                }
            }
            // 16 GEMMs: M_ξ [O × tiles] = U_ξ [O × C] · V_ξ [C × tiles].
            parallelFor(16, (ub, vBuf, mBuf, o, c, tiles, vCount, maxTiles)) { operands, xi in
                let (ub, vBuf, mBuf, o, c, tiles, vCount, maxTiles) = operands.pointee
                sgemm(transposeA: false, transposeB: false, m: o, n: tiles, k: c,
                      a: ub, aOffset: xi * o * c, lda: c,
                      b: UnsafeBufferPointer(start: vBuf, count: vCount), bOffset: xi * c * tiles, ldb: tiles,
                      c: UnsafeMutableBufferPointer(start: mBuf, count: 16 * o * maxTiles), cOffset: xi * o * tiles, ldc: tiles,
                      split: false)
            }
            // Output transform + bias + epilogue.
            parallelFor(oOut, (op, mBuf, bp, rp, image, o, oOut, mode, geometry)) { operands, oc in
                let (op, mBuf, bp, rp, image, o, oOut, mode, g) = operands.pointee
                let (h, w, tw, _, ty0, rowsHere, tiles) = g
                do {
                    // y00, y01, y10, y11 (value), then the gate's
                    let y = ScratchBuffer.perItem.floats(8 * tw)
                    y.update(repeating: 0, count: 8 * tw)
                    for tr in 0..<rowsHere {
                        let t = tr * tw
                        outputTile(mBuf, o: o, tiles: tiles, channel: oc, t: t, tw: tw, y: y, bias: bp[oc])
                        if mode == 1 {
                            outputTile(mBuf, o: o, tiles: tiles, channel: oc + oOut, t: t, tw: tw, y: y + 4 * tw, bias: 0)
                            for q in 0..<4 { gluRow(y + q * tw, y + q * tw, 0, y + (4 + q) * tw, bp[oc + oOut], tw) }
                        }
                        let ty = ty0 + tr
                        let dst = op + (image * oOut + oc) * h * w
                        for dy in 0..<2 {
                            let oy = 2 * ty + dy
                            if oy >= h { break }
                            let row = dst + oy * w
                            let ye = y + (2 * dy) * tw, yo = y + (2 * dy + 1) * tw
                            let wEven = (w + 1) / 2, wOdd = w / 2
                            for k in 0..<wEven { row[2 * k] = ye[k] }
                            for k in 0..<wOdd { row[2 * k + 1] = yo[k] }
                            if mode == 2 {
                                tanhRow(row, w)
                            } else if mode == 3, let rp {
                                let res = rp + ((image * o + oc) * h + oy) * w
                                for k in 0..<w { row[k] += res[k] }
                            } else if mode == 4 {
                                reluRow(row, w)
                            }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [n, oOut, h, w], data: out)
    }
}

/// Aᵀ m A for one tile row of output channel `channel`, plus `bias`: y[0..<tw] = y00, y[tw..] = y01,
/// y[2tw..] = y10, y[3tw..] = y11 (rows 2ty, 2ty + 1; columns 2tx, 2tx + 1).
@inline(__always)
private func outputTile(_ m: UnsafeMutablePointer<Float>, o: Int, tiles: Int, channel: Int, t: Int, tw: Int,
                        y: UnsafeMutablePointer<Float>, bias: Float) {
    @inline(__always) func row(_ xi: Int) -> UnsafeMutablePointer<Float> { m + (xi * o + channel) * tiles + t }
    let m00 = row(0), m01 = row(1), m02 = row(2), m03 = row(3)
    let m10 = row(4), m11 = row(5), m12 = row(6), m13 = row(7)
    let m20 = row(8), m21 = row(9), m22 = row(10), m23 = row(11)
    let m30 = row(12), m31 = row(13), m32 = row(14), m33 = row(15)
    let y00 = y, y01 = y + tw, y10 = y + 2 * tw, y11 = y + 3 * tw
    let b = Float8(repeating: bias)
    var k = 0
    while k + 8 <= tw {
        // rows: s0 = m0 + m1 + m2, s1 = m1 − m2 − m3 (per column j)
        let a1 = load8(m10 + k), a2 = load8(m20 + k)
        let s00 = load8(m00 + k) + a1 + a2, s10 = a1 - a2 - load8(m30 + k)
        let b1 = load8(m11 + k), b2 = load8(m21 + k)
        let s01 = load8(m01 + k) + b1 + b2, s11 = b1 - b2 - load8(m31 + k)
        let c1 = load8(m12 + k), c2 = load8(m22 + k)
        let s02 = load8(m02 + k) + c1 + c2, s12 = c1 - c2 - load8(m32 + k)
        let d1 = load8(m13 + k), d2 = load8(m23 + k)
        let s03 = load8(m03 + k) + d1 + d2, s13 = d1 - d2 - load8(m33 + k)
        store8(s00 + s01 + s02 + b, y00 + k)
        store8(s01 - s02 - s03 + b, y01 + k)
        store8(s10 + s11 + s12 + b, y10 + k)
        store8(s11 - s12 - s13 + b, y11 + k)
        k += 8
    }
    while k < tw {
        let s00 = m00[k] + m10[k] + m20[k], s10 = m10[k] - m20[k] - m30[k]
        let s01 = m01[k] + m11[k] + m21[k], s11 = m11[k] - m21[k] - m31[k]
        let s02 = m02[k] + m12[k] + m22[k], s12 = m12[k] - m22[k] - m32[k]
        let s03 = m03[k] + m13[k] + m23[k], s13 = m13[k] - m23[k] - m33[k]
        y00[k] = s00 + s01 + s02 + bias
        y01[k] = s01 - s02 - s03 + bias
        y10[k] = s10 + s11 + s12 + bias
        y11[k] = s11 - s12 - s13 + bias
        k += 1
    }
}
