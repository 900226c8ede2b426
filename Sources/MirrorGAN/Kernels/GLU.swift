/// Gated linear unit over channels, as AttnGAN's `GLU` module (`torch.nn.functional.glu(x, dim=1)`):
/// the first half of dimension 1 times the sigmoid of the second half.
///
/// - Parameter x: `[N, 2C, ...]` (rank ≥ 2, even channel count).
/// - Returns: `[N, C, ...]`.
public func glu(_ x: Tensor) throws -> Tensor {
    guard x.rank >= 2 else { throw TensorError.rankMismatch(op: "glu", expected: "≥ 2 ([N, 2C, ...])", actual: x.shape) }
    try requireArgument("glu", x.shape[1] % 2 == 0, "channel dimension must be even, got shape \(x.shape)")
    let n = x.shape[0], half = x.shape[1] / 2
    let inner = x.shape.dropFirst(2).reduce(1, *)
    let block = half * inner
    var shape = x.shape
    shape[1] = half
    let out = TensorBuffer.zeros(n * block)
    x.withUnsafeBufferPointer { xp in
        out.withFreshStorage { o in
            for image in 0..<n {
                let a = image * 2 * block, g = a + block, dst = image * block
                for i in 0..<block { o[dst + i] = xp[a + i] * sigmoidScalar(xp[g + i]) }
            }
        }
    }
    return Tensor(uncheckedShape: shape, data: out)
}
