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
///   - relu6: also clamp the result to [0, 6] (`F.relu6`), in the same pass as the bias.
///   - residual: `[N, O, Hout, Wout]`, added after the bias and before the clamp, in the same pass
///     (EfficientNet's skip connection after the project conv).
///   - inputBias, inputRelu6: the epilogue of the layer that produced `x`, still to be applied: the
///     convolution reads relu6?(x + inputBias[channel]) instead of x, applied as each plane is copied
///     into the padded buffer (padding stays zero). Depthwise convolutions only: MBConv hands its expand
///     conv's bias and ReLU6 to the depthwise conv, saving a pass over the block's largest tensor.
/// - Returns: `[N, O, Hout, Wout]`, Hout = (H + top + bottom − kH) / sH + 1 (floor).
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil,
                   stride: (Int, Int) = (1, 1), padding: Padding2D = .zero, groups: Int = 1,
                   relu6: Bool = false, residual: Tensor? = nil,
                   inputBias: Tensor? = nil, inputRelu6: Bool = false) throws -> Tensor {
    try conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups, relu6: relu6,
               residual: residual, inputBias: inputBias, inputRelu6: inputRelu6, transposedWeight: nil)
}

/// `conv2d` with, optionally, the weight also as a transposed [C·kH·kW, O] matrix (`ConvLayer.withTransposedWeight`):
/// the GEMM then multiplies by it in transposed form (groups 1 only).
/// `relu`: also max(·, 0) after the bias and residual (`F.relu`; the Inception and ResNet trunks' convolutions),
/// im2col path only.
func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: Padding2D, groups: Int,
            relu6: Bool, residual: Tensor?, inputBias: Tensor?, inputRelu6: Bool,
            transposedWeight: Tensor?, relu: Bool = false) throws -> Tensor {
    let op = "conv2d"
    try requireRank(op, x, 4, "4 ([N, C, H, W])")
    try requireRank("conv2d weight", weight, 4, "4 ([O, C/groups, kH, kW])")
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

    let count = n * o * geometry.outH * geometry.outW
    let depthwise = cg == 1 && groups == c
    if let residual { try requireShape("conv2d residual", residual, [n, o, geometry.outH, geometry.outW]) }
    if inputBias != nil || inputRelu6 {
        try requireArgument(op, depthwise, "an input epilogue (inputBias, inputRelu6) needs a depthwise convolution")
    }
    if let inputBias { try requireShape("conv2d inputBias", inputBias, [c]) }
    if let transposedWeight { try requireShape("conv2d transposedWeight", transposedWeight, [cg * kh * kw, o]) }
    if relu { try requireArgument(op, !depthwise && !relu6, "relu needs a non-depthwise convolution without relu6") }
    // Both paths write every element (the GEMM with beta = 0; the depthwise kernel adds the bias and
    // applies ReLU6 itself, in registers).
    let out = TensorBuffer.uninitialized(count)
    x.withUnsafeBufferPointer { xp in
        weight.withUnsafeBufferPointer { wp in
            out.withFreshStorage { op in
                if depthwise {
                    withOptionalPointer(bias) { bp in
                        withOptionalPointer(residual) { rp in
                            withOptionalPointer(inputBias) { ip in
                                let epilogue = DepthwiseEpilogue(bias: bp, relu6: relu6, residual: rp,
                                                                 inputBias: ip, inputRelu6: inputRelu6)
                                depthwiseConv2d(x: xp, weight: wp, epilogue: epilogue, out: op, n: n,
                                                outChannels: o, g: geometry)
                            }
                        }
                    }
                } else {
                    withOptionalPointer(groups == 1 ? transposedWeight : nil) { tp in
                        groupedConv2d(x: xp, weight: wp, transposedWeight: tp, out: op, n: n, outChannels: o,
                                      groups: groups, g: geometry)
                    }
                }
            }
        }
    }
    if !depthwise && (bias != nil || relu6 || relu || residual != nil) {
        addChannelBias(out, bias: bias, channels: o, plane: geometry.outH * geometry.outW, relu6: relu6,
                       residual: residual, relu: relu)
    }
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
/// With `transposedWeight` ([Cg·kH·kW, O], groups 1) the product reads it in transposed form instead.
private func groupedConv2d(x: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>,
                           transposedWeight: UnsafePointer<Float>?,
                           out: UnsafeMutableBufferPointer<Float>, n: Int, outChannels: Int, groups: Int,
                           g: ConvGeometry) {
    let cg = g.c / groups, og = outChannels / groups
    let plane = g.outH * g.outW
    let rowsK = cg * g.kh * g.kw
    // The column matrix lives in the thread's scratch buffer (im2col writes every element): the stem's
    // is 1.4 MB, allocated and zeroed per request before.
    let columnCount = g.isPointwise ? 0 : rowsK * plane
    do {
        let cols = UnsafeMutableBufferPointer(start: ScratchBuffer.current.floats(columnCount), count: columnCount)
        // W (og × rowsK) as stored, or read transposed from Wᵀ (rowsK × og, one group).
        let a = transposedWeight.map { UnsafeBufferPointer(start: $0, count: rowsK * og) } ?? weight
        let transposeA = transposedWeight != nil
        for image in 0..<n {
            for group in 0..<groups {
                let inputOffset = (image * g.c + group * cg) * g.h * g.w
                let outputOffset = (image * outChannels + group * og) * plane
                let b = g.isPointwise ? x : UnsafeBufferPointer(cols)
                if !g.isPointwise { im2col(x: x, offset: inputOffset, channels: cg, g: g, columns: cols) }
                sgemm(transposeA: transposeA, transposeB: false, m: og, n: plane, k: rowsK,
                      a: a, aOffset: transposeA ? 0 : group * og * rowsK, lda: transposeA ? og : rowsK,
                      b: b, bOffset: g.isPointwise ? inputOffset : 0, ldb: plane,
                      c: out, cOffset: outputOffset, ldc: plane)
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

/// The depthwise kernel's fused input and output epilogues (see `conv2d`).
private struct DepthwiseEpilogue {
    let bias: UnsafePointer<Float>?, relu6: Bool, residual: UnsafePointer<Float>?
    let inputBias: UnsafePointer<Float>?, inputRelu6: Bool
    var transformsInput: Bool { inputBias != nil || inputRelu6 }
}

/// `body` with a pointer to the tensor's elements, or nil for no tensor.
func withOptionalPointer<R>(_ t: Tensor?, _ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
    guard let t else { return try body(nil) }
    return try t.withUnsafeBufferPointer { try body($0.baseAddress) }
}

/// dst[i] = relu6?(src[i] + bias) for i < count (`relu6` decides the clamp).
@inline(__always)
private func biasRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int,
                     bias: Float, relu6 clamp: Bool) {
    let b = Float8(repeating: bias)
    var i = 0
    while i + 8 <= count {
        let v = load8(src + i) + b
        store8(clamp ? relu6(v) : v, dst + i)
        i += 8
    }
    while i < count {
        let v = src[i] + bias
        dst[i] = clamp ? Swift.min(Swift.max(v, 0), 6) : v
        i += 1
    }
}

/// Direct depthwise convolution: output channel oc reads input channel oc / (O / C) only
/// (PyTorch groups == C, channel multiplier O / C). Each plane is first copied into a zero-padded buffer
/// (for a horizontal stride of 2, each padded row split into its even and odd columns; the producer's
/// pending bias and ReLU6, if any, applied on the way), so that every tap (ky, kx) is one contiguous
/// 8-lane load per output vector; output vectors are taken four at a time with independent accumulators,
/// and bias, residual and ReLU6 are applied in registers before the store. Planes are split over the
/// kernel threads. The sum over taps runs in the same order (ky, then kx) for every element.
private func depthwiseConv2d(x: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>,
                             epilogue e: DepthwiseEpilogue,
                             out: UnsafeMutableBufferPointer<Float>, n: Int, outChannels: Int, g: ConvGeometry) {
    let multiplier = outChannels / g.c
    let plane = g.outH * g.outW
    guard let xp = x.baseAddress, let wp = weight.baseAddress, let op = out.baseAddress else { return }
    // Padded plane: rows −padTop ..< the last row any output reads; columns likewise, plus 8 floats of
    // slack so that a vector read past the last output column stays inside the row.
    let paddedH = (g.outH - 1) * g.sh + g.kh
    let paddedW = (g.outW - 1) * g.sw + g.kw
    let stride2 = g.sw == 2
    let half = (paddedW + 1) / 2 + 8  // stride 2: even and odd columns, each half + slack
    let rowLen = stride2 ? 2 * half : paddedW + 8
    let taps = g.kh * g.kw
    // A contiguous padded row for the stride-2 split: 16-float steps over paddedW, plus slack.
    let lineLen = (paddedW + 15) / 16 * 16 + 16
    // Columns of a source row that land inside the padded row.
    let copyCount = max(0, min(g.w, paddedW - g.padLeft))
    let operands = (xp, wp, op, e, g, outChannels, multiplier, plane, paddedH, paddedW, stride2, half, rowLen, taps,
                    lineLen, copyCount)
    parallelFor(n * outChannels, operands) { operands, item in
        let (xp, wp, op, e, g, outChannels, multiplier, plane, paddedH, paddedW, stride2, half, rowLen, taps,
             lineLen, copyCount) = operands.pointee
        let image = item / outChannels, oc = item % outChannels
        let ic = oc / multiplier
        let src = xp + (image * g.c + ic) * g.h * g.w
        let inBias = e.inputBias?[ic] ?? 0
        // The row copy into the padded buffer, with the producer's pending epilogue if any.
        @inline(__always) func copy(_ d: UnsafeMutablePointer<Float>, _ s: UnsafePointer<Float>) {
            if e.transformsInput {
                biasRow(d, s, count: copyCount, bias: inBias, relu6: e.inputRelu6)
            } else {
                d.update(from: s, count: copyCount)
            }
        }
        let dst = op + (image * outChannels + oc) * plane
        let w = wp + oc * taps
        // Per-thread scratch (the item's plane, then a row for the stride-2 split): the small late layers
        // have hundreds of 7² and 14² planes, where a heap allocation per plane cost as much as the taps.
        let scratch = ScratchBuffer.perItem.floats(paddedH * rowLen + lineLen)
        do {
            let pad = scratch, line = scratch + paddedH * rowLen
            pad.update(repeating: 0, count: paddedH * rowLen)
            if stride2 { line.update(repeating: 0, count: lineLen) }
            for r in 0..<paddedH {
                let iy = r - g.padTop
                if iy < 0 || iy >= g.h || copyCount == 0 { continue }
                let row = pad + r * rowLen, s = src + iy * g.w
                if !stride2 {
                    copy(row + g.padLeft, s)
                    continue
                }
                // Even and odd padded columns, 16 at a time (SIMD16's evenHalf / oddHalf).
                copy(line + g.padLeft, s)
                var j = 0
                while j < paddedW {
                    let v = UnsafeRawPointer(line + j).loadUnaligned(as: SIMD16<Float>.self)
                    store8(v.evenHalf, row + j / 2)
                    store8(v.oddHalf, row + half + j / 2)
                    j += 16
                }
            }
            if g.sw > 2 {  // general stride (not used by the backbone): scalar
                for oy in 0..<g.outH {
                    let o = dst + oy * g.outW
                    for ox in 0..<g.outW { o[ox] = 0 }
                    for ky in 0..<g.kh {
                        let row = pad + (oy * g.sh + ky) * rowLen
                        for kx in 0..<g.kw {
                            let wv = w[ky * g.kw + kx]
                            for ox in 0..<g.outW { o[ox] += wv * row[ox * g.sw + kx] }
                        }
                    }
                    let bv = e.bias?[oc] ?? 0
                    let res = e.residual.map { $0 + (image * outChannels + oc) * plane + oy * g.outW }
                    for ox in 0..<g.outW {
                        let v = o[ox] + bv + (res?[ox] ?? 0)
                        o[ox] = e.relu6 ? Swift.min(Swift.max(v, 0), 6) : v
                    }
                }
                return
            }
            // Output vectors (8 columns of one row) are taken four at a time, each with its own
            // accumulator: one accumulator per vector made every tap wait for the previous tap's add
            // (latency-bound); four independent chains keep the vector units busy. Multiply and add stay
            // separate (no FMA), so the result does not depend on the build's target CPU. The 7² and
            // 14² layers have fewer columns than a vector: the padded rows' slack makes the loads safe
            // and only the valid lanes are stored. Bias, residual and ReLU6 are applied in the registers
            // before the store.
            let vectorsPerRow = (g.outW + 7) / 8
            let vectors = g.outH * vectorsPerRow
            let b = Float8(repeating: e.bias?[oc] ?? 0)
            let residual = e.residual.map { $0 + (image * outChannels + oc) * plane }
            // Address of tap (0, 0) of output vector v, and where its lanes go.
            @inline(__always) func source(_ v: Int) -> UnsafeMutablePointer<Float> {
                pad + (v / vectorsPerRow) * g.sh * rowLen + (v % vectorsPerRow) * 8
            }
            @inline(__always) func finish(_ acc: Float8, _ v: Int) {
                var r = acc + b
                let oy = v / vectorsPerRow, ox = (v % vectorsPerRow) * 8
                let o = dst + oy * g.outW + ox
                let count = Swift.min(8, g.outW - ox)
                if let residual {
                    let at = residual + oy * g.outW + ox
                    if count == 8 {
                        r += load8(at)
                    } else {
                        for l in 0..<count { r[l] += at[l] }
                    }
                }
                if e.relu6 { r = relu6(r) }
                if count == 8 {
                    store8(r, o)
                } else {
                    for l in 0..<count { o[l] = r[l] }
                }
            }
            var v = 0
            while v < vectors {
                // A short last group repeats its last vector (computed twice, stored with the same value).
                let s0 = source(v), s1 = source(Swift.min(v + 1, vectors - 1))
                let s2 = source(Swift.min(v + 2, vectors - 1)), s3 = source(Swift.min(v + 3, vectors - 1))
                var a0 = Float8(repeating: 0), a1 = a0, a2 = a0, a3 = a0
                for ky in 0..<g.kh {
                    for kx in 0..<g.kw {
                        let t = ky * rowLen + (stride2 ? (kx & 1) * half + kx / 2 : kx)
                        let wv = Float8(repeating: w[ky * g.kw + kx])
                        a0 += wv * load8(s0 + t)
                        a1 += wv * load8(s1 + t)
                        a2 += wv * load8(s2 + t)
                        a3 += wv * load8(s3 + t)
                    }
                }
                finish(a0, v)
                if v + 1 < vectors { finish(a1, v + 1) }
                if v + 2 < vectors { finish(a2, v + 2) }
                if v + 3 < vectors { finish(a3, v + 3) }
                v += 4
            }
        }
    }
}

/// Adds `bias[ch]` (if any) to every element of channel `ch` of an [N, channels, plane] buffer, then
/// `residual` (if any, same shape), then clamps to [0, 6] when `relu6` is set, or to [0, ∞) when `relu` is;
/// one pass, split over the kernel threads by plane.
func addChannelBias(_ data: TensorBuffer, bias: Tensor?, channels: Int, plane: Int, relu6 clamp: Bool = false,
                    residual: Tensor? = nil, relu: Bool = false) {
    guard channels > 0, plane > 0 else { return }
    withOptionalPointer(bias) { bp in
        withOptionalPointer(residual) { rp in
            data.withFreshStorage { d in
                guard let dp = d.baseAddress else { return }
                parallelFor(d.count / plane, (dp, bp, rp, channels, plane, clamp, relu)) { operands, item in
                    let (dp, bp, rp, channels, plane, clamp, relu) = operands.pointee
                    let p = dp + item * plane
                    let v = Float8(repeating: bp?[item % channels] ?? 0)
                    let r = rp.map { $0 + item * plane }
                    var i = 0
                    while i + 8 <= plane {
                        var x = load8(p + i) + v
                        if let r { x += load8(r + i) }
                        store8(clamp ? relu6(x) : relu ? MirrorGAN.relu(x) : x, p + i)
                        i += 8
                    }
                    while i < plane {
                        let x = p[i] + v[0] + (r?[i] ?? 0)
                        p[i] = clamp ? Swift.min(Swift.max(x, 0), 6) : relu ? (x < 0 ? 0 : x) : x
                        i += 1
                    }
                }
            }
        }
    }
}
