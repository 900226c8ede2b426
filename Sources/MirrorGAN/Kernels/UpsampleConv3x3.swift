/// Nearest ×2 upsampling followed by a 3×3, stride-1, pad-1 convolution (AttnGAN's `upBlock` conv),
/// computed from the low-resolution input without materialising the upsampled tensor.
///
/// Output pixel (2i + a, 2j + b) — phase (a, b) — only ever reads low-resolution rows i + a − 1 + ty
/// and columns j + b − 1 + tx for ty, tx ∈ {0, 1}: the 3×3 taps that land on the same low-resolution
/// pixel collapse into one. So the layer is four 2×2 convolutions of the input, one per phase, whose
/// weights are sums of the 3×3 weights (precomputed here, in Double): 16·C·O multiply-adds per input
/// pixel instead of 36, i.e. 4/9 of the MACs, and no 4× larger intermediate.
///
/// Each phase is one GEMM over a block of input rows: [O × 4C] · [4C × R·(W+2)]. The B matrix is a view
/// into six shifted copies of the zero-padded rows (layout [dx ∈ 0..<3][dy ∈ 0..<2][C][(R+1)·(W+2)]),
/// ordered so that the 4C rows of every phase are contiguous with a uniform stride: no im2col per phase.
/// The two columns per row that straddle the padding are computed and dropped. Bias (folded BN) and
/// the GLU (or nothing) are applied while the four phase results are interleaved into the output.
public struct UpsampleConv3x3: Sendable {
    public let inChannels: Int
    /// Convolution output channels (before a GLU halves them).
    public let outChannels: Int
    /// [4 phases (2a + b)][O][4C], column (tx·2 + ty)·C + c.
    let phaseWeights: [Float]
    let bias: [Float]

    /// - Parameters: weight `[O, C, 3, 3]` (PyTorch layout, BN already folded); bias `[O]` or nil.
    public init(weight: Tensor, bias: Tensor?) throws {
        let (o, c) = try conv3x3Channels("UpsampleConv3x3", weight: weight)
        let bias = try biasValues("UpsampleConv3x3", bias, o)
        inChannels = c
        outChannels = o
        let wd = Array(weight.data)
        // Taps of the 3×3 kernel that fall on low-resolution offset t ∈ {0, 1} for phase a ∈ {0, 1}.
        let taps: [[[Int]]] = [[[0], [1, 2]], [[0, 1], [2]]]
        var pw = [Float](repeating: 0, count: 4 * o * 4 * c)
        for a in 0..<2 {
            for b in 0..<2 {
                for oc in 0..<o {
                    for ic in 0..<c {
                        for ty in 0..<2 {
                            for tx in 0..<2 {
                                var s = 0.0
                                for ky in taps[a][ty] {
                                    for kx in taps[b][tx] { s += Double(wd[((oc * c + ic) * 3 + ky) * 3 + kx]) }
                                }
                                pw[((2 * a + b) * o + oc) * 4 * c + (tx * 2 + ty) * c + ic] = Float(s)
                            }
                        }
                    }
                }
            }
        }
        phaseWeights = pw
        self.bias = bias
    }

    /// - Parameters: x `[N, C, H, W]`; glu: apply `F.glu(dim=1)` to the result (then O must be even);
    ///   blockBudget: scratch floats per block of rows (tests lower it to exercise several blocks).
    /// - Returns: `[N, O (or O/2 with glu), 2H, 2W]`.
    public func callAsFunction(_ x: Tensor, glu: Bool, blockBudget: Int = 2 << 20) throws -> Tensor {
        let op = "UpsampleConv3x3"
        let (n, h, w) = try nchwInput(op, x, channels: inChannels)
        if glu { try requireArgument(op, outChannels % 2 == 0, "GLU needs an even channel count, got \(outChannels)") }
        let c = inChannels
        let o = outChannels, oOut = glu ? o / 2 : o
        let (oh, ow) = (2 * h, 2 * w)
        // Every element is written below.
        let out = TensorBuffer.uninitialized(n * oOut * oh * ow)
        if out.isEmpty { return Tensor(uncheckedShape: [n, oOut, oh, ow], data: out) }
        let wp = w + 2
        // Rows per block: shifted copies (6·C·(R+1)·Wp) plus phase results (4·O·R·Wp) within ~8 MB.
        let rows = max(1, min(h, blockBudget / ((6 * c + 4 * o) * wp) - 1))
        let sCount = 6 * c * (rows + 1) * wp
        let scratch = ScratchBuffer.current.floats(sCount + 4 * o * rows * wp)
        let shifted = scratch, phases = scratch + sCount
        forEachRowBlock(x: x, weights: phaseWeights, bias: bias, residual: nil, out: out, images: n, rows: h,
                        rowsPerBlock: rows) { k, image, i0, r in
            let xp = k.x, pw = k.weights.baseAddress!, bp = k.bias, op = k.out
            let q = (r + 1) * wp  // columns of one shifted copy (this block)
            // shifted[dx][dy][c][rr·Wp + s] = x[c][i0 + dy + rr − 1][s + dx − 1] (0 outside).
            parallelFor(6 * c, (shifted, xp, image, c, h, w, wp, q, r, i0)) { operands, k in
                let (shifted, xp, image, c, h, w, wp, q, r, i0) = operands.pointee
                let (dx, dy, ch) = (k / (2 * c), (k / c) % 2, k % c)
                let dst = shifted + k * q
                let src = xp + (image * c + ch) * h * w
                for rr in 0...r {
                    let row = dst + rr * wp
                    let iy = i0 + dy + rr - 1
                    if iy < 0 || iy >= h {
                        row.update(repeating: 0, count: wp)
                        continue
                    }
                    let srow = src + iy * w
                    // columns s with 0 ≤ s + dx − 1 < w
                    let first = max(0, 1 - dx), last = min(wp - 1, w - dx)
                    if first > 0 { row.update(repeating: 0, count: first) }
                    (row + first).update(from: srow + (first + dx - 1), count: last - first + 1)
                    if last < wp - 1 { (row + last + 1).update(repeating: 0, count: wp - 1 - last) }
                }
            }
            let cols = r * wp
            // The four phase GEMMs, spread over the threads (one hand-off per block).
            parallelFor(4, (pw, shifted, phases, o, c, cols, sCount, q, wp)) { operands, p in
                let (pw, shifted, phases, o, c, cols, sCount, q, wp) = operands.pointee
                let a = p / 2, b = p % 2
                sgemm(transposeA: false, transposeB: false, m: o, n: cols, k: 4 * c,
                      a: UnsafeBufferPointer(start: pw, count: 16 * o * c), aOffset: p * o * 4 * c, lda: 4 * c,
                      b: UnsafeBufferPointer(start: shifted, count: sCount), bOffset: 2 * b * c * q + a * wp, ldb: q,
                      c: UnsafeMutableBufferPointer(start: phases, count: 4 * o * cols), cOffset: p * o * cols, ldc: cols,
                      split: false)
            }
            // Epilogue: bias (+ GLU), interleaving the phases into output rows 2i + a.
            parallelFor(oOut, (op, phases, bp, image, o, oOut, oh, ow, cols, glu, r, i0, wp, w)) { operands, oc in
                let (op, phases, bp, image, o, oOut, oh, ow, cols, glu, r, i0, wp, w) = operands.pointee
                let dstPlane = op + (image * oOut + oc) * oh * ow
                for p in 0..<4 {
                    let v = phases + (p * o + oc) * cols
                    if glu {
                        let g = phases + (p * o + oc + oOut) * cols
                        gluRow(v, v, bp[oc], g, bp[oc + oOut], cols)
                    } else {
                        let bv = bp[oc]
                        for i in 0..<cols { v[i] += bv }
                    }
                }
                for rr in 0..<r {
                    for a in 0..<2 {
                        let dst = dstPlane + (2 * (i0 + rr) + a) * ow
                        let e = phases + ((2 * a) * o + oc) * cols + rr * wp
                        let f = phases + ((2 * a + 1) * o + oc) * cols + rr * wp
                        for j in 0..<w {
                            dst[2 * j] = e[j]
                            dst[2 * j + 1] = f[j]
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [n, oOut, oh, ow], data: out)
    }
}
