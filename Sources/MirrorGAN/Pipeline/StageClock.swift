import Foundation

/// The one way inference stages are timed (monotonic clock, seconds per stage name, repeated stages summed):
/// `generate` times its stages with it, the server's engine adapter times captioning with it, and the server
/// only records what it is handed.
public struct StageClock: Sendable {
    public private(set) var timings: [String: Double] = [:]

    public init() {}

    public mutating func time<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { timings[stage, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        return try body()
    }
}
