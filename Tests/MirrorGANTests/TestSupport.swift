import Foundation
import Testing
@testable import MirrorGAN

/// Deterministic test data (a tiny LCG, so tests do not depend on the RNG under test).
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }

    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state >> 11
    }

    /// Uniform in [low, high).
    mutating func float(_ low: Float = -1, _ high: Float = 1) -> Float {
        low + (high - low) * Float(Double(next()) / Double(UInt64(1) << 53))
    }

    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }

    mutating func tensor(_ shape: Shape, _ low: Float = -1, _ high: Float = 1) -> Tensor {
        let count = shape.reduce(1, *)
        return try! Tensor(shape: shape, data: (0..<count).map { _ in float(low, high) })
    }

    mutating func tensor(_ shape: [Int], _ low: Float = -1, _ high: Float = 1) -> Tensor {
        tensor(Shape(shape), low, high)
    }
}

/// Largest absolute element difference; shapes must match.
func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    #expect(a.shape == b.shape, "shape \(a.shape) vs \(b.shape)")
    guard a.shape == b.shape else { return .infinity }
    var worst: Float = 0
    for (x, y) in zip(a.data, b.data) {
        if x.isNaN != y.isNaN { return .infinity }
        if x.isNaN { continue }
        if x == y { continue }  // equal infinities
        worst = max(worst, abs(x - y))
    }
    return worst
}

/// Expects `actual` to match `expected` within `tolerance` absolute error, or `relative` error scaled by
/// the largest magnitude in `expected` (for long reductions).
func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float = 1e-5, relative: Float = 0,
                 _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    let scale = expected.data.reduce(Float(0)) { max($0, abs($1)) }
    let limit = max(tolerance, relative * scale)
    let diff = maxAbsDiff(actual, expected)
    #expect(diff <= limit, "\(what): max abs diff \(diff) > \(limit) (shape \(expected.shape))",
            sourceLocation: sourceLocation)
}

/// Fixture directory Tests/Fixtures/kernels, found relative to this source file.
func fixtureURL(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/kernels/\(name)")
}

/// Loads a PyTorch-computed fixture.
func loadFixture(_ name: String) throws -> [String: Tensor] {
    try SafeTensorsFile(path: fixtureURL(name).path).loadAll()
}

extension Dictionary where Key == String, Value == Tensor {
    /// A fixture tensor; a missing one is reported as a thrown error rather than a crash.
    func require(_ key: String) throws -> Tensor {
        guard let value = self[key] else { throw SafeTensorsError.tensorNotFound(file: "fixture", tensor: key) }
        return value
    }
}

/// `body`'s result at 1 thread and at 2 threads: the kernels split work only into items whose results do
/// not depend on the split, so the two must be identical.
func atOneAndTwoThreads<T>(_ body: () throws -> T) rethrows -> (one: T, two: T) {
    Runtime.setThreads(1)
    let one = try body()
    Runtime.setThreads(2)
    return (one, try body())
}
