import Foundation

/// The one way inference stages are timed (monotonic clock, seconds per stage name, repeated stages summed):
/// `generate` times its stages with it, the server's engine adapter times captioning with it, and the server
/// only records what it is handed.
public struct StageClock: Sendable {
    public private(set) var timings: [String: Double] = [:]
    /// End of the last lap (`startLap`, `lap`).
    private var mark = DispatchTime.now().uptimeNanoseconds

    public init() {}

    public mutating func time<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { timings[stage, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        return try body()
    }

    /// Starts a run of laps: the next `lap` measures from now.
    public mutating func startLap() { mark = DispatchTime.now().uptimeNanoseconds }

    /// Adds the time since the previous lap (or `startLap`) to `stage`: how a pass that reports its stages as they
    /// end (`MirrorGANModel.imagePass`) is timed.
    public mutating func lap(_ stage: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        timings[stage, default: 0] += Double(now - mark) / 1e9
        mark = now
    }
}
