/// The four tensors and epsilon of a PyTorch `BatchNorm1d`/`BatchNorm2d` layer in eval mode.
public struct BatchNormParameters: Sendable {
    public var weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor
    /// PyTorch default 1e-5; EfficientNet-Lite uses 1e-3 (read it from the architecture, per layer).
    public var eps: Float

    /// Throws unless all four tensors are `[C]` for the same C.
    public init(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float = 1e-5) throws {
        try requireRank("batchNorm weight", weight, 1, "1 ([C])")
        let c = weight.shape
        try requireShape("batchNorm bias", bias, c)
        try requireShape("batchNorm running_mean", runningMean, c)
        try requireShape("batchNorm running_var", runningVar, c)
        self.weight = weight; self.bias = bias; self.runningMean = runningMean; self.runningVar = runningVar
        self.eps = eps
    }

    public var channels: Int { weight.count }

    /// Per-channel affine form: y = x · scale + shift with scale = γ / sqrt(var + eps),
    /// shift = β − mean · scale (computed in Double, then rounded).
    public func scaleAndShift() -> (scale: [Float], shift: [Float]) {
        var scale = [Float](repeating: 0, count: channels), shift = scale
        for ch in 0..<channels {
            let s = Double(weight.data[ch]) / (Double(runningVar.data[ch]) + Double(eps)).squareRoot()
            scale[ch] = Float(s)
            shift[ch] = Float(Double(bias.data[ch]) - Double(runningMean.data[ch]) * s)
        }
        return (scale, shift)
    }
}

/// Batch normalisation in inference mode (`BatchNorm1d`/`BatchNorm2d` with `eval()`):
/// y = (x − running_mean) / sqrt(running_var + eps) · weight + bias, per channel (dimension 1).
///
/// - Parameter x: `[N, C]`, `[N, C, L]` or `[N, C, H, W]`.
public func batchNorm(_ x: Tensor, _ p: BatchNormParameters) throws -> Tensor {
    try requireRank("batchNorm", x, 2...4, "2, 3 or 4 ([N, C, ...])")
    guard x.shape[1] == p.channels else {
        throw TensorError.shapeMismatch(op: "batchNorm (input channels vs parameters)",
                                        expected: x.shape.replacing(1, with: p.channels), actual: x.shape)
    }
    let (scale, shift) = p.scaleAndShift()
    let plane = x.shape.dropFirst(2).reduce(1, *)
    let channels = p.channels
    return Tensor.filled(x.shape) { d in
        x.withUnsafeBufferPointer { src in
            guard channels > 0, plane > 0 else { return }
            for image in 0..<(d.count / (channels * plane)) {
                for ch in 0..<channels {
                    let base = (image * channels + ch) * plane
                    let s = scale[ch], t = shift[ch]
                    for i in 0..<plane { d[base + i] = src[base + i] * s + t }
                }
            }
        }
    }
}

/// Folds an inference-mode batch norm into the convolution or linear layer before it, at load time:
/// W'[o, ...] = W[o, ...] · scale[o], b'[o] = b[o] · scale[o] + shift[o] (b = 0 when the layer has no bias).
///
/// - Parameters:
///   - weight: `[O, ...]` (conv `[O, C/g, kH, kW]` or linear `[O, in]`).
///   - bias: optional `[O]`.
/// - Returns: the folded weight (same shape) and bias `[O]`.
public func foldBatchNorm(weight: Tensor, bias: Tensor?, into bn: BatchNormParameters) throws
    -> (weight: Tensor, bias: Tensor) {
    guard weight.rank >= 1, weight.shape[0] == bn.channels else {
        throw TensorError.shapeMismatch(op: "foldBatchNorm (weight output channels vs batch norm channels)",
                                        expected: weight.shape.replacing(0, with: bn.channels), actual: weight.shape)
    }
    if let bias { try requireShape("foldBatchNorm bias", bias, [bn.channels]) }
    let (scale, shift) = bn.scaleAndShift()
    let perChannel = bn.channels == 0 ? 0 : weight.count / bn.channels
    var w = Array(weight.data)
    var b = [Float](repeating: 0, count: bn.channels)
    for o in 0..<bn.channels {
        for i in 0..<perChannel { w[o * perChannel + i] *= scale[o] }
        b[o] = (bias?.data[o] ?? 0) * scale[o] + shift[o]
    }
    return (Tensor(uncheckedShape: weight.shape, data: TensorBuffer(w)), Tensor(uncheckedShape: [bn.channels], data: TensorBuffer(b)))
}
