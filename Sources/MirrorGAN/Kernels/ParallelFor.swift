import COpenBLAS
import Dispatch
import Foundation

// Threading and scratch memory of the fused kernels (UpsampleConv3x3, Winograd3x3).
//
// The thread count is the one fixed at start-up (`Runtime.setThreads`, which sets OpenBLAS's): the
// kernels' own loops (transforms, epilogues) split their work over that many threads, and the GEMMs
// between them run on OpenBLAS's threads. Work is always split into the same independent items
// (channels), each computed by the same code, so results do not depend on the thread count.

/// Threads the kernels' own loops may use (the BLAS thread count fixed at start-up).
@inline(__always)
func kernelThreadCount() -> Int { max(1, Int(openblas_get_num_threads())) }

/// Runs `body(i)` for every i in 0..<count, split into contiguous chunks over the kernel threads.
/// Each index must be independent of the others (results are then thread-count independent).
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    let threads = min(kernelThreadCount(), count)
    if threads <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let lo = count * t / threads, hi = count * (t + 1) / threads
            for i in lo..<hi { body(i) }
        }
    }
}

/// Per-thread scratch memory that grows to the largest request and is then reused, so steady-state
/// requests do not map and fault in fresh pages for the multi-megabyte transform buffers.
final class ScratchBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    private init() {
        capacity = 0
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    }

    deinit { pointer.deallocate() }

    /// At least `count` floats (contents undefined). Valid until the next call on this thread.
    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = max(count, capacity + capacity / 2)
            pointer = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        }
        return pointer
    }

    private static let key = "mirrorgan.kernel.scratch"

    /// The calling thread's scratch buffer.
    static var current: ScratchBuffer {
        let dict = Thread.current.threadDictionary
        if let s = dict[key] as? ScratchBuffer { return s }
        let s = ScratchBuffer()
        dict[key] = s
        return s
    }
}
