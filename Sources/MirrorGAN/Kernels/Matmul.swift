/// Matrix product as `torch.matmul` for rank-2 and rank-3 operands (`torch.bmm` when both are rank 3),
/// with optional transposes of the last two dimensions (so attention can use `Q · Kᵀ` without a copy).
///
/// - `a`: `[M, K]` or `[B, M, K]` (`[K, M]` / `[B, K, M]` when `transposeA`).
/// - `b`: `[K, N]` or `[B, K, N]` (`[N, K]` / `[B, N, K]` when `transposeB`).
/// - A rank-2 operand, or a rank-3 operand with batch 1, is broadcast over the other's batch.
/// - Returns `[M, N]` when both are rank 2, otherwise `[B, M, N]`.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
    let op = "matmul"
    try requireRank(op, a, 2...3, "2 or 3")
    try requireRank(op, b, 2...3, "2 or 3")
    let batchA = a.rank == 3 ? a.shape[0] : 1
    let batchB = b.rank == 3 ? b.shape[0] : 1
    guard batchA == batchB || batchA == 1 || batchB == 1 else {
        throw TensorError.shapeMismatch(op: "matmul (batch dimensions)", expected: a.shape, actual: b.shape)
    }
    let batch = max(batchA, batchB)
    let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let (kb, n) = transposeB ? (bc, br) : (br, bc)
    guard k == kb else {
        throw TensorError.invalidArgument(
            op: op, message: "inner dimensions differ: a \(a.shape)\(transposeA ? "ᵀ" : "") has K = \(k), "
                + "b \(b.shape)\(transposeB ? "ᵀ" : "") has K = \(kb)")
    }
    let out = TensorBuffer.zeros(batch * m * n)
    let strideA = batchA == 1 ? 0 : ar * ac
    let strideB = batchB == 1 ? 0 : br * bc
    a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
            out.withFreshStorage { o in
                for i in 0..<batch {
                    sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                          a: ap, aOffset: i * strideA, lda: ac,
                          b: bp, bOffset: i * strideB, ldb: bc,
                          c: o, cOffset: i * m * n, ldc: n)
                }
            }
        }
    }
    let shape: Shape = (a.rank == 2 && b.rank == 2) ? [m, n] : [batch, m, n]
    return Tensor(uncheckedShape: shape, data: out)
}
