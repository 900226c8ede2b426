import Testing
@testable import MirrorGAN

@Suite struct ConcatEmbeddingTests {
    @Test func concatChannelsMatchesNaive() throws {
        var rng = TestRandom(seed: 1)
        let a = rng.tensor([2, 3, 4, 5]), b = rng.tensor([2, 1, 4, 5]), c = rng.tensor([2, 2, 4, 5])
        let got = try concat(a, b, c, axis: 1)  // the generator's [h, ctx_w, ctx_s] concatenation
        #expect(got.shape == [2, 6, 4, 5])
        for n in 0..<2 { for ch in 0..<6 { for y in 0..<4 { for x in 0..<5 {
            let expected = ch < 3 ? a[n, ch, y, x] : ch < 4 ? b[n, ch - 3, y, x] : c[n, ch - 4, y, x]
            #expect(got[n, ch, y, x] == expected)
        } } } }
    }

    @Test func concatOtherAxes() throws {
        let a = try Tensor(shape: [2, 2], data: [1, 2, 3, 4]), b = try Tensor(shape: [1, 2], data: [5, 6])
        #expect(try concat([a, b], axis: 0).data == [1, 2, 3, 4, 5, 6])
        #expect(try concat([a, a], axis: -1).data == [1, 2, 1, 2, 3, 4, 3, 4])
        #expect(throws: TensorError.self) { try concat([a, b], axis: 1) }
        #expect(throws: TensorError.self) { try concat([], axis: 0) }
        #expect(throws: TensorError.self) { try concat([a], axis: 2) }
    }

    @Test func embeddingLooksUpRows() throws {
        var rng = TestRandom(seed: 2)
        let w = rng.tensor([7, 3])
        let got = try embedding([4, 0, 6, 4], weight: w)
        #expect(got.shape == [4, 3])
        for (i, id) in [4, 0, 6, 4].enumerated() {
            for d in 0..<3 { #expect(got[i, d] == w[id, d]) }
        }
        let batch = try embedding([[1, 2, 3], [6, 0, 0]], weight: w)
        #expect(batch.shape == [2, 3, 3])
        #expect(batch[1, 0, 2] == w[6, 2])
    }

    @Test func embeddingRejectsOutOfRangeIds() {
        let w = Tensor(shape: [5, 2])
        #expect(throws: TensorError.indexOutOfRange(op: "embedding", index: 5, bound: 5)) { try embedding([0, 5], weight: w) }
        #expect(throws: TensorError.indexOutOfRange(op: "embedding", index: -1, bound: 5)) { try embedding([-1], weight: w) }
        #expect(throws: TensorError.self) { try embedding([[1, 2], [1]], weight: w) }
    }
}
