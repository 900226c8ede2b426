import Foundation

/// The allocation counter of `bench/alloccount.c`, when the process runs with it preloaded
/// (`LD_PRELOAD=.build/alloccount.so`, as `make bench` does); nil otherwise.
enum AllocationCounter {
    /// Turns the counter's call-stack tracing on or off (`MIRRORGAN_ALLOC_TRACE=1`; see bench/alloccount.c).
    /// The switch, when the counter is preloaded and tracing was asked for; looked up before the loop so
    /// that the lookup's own allocations are not traced.
    static func tracer() -> ((Bool) -> Void)? {
        guard ProcessInfo.processInfo.environment["MIRRORGAN_ALLOC_TRACE"] == "1",
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mirrorgan_alloc_trace") else { return nil }
        let function = unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Void).self)
        return { function($0 ? 1 : 0) }
    }

    static func load() -> (() -> UInt64)? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mirrorgan_alloc_count") else { return nil }
        let function = unsafeBitCast(symbol, to: (@convention(c) () -> UInt).self)
        return { UInt64(function()) }
    }
}
