import COpenBLAS

/// Row-major single-precision GEMM through OpenBLAS:
/// C[M×N] = alpha · op(A) · op(B) + beta · C, where op(A) is M×K and op(B) is K×N.
/// The matrices start at element offsets `aOffset`, `bOffset`, `cOffset` of their buffers; `lda`, `ldb`,
/// `ldc` are their row strides as stored (before the optional transpose). Callers have validated shapes.
@inline(__always)
func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafeBufferPointer<Float>, aOffset: Int = 0, lda: Int,
           b: UnsafeBufferPointer<Float>, bOffset: Int = 0, ldb: Int,
           beta: Float = 0,
           c: UnsafeMutableBufferPointer<Float>, cOffset: Int = 0, ldc: Int) {
    guard m > 0, n > 0, let cBase = c.baseAddress else { return }
    guard k > 0, let aBase = a.baseAddress, let bBase = b.baseAddress else {
        // An empty reduction: C = beta · C (BLAS implementations differ on K == 0, so do it here).
        for row in 0..<m {
            for col in 0..<n {
                let i = cOffset + row * ldc + col
                c[i] = beta == 0 ? 0 : beta * c[i]
            }
        }
        return
    }
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha,
                aBase + aOffset, blasint(lda), bBase + bOffset, blasint(ldb), beta,
                cBase + cOffset, blasint(ldc))
}
