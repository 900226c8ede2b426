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

/// Runs `body(args, i)` for every i in 0..<count, split into contiguous chunks over the kernel threads.
/// Each index must be independent of the others (results are then thread-count independent).
///
/// The body is a *thin* function (`@convention(thin)`: the compiler rejects a closure that captures
/// anything) and gets what it needs through `args`, usually a labelled tuple, by pointer. A capturing
/// closure handed to the helper threads was a heap-allocated context on every call: an escaping closure's
/// captures live on the heap, and `withoutActuallyEscaping` boxes a non-escaping one (~200 allocations per
/// request at two threads). A thin function is a bare code pointer and `args` stays on the caller's stack,
/// so a parallel loop allocates nothing. Inlined, so that at one thread the loop runs the body inline.
@inline(__always)
func parallelFor<Args>(_ count: Int, _ args: Args, _ body: @convention(thin) (UnsafePointer<Args>, Int) -> Void) {
    withUnsafePointer(to: args) { argsPointer in
        let threads = min(kernelThreadCount(), count)
        if threads <= 1 {
            for i in 0..<count { body(argsPointer, i) }
            return
        }
        // `UnsafePointer<Args>` and `UnsafeRawPointer` are the same single word whatever Args is, so the
        // body can be handed over as a function of a raw pointer.
        let erased = unsafeBitCast(body, to: KernelBody.self)
        if !KernelPool.shared.run(count: count, threads: threads, body: erased, args: UnsafeRawPointer(argsPointer)) {
            // The helpers are busy with another call (a nested one, or another worker's): run here.
            for i in 0..<count { body(argsPointer, i) }
        }
    }
}

/// A `parallelFor` body with its argument type erased.
typealias KernelBody = @convention(thin) (UnsafeRawPointer, Int) -> Void

/// Chunk `t` of `threads` contiguous chunks of 0..<count (the same cut at any thread count's run).
@inline(__always)
private func runChunk(_ t: Int, of threads: Int, count: Int, _ body: KernelBody, _ args: UnsafeRawPointer) {
    let lo = count * t / threads, hi = count * (t + 1) / threads
    for i in lo..<hi { body(args, i) }
}

/// The kernel threads' helpers: `kernelThreads − 1` threads started once and kept, that run the chunks of
/// one `parallelFor` call at a time with the calling thread. `DispatchQueue.concurrentPerform` made one or
/// two heap allocations per call, about 900 per request at two threads (docs/PERFORMANCE.md, "Allocations");
/// handing a thin function and an argument pointer to a waiting helper makes none. A helper spins briefly for the next call (kernels
/// come in bursts) and then sleeps on a condition variable.
final class KernelPool: @unchecked Sendable {
    static let shared = KernelPool()

    // Allocated, not stored properties: a pthread mutex or condition must not move, and `&property` only
    // promises an address for the duration of one call.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Incremented for every call; helpers wait for it to change.
    private let generation = Atomic<Int>(0)
    /// Chunks not finished yet by helpers in the current call.
    private let pending = Atomic<Int>(0)
    /// Held by the call that owns the helpers.
    private let busy = Atomic<Bool>(false)
    /// The current call's body and arguments, index count and chunk count (read by helpers after
    /// `generation` changes).
    private var job: KernelBody?
    private var jobArgs: UnsafeRawPointer?
    private var jobCount = 0
    private var jobThreads = 0
    private var helperCount = 0

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(finished, nil)
    }

    /// Runs `body(args, i)` for i in 0..<count in `threads` chunks, chunk 0 on the calling thread. Returns
    /// false (running nothing) when another call holds the helpers.
    func run(count: Int, threads: Int, body: KernelBody, args: UnsafeRawPointer) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        pthread_mutex_lock(mutex)
        while helperCount < threads - 1 { startHelper(index: helperCount + 1) }
        job = body
        jobArgs = args
        jobCount = count
        jobThreads = threads
        pending.store(threads - 1, ordering: .relaxed)
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)

        runChunk(0, of: threads, count: count, body, args)

        var spins = 0
        while pending.load(ordering: .acquiring) > 0 && spins < 20_000 { spins += 1 }
        if pending.load(ordering: .acquiring) > 0 {
            pthread_mutex_lock(mutex)
            while pending.load(ordering: .acquiring) > 0 { pthread_cond_wait(finished, mutex) }
            pthread_mutex_unlock(mutex)
        }
        pthread_mutex_lock(mutex)
        job = nil  // `args` points into the caller's stack frame
        jobArgs = nil
        pthread_mutex_unlock(mutex)
        return true
    }

    /// Called with `mutex` held.
    private func startHelper(index: Int) {
        helperCount += 1
        let pool = Unmanaged.passRetained(self).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        // The helper starts from the generation before the call that starts it (read here, under the
        // mutex: read by the new thread, it could already include that call, which it would then miss).
        let argument = UnsafeMutablePointer<(UnsafeMutableRawPointer, Int, Int)>.allocate(capacity: 1)
        argument.initialize(to: (pool, index, generation.load(ordering: .relaxed)))
        let status = pthread_create(&thread, &attributes, { raw in
            guard let raw else { return nil }
            let typed = raw.assumingMemoryBound(to: (UnsafeMutableRawPointer, Int, Int).self)
            let (pool, index, start) = typed.pointee
            typed.deallocate()
            Unmanaged<KernelPool>.fromOpaque(pool).takeRetainedValue().helperLoop(index: index, from: start)
        }, argument)
        pthread_attr_destroy(&attributes)
        precondition(status == 0, "KernelPool: pthread_create failed (\(status))")
    }

    private func helperLoop(index: Int, from start: Int) -> Never {
        var seen = start
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen && spins < 20_000 { spins += 1 }
            pthread_mutex_lock(mutex)
            while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
            seen = generation.load(ordering: .acquiring)
            pthread_mutex_unlock(mutex)
            guard runOwnChunk(index: index, generation: seen) else { continue }
            if pending.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_signal(finished)
                pthread_mutex_unlock(mutex)
            }
        }
    }

    /// Runs this helper's chunk of the current call, if it has one (the caller's `args` stay valid until
    /// the helper reports the chunk done).
    @inline(never)
    private func runOwnChunk(index: Int, generation expected: Int) -> Bool {
        pthread_mutex_lock(mutex)
        // A call this helper slept through has ended; a newer one is picked up on the next turn.
        let current = generation.load(ordering: .acquiring) == expected
        guard current, index < jobThreads, let work = job, let args = jobArgs else {
            pthread_mutex_unlock(mutex)
            return false
        }
        let (count, threads) = (jobCount, jobThreads)
        pthread_mutex_unlock(mutex)
        runChunk(index, of: threads, count: count, work, args)
        return true
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

/// A thread's two scratch buffers and its tensor arena, found through a pthread key: kernels look them up
/// once per work item (thousands of times per request), and `Thread.current.threadDictionary` with a
/// String key cost a dictionary lookup and a bridged string each time.
final class ThreadScratch {
    let current = ScratchBuffer.make()
    let perItem = ScratchBuffer.make()
    let arena = TensorArena()

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
