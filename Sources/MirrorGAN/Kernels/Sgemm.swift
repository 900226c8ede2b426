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
           c: UnsafeMutableBufferPointer<Float>, cOffset: Int = 0, ldc: Int, split: Bool = true) {
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
    singleThreadedOpenBLAS()
    // Large products are cut into panels whose boundaries depend only on the shape (never on the thread
    // count, so the results are bit-identical at any thread count), and the panels are spread over the
    // kernel threads, each a single-threaded OpenBLAS call. Below ~1 M multiply-adds one call is cheaper
    // than the hand-off.
    let (panelsN, panelsM) = split ? gemmPanels(m: m, n: n, k: k) : (1, 1)
    let product = GemmPanel(transposeA: transposeA, transposeB: transposeB, k: k, alpha: alpha, beta: beta,
                            a: aBase + aOffset, lda: lda, b: bBase + bOffset, ldb: ldb, c: cBase + cOffset, ldc: ldc)
    if panelsN > 1 {
        let width = (n + panelsN - 1) / panelsN
        parallelFor(panelsN, (product, m, n, width)) { a, p in
            let (product, m, n, width) = a.pointee
            product.run(m0: 0, m1: m, n0: p * width, n1: min(n, (p + 1) * width))
        }
    } else if panelsM > 1 {
        let height = (m + panelsM - 1) / panelsM
        parallelFor(panelsM, (product, m, n, height)) { a, p in
            let (product, m, n, height) = a.pointee
            product.run(m0: p * height, m1: min(m, (p + 1) * height), n0: 0, n1: n)
        }
    } else {
        product.run(m0: 0, m1: m, n0: 0, n1: n)
    }
}

/// One `sgemm` call's operands; `run` computes the block of rows m0..<m1 and columns n0..<n1 of C.
private struct GemmPanel {
    let transposeA: Bool, transposeB: Bool
    let k: Int, alpha: Float, beta: Float
    let a: UnsafePointer<Float>, lda: Int
    let b: UnsafePointer<Float>, ldb: Int
    let c: UnsafeMutablePointer<Float>, ldc: Int

    @inline(__always)
    func run(m0: Int, m1: Int, n0: Int, n1: Int) {
        let aShift = transposeA ? m0 : m0 * lda, bShift = transposeB ? n0 * ldb : n0
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m1 - m0), blasint(n1 - n0), blasint(k), alpha, a + aShift, blasint(lda),
                    b + bShift, blasint(ldb), beta, c + m0 * ldc + n0, blasint(ldc))
    }
}

/// How `sgemm` cuts an [M × N] · K product: column panels of ≥ 256 columns (at most 64) when N allows,
/// else row panels of ≥ 64 rows (at most 16), else one call. A function of the shape only.
@inline(__always)
func gemmPanels(m: Int, n: Int, k: Int) -> (n: Int, m: Int) {
    guard m * n * k >= 1 << 20 else { return (1, 1) }
    if n >= 512 { return (min(64, n / 256), 1) }
    if m >= 128 { return (1, min(16, m / 64)) }
    return (1, 1)
}

/// Keeps OpenBLAS single-threaded: every GEMM of the runtime goes through `sgemm`, which spreads panels over the
/// kernel threads itself. Checked on every call, not only by `Runtime.setThreads`: OpenBLAS starts with as many
/// threads as the machine has cores, and its threaded GEMM does not give the sums of its single-threaded one
/// (Debian's 0.3 on Zen 4: ~5–20 % of the outputs of a 100×300×700 product differ in the last bit). A caller that
/// loaded a model before `setThreads`, or other code in the process that changed OpenBLAS's setting, once made
/// two identical requests differ in the last bits (seen only beside the whole test suite, issue 20). Reading the
/// setting is a load of one global; it is written only when something changed it.
@inline(__always)
func singleThreadedOpenBLAS() {
    if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }
}

