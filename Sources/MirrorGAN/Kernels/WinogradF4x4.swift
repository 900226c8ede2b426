import Foundation

/// 3×3, stride-1, pad-1 convolution by Winograd F(4×4, 3×3) (Lavin & Gray 2016, interpolation points
/// 0, ±1, ±2, ∞): each 4×4 output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the 6×6 input tile d, 36 multiplies
/// instead of 144 per input channel and output channel (4× fewer MACs; F(2×2, 3×3) saves 2.25×). Used for
/// the residual blocks, whose 3×3 convolutions carry the largest share of the generator's work.
///
/// The layout follows `WinogradF2x2`: the kernel transform U = G g Gᵀ is computed once at load (in Double);
/// tiles are processed in blocks of tile rows within a scratch budget; the input transform works on whole
/// rows, each padded row split into its four column phases (columns ≡ 0, 1, 2, 3 mod 4), so that tile k's
/// six input columns are P0[k], P1[k], P2[k], P3[k], P0[k+1], P1[k+1] and every transform is a contiguous
/// vector operation over the tiles of a row; the 36 products over channels are 36 GEMMs
/// [O × C] · [C × tiles]; the output transform adds the bias and applies the epilogue in the same pass.
///
/// Accuracy: F(4, 3)'s transforms multiply by up to 8 (Aᵀ) and 5 (Bᵀ) and divide by 24 (G), so rounding
/// errors are a few times those of F(2, 3); for the generator's activations that is ~1e-6 absolute, well
/// inside the 1e-4 parity tolerance (FusedKernelTests and ModelParityTests check both).
public struct WinogradF4x4: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    /// [36][C][O]: U_ξ for ξ = 6·i + j, each transposed (see `transformKernels`).
    let u: [Float]
    let bias: [Float]

    /// Upsampling variant: true when the outputs are the four phases of nearest ×2 → conv3x3 (see
    /// `init(upsampling:bias:)`), interleaved into a `[N, O/2, 2H, 2W]` output by the output transform.
    public let upsampling: Bool

    /// - Parameters: weight `[O, C, 3, 3]` (BN folded); bias `[O]` or nil.
    public init(weight: Tensor, bias: Tensor?) throws {
        let (o, c) = try conv3x3Channels("WinogradF4x4", weight: weight)
        let bias = try biasValues("WinogradF4x4", bias, o)
        inChannels = c
        outChannels = o
        upsampling = false
        let wd = Array(weight.data)
        u = Self.transformKernels(o: o, c: c) { oc, ic, ky, kx in Double(wd[((oc * c + ic) * 3 + ky) * 3 + kx]) }
        self.bias = bias
    }

    /// nearest ×2 upsampling → conv3x3 (pad 1) → GLU, computed on the low-resolution input (spec §3.2
    /// `upBlock`). Output pixel (2i + a, 2j + b) reads low-resolution rows i − 1 + a … i + a and columns
    /// j − 1 + b … j + b only; summing the 3×3 taps that land on the same low-resolution pixel gives, per
    /// phase (a, b), a 3×3 kernel on the low-resolution grid with one zero row and one zero column
    /// (a = 0: rows K0, K1 + K2, 0; a = 1: rows 0, K0 + K1, K2). The four phases become 4·O output channels
    /// of one F(4×4, 3×3) convolution of the low-resolution input: 36 multiplies per 16 low-resolution
    /// pixels and phase channel, 2.25 per output pixel instead of 4 for the direct 2×2 phase convolutions
    /// (`UpsampleConv3x3`) and 9 for upsample-then-conv. The kernel transform grows to 16× the layer's
    /// weights, so this is meant for the generator's wide-image, narrow-channel upsamplings (64 → 64).
    /// Channels are ordered [value/gate][phase][o'] so that the GLU pairs channel k with k + 2·O.
    /// - Parameters: weight `[O, C, 3, 3]` (BN folded, O even: the GLU's value and gate halves); bias `[O]` or nil.
    public init(upsampling weight: Tensor, bias: Tensor?) throws {
        let (o, c) = try conv3x3Channels("WinogradF4x4", weight: weight)
        try requireArgument("WinogradF4x4 upsampling", o % 2 == 0, "GLU needs an even channel count, got \(o)")
        let bias0 = try biasValues("WinogradF4x4", bias, o)
        let half = o / 2
        inChannels = c
        outChannels = 4 * o
        upsampling = true
        // Stacked channel k = g·2o + p·half + o' ↔ original channel g·half + o', phase p = 2a + b.
        @inline(__always) func original(_ k: Int) -> (oc: Int, a: Int, b: Int) {
            let g = k / (2 * o), p = (k % (2 * o)) / half, oPrime = k % half
            return (g * half + oPrime, p / 2, p % 2)
        }
        // Phase kernel row (or column) r of phase a from the 3×3 rows K0, K1, K2.
        @inline(__always) func fold(_ a: Int, _ r: Int, _ tap: (Int) -> Double) -> Double {
            a == 0 ? [tap(0), tap(1) + tap(2), 0][r] : [0, tap(0) + tap(1), tap(2)][r]
        }
        let wd = Array(weight.data)
        u = Self.transformKernels(o: 4 * o, c: c) { k, ic, ky, kx in
            let (oc, a, b) = original(k)
            let base = (oc * c + ic) * 9
            return fold(a, ky) { sy in fold(b, kx) { sx in Double(wd[base + sy * 3 + sx]) } }
        }
        self.bias = (0..<(4 * o)).map { bias0[original($0).oc] }
    }

    /// U_ξ = (G g Gᵀ)_ξ for every output/input channel pair, in Double, stored transposed: `[36][C][O]`.
    /// The GEMMs read each U_ξ in transposed form: OpenBLAS 0.3.21's small-matrix kernel for the plain
    /// product (which the small blocks of the first stage's layers get) mallocs a packing buffer per call.
    private static func transformKernels(o: Int, c: Int, _ tap: (Int, Int, Int, Int) -> Double) -> [Float] {
        let gm: [[Double]] = [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                              [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        var u = [Float](repeating: 0, count: 36 * o * c)
        var g = [Double](repeating: 0, count: 9)
        for oc in 0..<o {
            for ic in 0..<c {
                for ky in 0..<3 { for kx in 0..<3 { g[ky * 3 + kx] = tap(oc, ic, ky, kx) } }
                for i in 0..<6 {
                    for j in 0..<6 {
                        var s = 0.0
                        for ky in 0..<3 {
                            for kx in 0..<3 { s += gm[i][ky] * g[ky * 3 + kx] * gm[j][kx] }
                        }
                        u[((6 * i + j) * c + ic) * o + oc] = Float(s)
                    }
                }
            }
        }
        return u
    }

    /// - Parameters: x `[N, C, H, W]`; blockBudget: scratch floats per block of tile rows (tests lower it).
    ///   The default is 4 MiB of V and M whatever the thread count (`mirrorgan bench --layers`, official
    ///   128² conv1+GLU: one thread 2 MiB 11.8 ms, 8 MiB 14.1 ms; two threads 2 MiB 8.1 ms, 4 MiB 7.5 ms).
    ///   It once grew with the thread count, and then the block's tile count, hence the GEMMs' N, did too;
    ///   OpenBLAS does not promise the same sums for a column when N changes (its blocking and kernels follow
    ///   the shape), and the outputs differed in the last bit between 1 and 2 threads (a CI run caught it
    ///   through the pipeline's DAMSM cosines; `winograd4x3DefaultBlockingIsTheSameAtAnyThreadCount`).
    /// - Returns: `[N, O (O/2 with .glu), H, W]`; the upsampling variant (GLU only) `[N, O/8, 2H, 2W]`.
    public func callAsFunction(_ x: Tensor, epilogue: ConvEpilogue = .identity, blockBudget: Int? = nil) throws -> Tensor {
        let op = "WinogradF4x4"
        let (n, h, w) = try nchwInput(op, x, channels: inChannels)
        let c = inChannels
        let o = outChannels
        if upsampling, case .glu = epilogue {} else if upsampling {
            throw TensorError.invalidArgument(op: op, message: "the upsampling variant computes upBlock's GLU only")
        }
        let (oOut, residual) = try epilogue.resolve(op, outChannels: o, shape: [n, o, h, w])
        // Every element is written below. Upsampling: oOut = 4 phases × channels, each phase a quarter of
        // the pixels of [channels, 2H, 2W].
        let outShape: Shape = upsampling ? [n, oOut / 4, 2 * h, 2 * w] : [n, oOut, h, w]
        let out = TensorBuffer.uninitialized(n * oOut * h * w)
        if out.isEmpty { return Tensor(uncheckedShape: outShape, data: out) }
        let tw = (w + 3) / 4, th = (h + 3) / 4
        // Phase arrays hold tw + 1 entries, padded so that the vector loads at k + 1 stay inside each array.
        let phaseLen = (tw + 8 + 7) / 8 * 8
        let budget = blockBudget ?? (1 << 20)  // never a function of the thread count (see above)
        let rowsPerBlock = max(1, min(th, budget / (36 * (c + o) * tw)))
        let maxTiles = rowsPerBlock * tw
        // The 36 planes of V and M are spaced by a whole number of tiles plus one cache line: with power-of-two
        // channel counts, planes an exact multiple of 4 KiB apart put the transforms' 36 (GLU: 72) concurrent
        // row streams into the same L1 sets (measured: the official generator 4–5 % faster with the padding).
        let padFloats = 16
        let vCount = 36 * (c * maxTiles + padFloats), mCount = 36 * (o * maxTiles + padFloats)
        let scratch = ScratchBuffer.current.floats(vCount + mCount)
        let vBuf = scratch, mBuf = scratch + vCount
        forEachRowBlock(x: x, weights: u, bias: bias, residual: residual, out: out, images: n, rows: th,
                        rowsPerBlock: rowsPerBlock) { k, image, ty0, rowsHere in
            let xp = k.x, ub = k.weights, bp = k.bias, outp = k.out, rp = k.residual
            let tiles = rowsHere * tw
            // Each loop's body gets its operands as a tuple (see `parallelFor`).
            let geometry = (h: h, w: w, tw: tw, ty0: ty0, rows: rowsHere, tiles: tiles, padFloats: padFloats)
            parallelFor(c, (xp: xp, image: image, c: c, phaseLen: phaseLen, v: vBuf, g: geometry)) { a, ch in
                let a = a.pointee, g = a.g
                inputTransform(plane: a.xp + (a.image * a.c + ch) * g.h * g.w, h: g.h, w: g.w, tw: g.tw,
                               phaseLen: a.phaseLen, ty0: g.ty0, rows: g.rows,
                               v: a.v + ch * g.tiles, stride: a.c * g.tiles + g.padFloats)
            }
            // 36 GEMMs: M_ξ [O × tiles] = (U_ξᵀ)ᵀ [O × C] · V_ξ [C × tiles], one per thread at a time
            // (one hand-off per block instead of one per GEMM).
            parallelFor(36, (o: o, c: c, u: ub, v: vBuf, vCount: vCount, m: mBuf, mCount: mCount, g: geometry)) { a, xi in
                let a = a.pointee, g = a.g
                sgemm(transposeA: true, transposeB: false, m: a.o, n: g.tiles, k: a.c,
                      a: a.u, aOffset: xi * a.o * a.c, lda: a.o,
                      b: UnsafeBufferPointer(start: a.v, count: a.vCount), bOffset: xi * (a.c * g.tiles + g.padFloats),
                      ldb: g.tiles,
                      c: UnsafeMutableBufferPointer(start: a.m, count: a.mCount), cOffset: xi * (a.o * g.tiles + g.padFloats),
                      ldc: g.tiles, split: false)
            }
            parallelFor(oOut, (out: outp, image: image, o: o, oOut: oOut, upsampling: upsampling, m: mBuf, bias: bp,
                               epilogue: epilogue, residual: rp, g: geometry)) { a, oc in
                let a = a.pointee, g = a.g
                let (h, w) = (g.h, g.w)
                var place = OutputPlacement(start: a.out + (a.image * a.oOut + oc) * h * w, rowStride: w, columnStride: 1)
                if a.upsampling {  // channel oc = p·C' + o' → rows 2y + a, columns 2x + b of plane o'
                    let perPhase = a.oOut / 4, p = oc / perPhase
                    let plane = a.out + (a.image * perPhase + oc % perPhase) * 4 * h * w
                    place = OutputPlacement(start: plane + (p / 2) * 2 * w + p % 2, rowStride: 4 * w, columnStride: 2)
                }
                let res = a.residual.map { $0 + (a.image * a.o + oc) * h * w }
                outputTransform(m: a.m, planeStride: a.o * g.tiles + g.padFloats, oOut: a.oOut, tiles: g.tiles, channel: oc,
                                h: h, w: w, tw: g.tw, ty0: g.ty0, rows: g.rows, bias: a.bias, epilogue: a.epilogue,
                                place: place, residual: res)
            }
        }
        return Tensor(uncheckedShape: outShape, data: out)
    }
}

/// Where an output channel's [H, W] results go: element (y, x) at start + y·rowStride + x·columnStride.
private struct OutputPlacement {
    let start: UnsafeMutablePointer<Float>
    let rowStride: Int
    let columnStride: Int
}

/// Bᵀ·(c0 … c5) for F(4, 3): the input transform along one axis.
@inline(__always)
private func inputRows(_ c0: Float8, _ c1: Float8, _ c2: Float8, _ c3: Float8, _ c4: Float8, _ c5: Float8)
    -> (Float8, Float8, Float8, Float8, Float8, Float8) {
    let four = Float8(repeating: 4), five = Float8(repeating: 5), two = Float8(repeating: 2)
    let a = c4 - c2, b = c3 - c1
    return (four * c0 - five * c2 + c4,
            c4 + c3 - four * (c1 + c2),
            c4 - c3 + four * (c1 - c2),
            a + two * b,
            a - two * b,
            four * c1 - five * c3 + c5)
}

/// Aᵀ·(m0 … m5) for F(4, 3): the output transform along one axis.
@inline(__always)
private func outputRows(_ m0: Float8, _ m1: Float8, _ m2: Float8, _ m3: Float8, _ m4: Float8, _ m5: Float8)
    -> (Float8, Float8, Float8, Float8) {
    let p = m1 + m2, d = m1 - m2, q = m3 + m4, e = m3 - m4
    return (m0 + p + q, d + Float8(repeating: 2) * e, p + Float8(repeating: 4) * q, d + Float8(repeating: 8) * e + m5)
}

@inline(__always)
private func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> Float8 {
    var v = Float8(repeating: 0)
    for k in 0..<count { v[k] = p[k] }
    return v
}

@inline(__always)
private func storePartial(_ v: Float8, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for k in 0..<count { p[k] = v[k] }
}

/// V[ξ][t] (ξ = 6i + j, element ξ·stride + t of `v`) for the tiles of `rows` tile rows from `ty0`, one channel.
private func inputTransform(plane: UnsafePointer<Float>, h: Int, w: Int, tw: Int, phaseLen: Int, ty0: Int, rows: Int,
                            v: UnsafeMutablePointer<Float>, stride: Int) {
    // 6 input rows × 4 column phases; padded column 4k + p is input column 4k + p − 1.
    // Per-thread scratch, not withUnsafeTemporaryAllocation: above 1 KiB that falls back to the heap, one
    // allocation per channel and block (thousands per request at 256²).
    do {
        let e = ScratchBuffer.perItem.floats(24 * phaseLen)
        @inline(__always) func phase(_ row: Int, _ p: Int) -> UnsafeMutablePointer<Float> { e + (4 * row + p) * phaseLen }
        for tr in 0..<rows {
            let ty = ty0 + tr
            for r in 0..<6 {
                let iy = 4 * ty - 1 + r
                for p in 0..<4 { phase(r, p).update(repeating: 0, count: phaseLen) }
                if iy < 0 || iy >= h { continue }
                let src = plane + iy * w
                for p in 0..<4 {
                    let dst = phase(r, p)
                    var k = p == 0 ? 1 : 0  // padded column 0 is the left zero pad
                    while 4 * k + p - 1 < w {
                        dst[k] = src[4 * k + p - 1]
                        k += 1
                    }
                }
            }
            // Bᵀ over the six rows, in place, phase by phase.
            for p in 0..<4 {
                var k = 0
                while k < phaseLen {
                    let t = inputRows(load8(phase(0, p) + k), load8(phase(1, p) + k), load8(phase(2, p) + k),
                                      load8(phase(3, p) + k), load8(phase(4, p) + k), load8(phase(5, p) + k))
                    store8(t.0, phase(0, p) + k); store8(t.1, phase(1, p) + k); store8(t.2, phase(2, p) + k)
                    store8(t.3, phase(3, p) + k); store8(t.4, phase(4, p) + k); store8(t.5, phase(5, p) + k)
                    k += 8
                }
            }
            // B over the columns of each transformed row: tile k reads P0[k] P1[k] P2[k] P3[k] P0[k+1] P1[k+1].
            let t0 = tr * tw
            for i in 0..<6 {
                let p0 = phase(i, 0), p1 = phase(i, 1), p2 = phase(i, 2), p3 = phase(i, 3)
                var k = 0
                while k < tw {
                    let t = inputRows(load8(p0 + k), load8(p1 + k), load8(p2 + k), load8(p3 + k),
                                      load8(p0 + k + 1), load8(p1 + k + 1))
                    let count = min(8, tw - k)
                    let base = v + (6 * i) * stride + t0 + k
                    @inline(__always) func put(_ value: Float8, _ j: Int) {
                        if count == 8 { store8(value, base + j * stride) } else { storePartial(value, base + j * stride, count) }
                    }
                    put(t.0, 0); put(t.1, 1); put(t.2, 2); put(t.3, 3); put(t.4, 4); put(t.5, 5)
                    k += 8
                }
            }
        }
    }
}

/// Output transform, bias and epilogue for one output channel over `rows` tile rows from `ty0`.
private func outputTransform(m: UnsafeMutablePointer<Float>, planeStride: Int, oOut: Int, tiles: Int, channel: Int, h: Int, w: Int,
                             tw: Int, ty0: Int, rows: Int, bias: UnsafePointer<Float>, epilogue: ConvEpilogue,
                             place: OutputPlacement, residual: UnsafePointer<Float>?) {
    let twPad = (tw + 7) / 8 * 8
    let glu: Bool
    if case .glu = epilogue { glu = true } else { glu = false }
    // y[r][p][k]: output row 4ty + r, column 4k + p; then the gate's (GLU) in the second half.
    // Plus 24 vectors for the first pass of Aᵀ (kept in memory: 24 live 8-lane values would not fit the
    // registers and spill anyway).
    let yCount = (glu ? 32 : 16) * twPad
    do {  // per-thread scratch (see inputTransform)
        let y = ScratchBuffer.perItem.floats(yCount + 24 * 8), sBuf = y + yCount
        for tr in 0..<rows {
            let t0 = tr * tw
            for half in 0..<(glu ? 2 : 1) {
                let ch = half == 0 ? channel : channel + oOut
                let b = Float8(repeating: bias[ch])
                let ybase = y + half * 16 * twPad
                var k = 0
                while k < tw {
                    let count = min(8, tw - k)
                    @inline(__always) func mrow(_ xi: Int) -> Float8 {
                        let p = UnsafePointer(m + xi * planeStride + ch * tiles + t0 + k)
                        return count == 8 ? load8(p) : loadPartial(p, count)
                    }
                    // Aᵀ over the six rows (i) for each column j into sBuf[r][j], then over the columns.
                    for j in 0..<6 {
                        let q = outputRows(mrow(j), mrow(6 + j), mrow(12 + j), mrow(18 + j), mrow(24 + j), mrow(30 + j))
                        store8(q.0, sBuf + j * 8); store8(q.1, sBuf + (6 + j) * 8)
                        store8(q.2, sBuf + (12 + j) * 8); store8(q.3, sBuf + (18 + j) * 8)
                    }
                    for r in 0..<4 {
                        let sr = sBuf + 6 * r * 8
                        let q = outputRows(load8(sr), load8(sr + 8), load8(sr + 16), load8(sr + 24), load8(sr + 32), load8(sr + 40))
                        let dst = ybase + 4 * r * twPad + k
                        store8(q.0 + b, dst); store8(q.1 + b, dst + twPad)
                        store8(q.2 + b, dst + 2 * twPad); store8(q.3 + b, dst + 3 * twPad)
                    }
                    k += 8
                }
            }
            if glu {
                for q in 0..<16 { gluRow(y + q * twPad, y + q * twPad, 0, y + (16 + q) * twPad, 0, tw) }
            }
            let ty = ty0 + tr
            for r in 0..<4 {
                let oy = 4 * ty + r
                if oy >= h { break }
                let row = place.start + oy * place.rowStride
                let cs = place.columnStride
                for p in 0..<4 {
                    let src = y + (4 * r + p) * twPad
                    var k = 0
                    while 4 * k + p < w {
                        row[(4 * k + p) * cs] = src[k]
                        k += 1
                    }
                }
                switch epilogue {
                case .tanh: tanhRow(row, w)
                case .residual:
                    if let residual {
                        let res = residual + oy * w
                        for kk in 0..<w { row[kk] += res[kk] }
                    }
                case .relu: reluRow(row, w)
                case .identity, .glu: break
                }
            }
        }
    }
}
