/// Fully connected layer as `torch.nn.functional.linear`: y = x · Wᵀ + b.
///
/// - Parameters:
///   - x: input `[..., in]` (rank ≥ 1; leading dimensions are flattened into rows).
///   - weight: `[out, in]`, PyTorch layout.
///   - bias: optional `[out]`.
/// - Returns: `[..., out]`.
/// - Throws: `TensorError` when the shapes do not fit together.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
    guard x.rank >= 1 else { throw TensorError.rankMismatch(op: "linear", expected: "≥ 1", actual: x.shape) }
    try requireRank("linear weight", weight, 2, "2 ([out, in])")
    let inFeatures = weight.shape[1], outFeatures = weight.shape[0]
    guard x.shape[x.rank - 1] == inFeatures else {
        throw TensorError.shapeMismatch(op: "linear (input [..., in] vs weight [out, in])",
                                        expected: x.shape.replacing(x.rank - 1, with: inFeatures), actual: x.shape)
    }
    if let bias { try requireShape("linear bias", bias, [outFeatures]) }
    let rows = x.shape.dropLast().reduce(1, *)
    let out = TensorBuffer.zeros(rows * outFeatures)
    out.withFreshStorage { o in
        if let bias {
            // Pre-fill every row with the bias and accumulate the product on top (beta = 1).
            bias.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    for j in 0..<outFeatures { o[r * outFeatures + j] = b[j] }
                }
            }
        }
        x.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                sgemm(transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures,
                      a: xp, lda: inFeatures, b: wp, ldb: inFeatures,
                      beta: bias == nil ? 0 : 1, c: o, ldc: outFeatures)
            }
        }
    }
    return Tensor(uncheckedShape: x.shape.replacing(x.rank - 1, with: outFeatures), data: out)
}
