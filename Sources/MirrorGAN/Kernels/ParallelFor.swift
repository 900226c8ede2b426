import Dispatch
import Foundation
import Synchronization

// Threading and scratch memory of the kernels.
//
// The thread count is the one fixed at start-up (`Runtime.setThreads`). Every kernel splits its own
// work over that many threads, GEMMs included (`sgemm` cuts large products into column or row panels
// and runs them through single-threaded OpenBLAS calls), and OpenBLAS's own thread pool is not used:
// with both, a kernel's loops and OpenBLAS's spinning workers competed for the same cores between every
// GEMM and every transform, and two threads burnt ~1.5× the CPU time of one for a 1.3× speed-up
// (official-birds generator: 115 ms at 1 thread, 95 ms at 2, 172 ms of CPU per pass).
// Work is always split into the same independent items (channels, rows, fixed GEMM panels), each
// computed by the same code, so results do not depend on the thread count.

/// The thread count fixed at start-up (`Runtime.setThreads`).
let kernelThreads = Atomic<Int>(1)

/// Threads the kernels may use.
@inline(__always)
func kernelThreadCount() -> Int { kernelThreads.load(ordering: .relaxed) }

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

    /// The calling thread's scratch buffer (a kernel's block-level buffers, taken outside `parallelFor`).
    static var current: ScratchBuffer { ThreadScratch.mine.current }

    /// A second per-thread buffer for the work of one `parallelFor` item (the calling thread runs items
    /// too, so items must not use `current`, which may hold its caller's buffers).
    static var perItem: ScratchBuffer { ThreadScratch.mine.perItem }

    fileprivate static func make() -> ScratchBuffer { ScratchBuffer() }
}

/// A thread's two scratch buffers, found through a pthread key: kernels look them up once per work item
/// (thousands of times per request), and `Thread.current.threadDictionary` with a String key cost a
/// dictionary lookup and a bridged string each time.
private final class ThreadScratch {
    let current = ScratchBuffer.make()
    let perItem = ScratchBuffer.make()

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        // The destructor releases the thread's buffers when a (dispatch) thread exits.
        let status = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<ThreadScratch>.fromOpaque(raw).release() }
        }
        precondition(status == 0, "pthread_key_create failed (\(status))")
        return key
    }()

    static var mine: ThreadScratch {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<ThreadScratch>.fromOpaque(raw).takeUnretainedValue()
        }
        let scratch = ThreadScratch()
        pthread_setspecific(key, Unmanaged.passRetained(scratch).toOpaque())
        return scratch
    }
}
