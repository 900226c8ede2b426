import Foundation
import Testing
@testable import MirrorGAN

@Suite struct SoftmaxTests {
    /// Softmax of every slice along `axis`, in Double; masked entries are 0, fully masked slices all 0.
    func naive(_ x: Tensor, axis: Int, masked: (Int) -> Bool) -> Tensor {
        let strides = Tensor.strides(of: x.shape)
        var out = Tensor(shape: x.shape)
        for start in 0..<x.count where (start / strides[axis]) % x.shape[axis] == 0 {
            let idx = (0..<x.shape[axis]).map { start + $0 * strides[axis] }
            let live = idx.filter { !masked($0) }
            guard let m = live.map({ Double(x.data[$0]) }).max() else { continue }
            let sum = live.reduce(0.0) { $0 + Foundation.exp(Double(x.data[$1]) - m) }
            out.withUnsafeMutableBufferPointer { d in
                for i in live { d[i] = Float(Foundation.exp(Double(x.data[i]) - m) / sum) }
            }
        }
        return out
    }

    // Covers the row fast path (last axis), the across-channels fast path (a middle axis with ≥ 8 inner
    // positions: [2, 3, 4, 5] axis 1, [2, 64, 300] axis 1 with several 256-position chunks and a tail) and
    // the general loop (inner < 8).
    @Test(arguments: [([7], 0), ([3, 5], 1), ([3, 5], 0), ([2, 3, 4, 5], 1), ([2, 1, 9], -1), ([4, 1], 1),
                      ([2, 64, 300], 1), ([1, 5, 9], 1), ([3, 40], 0), ([2, 0, 4], 1)])
    func unmaskedMatchesNaive(shape: [Int], axis: Int) throws {
        var rng = TestRandom(seed: UInt64(shape.reduce(1, *) + axis + 10))
        let x = rng.tensor(shape, -10, 10)
        let ax = axis < 0 ? axis + shape.count : axis
        expectClose(try softmax(x, axis: axis), naive(x, axis: ax) { _ in false }, "softmax \(shape) axis \(axis)")
    }

    @Test func fullMaskMatchesNaiveIncludingFullyMaskedRows() throws {
        var rng = TestRandom(seed: 4)
        let x = rng.tensor([3, 4, 6], -5, 5)
        var mask = Tensor(shape: [3, 4, 6])
        for i in 0..<mask.count where rng.int(0..<3) == 0 { mask.withUnsafeMutableBufferPointer { $0[i] = 1 } }
        for j in 0..<6 { mask[1, 2, j] = 1 }  // a fully masked row
        let got = try softmax(x, axis: -1, mask: mask)
        expectClose(got, naive(x, axis: 2) { mask.data[$0] != 0 }, "masked")
        #expect((0..<6).allSatisfy { got[1, 2, $0] == 0 }, "fully masked row is all zeros")
        for i in 0..<mask.count where mask.data[i] != 0 { #expect(got.data[i] == 0) }
    }

    /// Attention layout: scores [B, Q, T], padding mask [B, 1, T] broadcast over queries.
    @Test func broadcastMaskOverQueries() throws {
        var rng = TestRandom(seed: 8)
        let x = rng.tensor([2, 5, 7], -3, 3)
        var mask = Tensor(shape: [2, 1, 7])
        for t in 4..<7 { mask[0, 0, t] = 1 }  // sequence 0 has length 4
        for t in 0..<7 { mask[1, 0, t] = 1 }  // sequence 1 is fully masked
        let got = try softmax(x, axis: 2, mask: mask)
        expectClose(got, naive(x, axis: 2) { i in mask.data[(i / 35) * 7 + i % 7] != 0 }, "broadcast mask")
        #expect(got.data[35..<70].allSatisfy { $0 == 0 })
    }

    /// The fast paths split slices over threads; results must be identical at 1 and 2 threads.
    @Test func threadCountDoesNotChangeResults() throws {
        var rng = TestRandom(seed: 12)
        let a = rng.tensor([1, 64, 1000], -8, 8), b = rng.tensor([2, 500, 18], -8, 8)
        var mask = Tensor(shape: [2, 1, 18])
        for t in 11..<18 { mask[1, 0, t] = 1 }
        let sa = try atOneAndTwoThreads { try softmax(a, axis: 1) }
        let sb = try atOneAndTwoThreads { try softmax(b, axis: 2, mask: mask) }
        #expect(sa.one.data == sa.two.data && sb.one.data == sb.two.data)
        expectClose(sb.two, naive(b, axis: 2) { i in mask.data[(i / 9000) * 18 + i % 18] != 0 }, "broadcast mask, 2 threads")
    }

    @Test func rejectsBadMaskAndAxis() {
        #expect(throws: TensorError.self) { try softmax(Tensor(shape: [2, 3]), axis: 2) }
        #expect(throws: TensorError.self) { try softmax(Tensor(shape: [2, 3]), axis: 1, mask: Tensor(shape: [2, 2])) }
        #expect(throws: TensorError.self) { try softmax(Tensor(shape: [2, 3]), axis: 1, mask: Tensor(shape: [3])) }
    }
}
