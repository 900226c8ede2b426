import Foundation
import Testing
@testable import MirrorGAN

@Suite struct BatchNormTests {
    func parameters(_ c: Int, eps: Float, seed: UInt64) throws -> BatchNormParameters {
        var rng = TestRandom(seed: seed)
        return try BatchNormParameters(weight: rng.tensor([c]), bias: rng.tensor([c]), runningMean: rng.tensor([c]),
                                       runningVar: rng.tensor([c], 0.1, 2), eps: eps)
    }

    /// (x − mean) / sqrt(var + eps) · γ + β, literally.
    func naive(_ x: Tensor, _ p: BatchNormParameters) -> Tensor {
        let c = x.shape[1], plane = x.shape.dropFirst(2).reduce(1, *)
        var out = x
        out.withUnsafeMutableBufferPointer { d in
            for i in 0..<d.count {
                let ch = (i / plane) % c
                let v = (Double(d[i]) - Double(p.runningMean.data[ch])) / (Double(p.runningVar.data[ch]) + Double(p.eps)).squareRoot()
                d[i] = Float(v * Double(p.weight.data[ch]) + Double(p.bias.data[ch]))
            }
        }
        return out
    }

    @Test(arguments: [[3, 5], [2, 5, 7], [2, 5, 3, 4], [1, 5, 1, 1]])
    func batchNormMatchesNaive(shape: [Int]) throws {
        var rng = TestRandom(seed: 3)
        let x = rng.tensor(shape, -3, 3)
        for eps: Float in [1e-5, 1e-3] {
            let p = try parameters(5, eps: eps, seed: 9)
            expectClose(try batchNorm(x, p), naive(x, p), "eps \(eps)")
        }
    }

    @Test func foldIntoConvMatchesConvThenBatchNorm() throws {
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([2, 3, 6, 5])
        let w = rng.tensor([4, 3, 3, 3])
        let p = try parameters(4, eps: 1e-3, seed: 17)
        for bias in [nil, rng.tensor([4])] {
            let reference = try batchNorm(try conv2d(x, weight: w, bias: bias, padding: Padding2D(1)), p)
            let folded = try foldBatchNorm(weight: w, bias: bias, into: p)
            let got = try conv2d(x, weight: folded.weight, bias: folded.bias, padding: Padding2D(1))
            expectClose(got, reference, tolerance: 1e-5, "folded conv, bias \(bias != nil)")
        }
    }

    @Test func foldIntoLinearMatchesLinearThenBatchNorm() throws {
        var rng = TestRandom(seed: 6)
        let x = rng.tensor([3, 7])
        let w = rng.tensor([5, 7]), b = rng.tensor([5])
        let p = try parameters(5, eps: 1e-5, seed: 2)
        let reference = try batchNorm(try linear(x, weight: w, bias: b), p)
        let folded = try foldBatchNorm(weight: w, bias: b, into: p)
        expectClose(try linear(x, weight: folded.weight, bias: folded.bias), reference, "folded linear")
    }

    @Test func rejectsMismatchedParameters() throws {
        #expect(throws: TensorError.self) {
            try BatchNormParameters(weight: Tensor(shape: [3]), bias: Tensor(shape: [3]),
                                    runningMean: Tensor(shape: [4]), runningVar: Tensor(shape: [3]))
        }
        let p = try parameters(3, eps: 1e-5, seed: 1)
        #expect(throws: TensorError.self) { try batchNorm(Tensor(shape: [2, 4, 2, 2]), p) }
        #expect(throws: TensorError.self) { try foldBatchNorm(weight: Tensor(shape: [4, 2]), bias: nil, into: p) }
    }
}
