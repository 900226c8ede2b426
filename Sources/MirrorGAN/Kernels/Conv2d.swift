/// 2-D convolution (cross-correlation) as `torch.nn.functional.conv2d` with dilation 1, on NCHW input,
/// with per-side zero padding (see `Padding2D`; use `Padding2D.tfSame` for TensorFlow SAME padding).
///
/// - Parameters:
///   - x: `[N, C, H, W]`.
///   - weight: `[O, C / groups, kH, kW]` (PyTorch layout).
///   - bias: optional `[O]`.
///   - stride: (vertical, horizontal) step, both ≥ 1.
///   - padding: zero padding per side.
///   - groups: C and O must both be divisible by it. `groups == C` with one input channel per group is
///     a depthwise convolution and runs a direct loop; otherwise each group is im2col + sgemm.
/// - Returns: `[N, O, Hout, Wout]`, Hout = (H + top + bottom − kH) / sH + 1 (floor).
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil,
                   stride: (Int, Int) = (1, 1), padding: Padding2D = .zero, groups: Int = 1) throws -> Tensor {
    let op = "conv2d"
    try requireRank(op, x, [4], "4 ([N, C, H, W])")
    try requireRank("conv2d weight", weight, [4], "4 ([O, C/groups, kH, kW])")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    try requireArgument(op, groups >= 1 && c % groups == 0 && o % groups == 0,
                        "groups = \(groups) must divide input channels \(c) and output channels \(o)")
    guard cg == c / groups else {
        throw TensorError.shapeMismatch(op: "conv2d weight (input channels per group)",
                                        expected: [o, c / groups, kh, kw], actual: weight.shape)
    }
    try requireArgument(op, kh >= 1 && kw >= 1, "kernel size must be ≥ 1, got \(kh)×\(kw)")
    try requireArgument(op, stride.0 >= 1 && stride.1 >= 1, "stride must be ≥ 1, got \(stride)")
    try requireArgument(op, padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0,
                        "padding must be ≥ 0, got \(padding)")
    if let bias { try requireShape("conv2d bias", bias, [o]) }
    let geometry = ConvGeometry(c: c, h: h, w: w, kh: kh, kw: kw, stride: stride, padding: padding)
    try requireArgument(op, geometry.outH > 0 && geometry.outW > 0,
                        "input \(h)×\(w) padded by \(padding) is smaller than the kernel \(kh)×\(kw)")

    var out = [Float](repeating: 0, count: n * o * geometry.outH * geometry.outW)
    x.withUnsafeBufferPointer { xp in
        weight.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { op in
                if cg == 1 && groups == c {
                    depthwiseConv2d(x: xp, weight: wp, out: op, n: n, outChannels: o, g: geometry)
                } else {
                    groupedConv2d(x: xp, weight: wp, out: op, n: n, outChannels: o, groups: groups, g: geometry)
                }
            }
        }
    }
    if let bias { addChannelBias(&out, bias: bias, channels: o, plane: geometry.outH * geometry.outW) }
    return Tensor(uncheckedShape: [n, o, geometry.outH, geometry.outW], data: out)
}

/// Sizes of one convolution, shared by the im2col and depthwise paths.
struct ConvGeometry {
    let c: Int, h: Int, w: Int, kh: Int, kw: Int
    let sh: Int, sw: Int
    let padTop: Int, padLeft: Int
    let outH: Int, outW: Int

    init(c: Int, h: Int, w: Int, kh: Int, kw: Int, stride: (Int, Int), padding: Padding2D) {
        self.c = c; self.h = h; self.w = w; self.kh = kh; self.kw = kw
        self.sh = stride.0; self.sw = stride.1
        self.padTop = padding.top; self.padLeft = padding.left
        self.outH = Padding2D.outputSize(input: h, before: padding.top, after: padding.bottom, kernel: kh, stride: sh)
        self.outW = Padding2D.outputSize(input: w, before: padding.left, after: padding.right, kernel: kw, stride: sw)
    }

    /// A 1×1, stride-1, unpadded convolution needs no im2col: the input plane already is the column matrix.
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && padTop == 0 && padLeft == 0 && outH == h && outW == w }
}

/// im2col + sgemm per image and group: out[g] (Og × P) = W[g] (Og × Cg·kH·kW) · cols (Cg·kH·kW × P).
private func groupedConv2d(x: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>,
                           out: UnsafeMutableBufferPointer<Float>, n: Int, outChannels: Int, groups: Int,
                           g: ConvGeometry) {
    let cg = g.c / groups, og = outChannels / groups
    let plane = g.outH * g.outW
    let rowsK = cg * g.kh * g.kw
    var columns = [Float](repeating: 0, count: g.isPointwise ? 0 : rowsK * plane)
    columns.withUnsafeMutableBufferPointer { cols in
        for image in 0..<n {
            for group in 0..<groups {
                let inputOffset = (image * g.c + group * cg) * g.h * g.w
                let outputOffset = (image * outChannels + group * og) * plane
                if g.isPointwise {
                    sgemm(transposeA: false, transposeB: false, m: og, n: plane, k: rowsK,
                          a: weight, aOffset: group * og * rowsK, lda: rowsK,
                          b: x, bOffset: inputOffset, ldb: plane,
                          c: out, cOffset: outputOffset, ldc: plane)
                } else {
                    im2col(x: x, offset: inputOffset, channels: cg, g: g, columns: cols)
                    sgemm(transposeA: false, transposeB: false, m: og, n: plane, k: rowsK,
                          a: weight, aOffset: group * og * rowsK, lda: rowsK,
                          b: UnsafeBufferPointer(cols), ldb: plane,
                          c: out, cOffset: outputOffset, ldc: plane)
                }
            }
        }
    }
}

/// Unfolds `channels` input planes into a (channels·kH·kW) × (outH·outW) matrix, zeros where the window
/// reads padding. Row r = (ch·kH + ky)·kW + kx matches the flattened PyTorch weight [O, C, kH, kW].
private func im2col(x: UnsafeBufferPointer<Float>, offset: Int, channels: Int, g: ConvGeometry,
                    columns: UnsafeMutableBufferPointer<Float>) {
    let plane = g.outH * g.outW
    for ch in 0..<channels {
        let src = offset + ch * g.h * g.w
        for ky in 0..<g.kh {
            for kx in 0..<g.kw {
                let row = ((ch * g.kh + ky) * g.kw + kx) * plane
                for oy in 0..<g.outH {
                    let iy = oy * g.sh + ky - g.padTop
                    let dst = row + oy * g.outW
                    if iy < 0 || iy >= g.h {
                        for ox in 0..<g.outW { columns[dst + ox] = 0 }
                        continue
                    }
                    let srcRow = src + iy * g.w
                    for ox in 0..<g.outW {
                        let ix = ox * g.sw + kx - g.padLeft
                        columns[dst + ox] = (ix >= 0 && ix < g.w) ? x[srcRow + ix] : 0
                    }
                }
            }
        }
    }
}

/// Direct depthwise convolution: output channel oc reads input channel oc / (O / C) only
/// (PyTorch groups == C, channel multiplier O / C).
private func depthwiseConv2d(x: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>,
                             out: UnsafeMutableBufferPointer<Float>, n: Int, outChannels: Int, g: ConvGeometry) {
    let multiplier = outChannels / g.c
    let plane = g.outH * g.outW
    for image in 0..<n {
        for oc in 0..<outChannels {
            let src = (image * g.c + oc / multiplier) * g.h * g.w
            let dst = (image * outChannels + oc) * plane
            let wBase = oc * g.kh * g.kw
            for oy in 0..<g.outH {
                for ky in 0..<g.kh {
                    let iy = oy * g.sh + ky - g.padTop
                    if iy < 0 || iy >= g.h { continue }
                    let srcRow = src + iy * g.w
                    for kx in 0..<g.kw {
                        let wv = weight[wBase + ky * g.kw + kx]
                        // Output columns whose tap ix = ox·sw + kx − padLeft lies inside [0, w).
                        let first = max(0, (g.padLeft - kx + g.sw - 1) / g.sw)
                        let last = min(g.outW - 1, (g.w - 1 + g.padLeft - kx) >= 0 ? (g.w - 1 + g.padLeft - kx) / g.sw : -1)
                        if first > last { continue }
                        let rowOut = dst + oy * g.outW
                        for ox in first...last {
                            out[rowOut + ox] += wv * x[srcRow + ox * g.sw + kx - g.padLeft]
                        }
                    }
                }
            }
        }
    }
}

/// Adds `bias[ch]` to every element of channel `ch` of an [N, channels, plane] buffer.
func addChannelBias(_ data: inout [Float], bias: Tensor, channels: Int, plane: Int) {
    guard channels > 0, plane > 0 else { return }
    bias.withUnsafeBufferPointer { b in
        data.withUnsafeMutableBufferPointer { d in
            let images = d.count / (channels * plane)
            for image in 0..<images {
                for ch in 0..<channels {
                    let base = (image * channels + ch) * plane
                    let v = b[ch]
                    for i in 0..<plane { d[base + i] += v }
                }
            }
        }
    }
}
