import COpenBLAS
import Foundation
import Testing
@testable import MirrorGAN

/// Determinism against OpenBLAS's own thread setting (issue 20). OpenBLAS's threaded GEMM does not give the sums of its
/// single-threaded one, so a GEMM run while OpenBLAS was set to two threads (its default on a 2-core machine, before
/// anything called `Runtime.setThreads`) differed in the last bits from the same GEMM run after. `sgemm` now puts
/// OpenBLAS back to one thread itself. These run in child processes: OpenBLAS's setting is process-wide, and flipping
/// it beside the rest of the suite would disturb other tests' GEMMs.
@Suite struct OpenBLASThreadingTests {
    /// A product whose outputs differ in the last bit between OpenBLAS's 1- and 2-thread GEMMs here (Debian's
    /// OpenBLAS 0.3, Zen 4: ~19,000 of 30,000), run as one call (no panels).
    static func product() -> [Float] {
        let (m, n, k) = (100, 300, 700)
        var state: UInt64 = 7
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        let a = (0..<(m * k)).map { _ in next() }, b = (0..<(k * n)).map { _ in next() }
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n,
                          c: c, ldc: n, split: false)
                }
            }
        }
        return c
    }

    @Test func aGemmGivesTheSameBitsWhateverOpenBLASsThreadSettingWas() async {
        await #expect(processExitsWith: .success) {
            openblas_set_num_threads(2)
            let first = OpenBLASThreadingTests.product()
            let setting = openblas_get_num_threads()
            openblas_set_num_threads(1)
            let second = OpenBLASThreadingTests.product()
            exit(first == second && setting == 1 ? EXIT_SUCCESS : EXIT_FAILURE)
        }
    }
}
