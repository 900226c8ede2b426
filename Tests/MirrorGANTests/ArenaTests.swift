import Foundation
import Testing
@testable import MirrorGAN

/// The tensor arena, inline shapes and the kernel thread pool: memory is lent again only when no tensor
/// uses it, a lent buffer is never written through by another tensor, a forward pass in steady state makes
/// no new storage, and `parallelFor` runs every index once at any thread count.
@Suite("Tensor arena, Shape, kernel pool", .serialized)
struct ArenaTests {
    @Test func storageIsLentAgainOnlyWhenNoTensorUsesIt() {
        let arena = TensorArena()
        let a = arena.take(1000)
        let b = arena.take(1000)
        #expect(a !== b, "a storage still referenced must not be lent twice")
        let pointer = a.pointer
        _ = consume a
        let c = arena.take(1000)
        #expect(c.pointer == pointer, "the free storage of that size is lent again")
        #expect(arena.reuses == 1 && arena.misses == 2)
        // Capacities are powers of two: 600 floats fit a free 1024-float storage, not a busy one.
        let d = arena.take(600)
        #expect(d !== b && d !== c && d.capacity == 1024)
        let dPointer = d.pointer
        _ = consume d
        #expect(arena.take(513).pointer == dPointer)
        #expect(arena.take(512).capacity == 512 && arena.take(3).capacity == 16)
        withExtendedLifetime((b, c)) {}
    }

    @Test func kernelOutputsReuseTheArenaAndStayIndependent() throws {
        let x = try Tensor(shape: [1, 2, 3, 3], data: (0..<18).map(Float.init))
        let zero = Tensor(shape: x.shape)
        let first = try add(x, zero)
        let firstPointer = first.withUnsafeBufferPointer { $0.baseAddress }
        let second = try add(x, zero)
        #expect(second.withUnsafeBufferPointer { $0.baseAddress } != firstPointer, "first is still alive")
        #expect(first == second)
        // A public mutation of a lent buffer copies it first: the other tensor and the arena are untouched.
        var copy = first
        copy[0, 0, 0, 0] = -7
        #expect(first[0, 0, 0, 0] == 0 && copy[0, 0, 0, 0] == -7)
        #expect(copy.withUnsafeBufferPointer { $0.baseAddress } != firstPointer)
        // Once `first` is gone its memory serves the next output of that size, which overwrites it.
        _ = consume first
        let third = try add(x, x)
        #expect(third.withUnsafeBufferPointer { $0.baseAddress } == firstPointer)
        #expect(third[0, 1, 2, 2] == 34 && copy[0, 1, 2, 2] == 17 && second[0, 1, 2, 2] == 17)
    }

    @Test func limitDropsFreeStoragesAndThenFallsBackToOrdinaryMemory() {
        let arena = TensorArena(limitBytes: 4096)
        let a = arena.take(512)  // 2 KiB
        let b = arena.take(512)  // 4 KiB: at the limit
        #expect(a.pooled && b.pooled && arena.heldBytes == 4096)
        let c = arena.take(256)  // over: nothing free to drop, so ordinary memory
        #expect(!c.pooled && arena.heldBytes == 4096)
        _ = consume a
        let d = arena.take(256)  // over again: the free 2 KiB storage is dropped to make room
        #expect(d.pooled && arena.heldBytes == 3072 && arena.storageCount == 2)
        withExtendedLifetime((b, c, d)) {}
    }

    @Test func aForwardPassInSteadyStateMakesNoNewStorage() throws {
        let m = try TempModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        for threads in [1, 2] {
            Runtime.setThreads(threads)
            let run = { _ = try model.generate(caption: "w1 w2 w3 w4", options: GenerationOptions(seed: 3)) }
            try run()
            let arena = TensorArena.current
            let (misses, reuses) = (arena.misses, arena.reuses)
            try run()
            #expect(arena.misses == misses, "a second identical request took every buffer from the arena (\(threads) threads)")
            #expect(arena.reuses > reuses)
        }
        Runtime.setThreads(1)
    }

    @Test func shapeIsInlineAndBehavesLikeAnArray() throws {
        let s: Shape = [2, 3, 4]
        #expect(s.count == 3 && s[1] == 3 && Array(s) == [2, 3, 4] && s.description == "[2, 3, 4]")
        #expect(s.droppingFirst() == [3, 4])
        #expect(s.replacing(0, with: 1) == [1, 3, 4] && Shape() == [] && Shape().droppingFirst() == [])
        #expect(Set([s, [2, 3, 4], [2, 3]]).count == 2)
        #expect(Shape(validating: Array(repeating: 1, count: Shape.maxRank + 1)) == nil)
        #expect(throws: TensorError.invalidShape(Array(repeating: 1, count: 9))) {
            try Tensor(shape: Array(repeating: 1, count: 9), data: [Float(0)])
        }
    }

    @Test func parallelForRunsEveryIndexOnceAtAnyThreadCount() {
        defer { Runtime.setThreads(1) }
        for threads in [1, 2, 3, 5] {
            Runtime.setThreads(threads)
            for count in [0, 1, 2, 7, 1000] {
                let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
                defer { hits.deallocate() }
                hits.initialize(repeating: 0)
                parallelFor(count, hits) { hits, i in hits.pointee[i] += 1 }
                #expect(hits.prefix(count).allSatisfy { $0 == 1 }, "\(threads) threads, \(count) items")
            }
            // Nested calls run inline (the helpers are busy) and still cover every index.
            let grid = UnsafeMutableBufferPointer<Int>.allocate(capacity: 64)
            defer { grid.deallocate() }
            grid.initialize(repeating: 0)
            parallelFor(8, grid) { grid, row in
                parallelFor(8, (grid.pointee, row)) { a, col in a.pointee.0[a.pointee.1 * 8 + col] += 1 }
            }
            #expect(grid.allSatisfy { $0 == 1 })
        }
    }

    @Test func concurrentCallersShareTheHelpersSafely() async {
        Runtime.setThreads(2)
        defer { Runtime.setThreads(1) }
        let sums = await withTaskGroup(of: Int.self, returning: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var total = 0
                    for _ in 0..<50 {
                        let cells = UnsafeMutableBufferPointer<Int>.allocate(capacity: 256)
                        cells.initialize(repeating: 0)
                        parallelFor(256, cells) { cells, i in cells.pointee[i] = i }
                        total += cells.reduce(0, +)
                        cells.deallocate()
                    }
                    return total
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(sums == Array(repeating: 50 * (255 * 256 / 2), count: 4))
    }

    @Test func pngEncoderPoolGivesIdenticalBytesAcrossSizes() throws {
        var rng = TestRandom(seed: 11)
        let small = rng.tensor([3, 16, 24]), large = rng.tensor([3, 64, 48])
        let firstSmall = try PNG.encode(small), firstLarge = try PNG.encode(large)
        for _ in 0..<3 {
            #expect(try PNG.encode(large) == firstLarge)
            #expect(try PNG.encode(small) == firstSmall)
        }
        let decoded = try PNG.decode(firstLarge)
        let expected = try RGBImage(tensor: large)
        #expect(decoded.width == 48 && decoded.height == 64 && decoded.rgb == expected.rgb)
    }
}
