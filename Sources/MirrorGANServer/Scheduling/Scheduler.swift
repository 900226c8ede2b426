// A bounded FIFO queue in front of a fixed number of inference worker threads.
//
// Admission is immediate: when every worker is busy and `capacity` requests already wait, submit() refuses
// (the router answers 503 + Retry-After) instead of letting latency grow without bound. Each job carries a
// deadline; a job still waiting when it passes is taken out of the queue and expired (504) right away, and
// a worker never starts a job whose deadline has passed. A running job is never interrupted.
import Dispatch
import Foundation

final class Scheduler: @unchecked Sendable {
    struct Job {
        let id: UInt64
        let enqueuedAt: UInt64       // monotonic ns
        let deadline: UInt64         // monotonic ns
        let run: (_ waitedNanos: UInt64) -> Void
        let expire: (_ waitedNanos: UInt64) -> Void
    }

    let workers: Int
    let capacity: Int
    private let core: Core

    /// `onWait` is told every queue wait (seconds) of a job that got to run.
    init(workers: Int, capacity: Int, onWait: @escaping @Sendable (Double) -> Void = { _ in }) {
        self.workers = max(1, workers)
        self.capacity = max(0, capacity)
        core = Core(capacity: self.workers + self.capacity, onWait: onWait)
        for i in 0..<self.workers {
            let core = self.core
            let t = Thread { core.workerLoop() }
            t.name = "mirrorgan-worker-\(i)"
            t.start()
        }
    }

    deinit { core.shutdown() }

    /// Deadline timers run on their own serial queue: the global concurrent queues are capped near the core
    /// count on Linux and can be saturated by blocking work, which would delay 504s.
    private static let timers = DispatchQueue(label: "mirrorgan.scheduler.deadlines")

    /// Queues `run` unless the queue is full. `expire` is called instead of `run` if the job is still waiting
    /// at `deadline` (monotonic nanoseconds). Both are called on a worker or timer thread, never on the caller's.
    func submit(deadline: UInt64, run: @escaping (UInt64) -> Void, expire: @escaping (UInt64) -> Void) -> Bool {
        guard let id = core.enqueue(deadline: deadline, run: run, expire: expire) else { return false }
        let core = self.core
        Scheduler.timers.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: deadline)) {
            core.expireIfWaiting(id)
        }
        return true
    }

    /// Jobs waiting for a worker.
    var depth: Int { core.snapshot().queued }
    /// Jobs waiting or running.
    var pending: Int { let s = core.snapshot(); return s.queued + s.running }

    /// Seconds a refused client should wait: the expected time to work through what is pending now.
    var retryAfterSeconds: Int {
        let s = core.snapshot()
        let estimate = s.averageRunSeconds * Double(s.queued + s.running) / Double(workers)
        return min(60, max(1, Int(estimate.rounded(.up))))
    }

    /// Blocks until nothing is queued or running, or `timeout` seconds pass. Returns true when idle.
    func waitUntilIdle(timeout: Double) -> Bool { core.waitUntilIdle(timeout: timeout) }

    /// Workers finish what is queued, then exit.
    func shutdown() { core.shutdown() }

    // Shared with the worker threads (which must not keep the Scheduler itself alive).
    private final class Core: @unchecked Sendable {
        private let cond = NSCondition()
        private var queue: [Job] = []
        private var running = 0
        private var nextID: UInt64 = 1
        private var stopped = false
        private var averageRunSeconds = 1.0 // moving average, for Retry-After
        private let limit: Int
        private let onWait: @Sendable (Double) -> Void

        init(capacity: Int, onWait: @escaping @Sendable (Double) -> Void) {
            limit = capacity
            self.onWait = onWait
        }

        func enqueue(deadline: UInt64, run: @escaping (UInt64) -> Void, expire: @escaping (UInt64) -> Void) -> UInt64? {
            cond.lock()
            defer { cond.unlock() }
            guard !stopped, queue.count + running < limit else { return nil }
            let id = nextID
            nextID += 1
            queue.append(Job(id: id, enqueuedAt: DispatchTime.now().uptimeNanoseconds, deadline: deadline,
                             run: run, expire: expire))
            cond.signal()
            return id
        }

        func expireIfWaiting(_ id: UInt64) {
            cond.lock()
            guard let index = queue.firstIndex(where: { $0.id == id }) else { cond.unlock(); return }
            let job = queue.remove(at: index)
            cond.broadcast()
            cond.unlock()
            job.expire(DispatchTime.now().uptimeNanoseconds &- job.enqueuedAt)
        }

        func workerLoop() {
            cond.lock()
            while true {
                while queue.isEmpty && !stopped { cond.wait() }
                if queue.isEmpty { break } // stopped and drained
                let job = queue.removeFirst()
                running += 1
                cond.unlock()

                let start = DispatchTime.now().uptimeNanoseconds
                let waited = start &- job.enqueuedAt
                if start >= job.deadline {
                    job.expire(waited)
                } else {
                    onWait(Double(waited) / 1e9)
                    job.run(waited)
                }
                let took = Double(DispatchTime.now().uptimeNanoseconds &- start) / 1e9

                cond.lock()
                running -= 1
                averageRunSeconds = 0.8 * averageRunSeconds + 0.2 * took
                cond.broadcast()
            }
            cond.unlock()
        }

        func snapshot() -> (queued: Int, running: Int, averageRunSeconds: Double) {
            cond.lock()
            defer { cond.unlock() }
            return (queue.count, running, averageRunSeconds)
        }

        func waitUntilIdle(timeout: Double) -> Bool {
            let until = Date(timeIntervalSinceNow: timeout)
            cond.lock()
            defer { cond.unlock() }
            while !(queue.isEmpty && running == 0) {
                if !cond.wait(until: until) { return queue.isEmpty && running == 0 }
            }
            return true
        }

        func shutdown() {
            cond.lock()
            stopped = true
            cond.broadcast()
            cond.unlock()
        }
    }
}
