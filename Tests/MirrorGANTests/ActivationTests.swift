import Foundation
import Testing
@testable import MirrorGAN

@Suite struct ActivationTests {
    let x: Tensor = {
        var rng = TestRandom(seed: 21)
        var t = rng.tensor([2, 3, 5, 7], -8, 8)
        t[0, 0, 0, 0] = 0; t[0, 0, 0, 1] = 6; t[0, 0, 0, 2] = -100; t[0, 0, 0, 3] = 100
        return t
    }()

    func naive(_ f: (Double) -> Double) -> Tensor {
        try! Tensor(shape: x.shape, data: x.data.map { Float(f(Double($0))) })
    }

    @Test func elementwiseActivations() {
        expectClose(MirrorGAN.tanh(x), naive { Foundation.tanh($0) }, "tanh")
        expectClose(relu6(x), naive { min(max($0, 0), 6) }, "relu6")
    }

    @Test(arguments: [[1, 2], [3, 8, 5, 7], [2, 4, 1, 1], [2, 6, 3]])
    func gluMatchesNaive(shape: [Int]) throws {
        var rng = TestRandom(seed: UInt64(shape.reduce(1, *)))
        let t = rng.tensor(shape, -4, 4)
        let half = shape[1] / 2, inner = shape.dropFirst(2).reduce(1, *)
        var expected = [Float]()
        for n in 0..<shape[0] {
            for c in 0..<half {
                for i in 0..<inner {
                    let a = Double(t.data[(n * shape[1] + c) * inner + i])
                    let g = Double(t.data[(n * shape[1] + c + half) * inner + i])
                    expected.append(Float(a / (1 + Foundation.exp(-g))))
                }
            }
        }
        var outShape = shape
        outShape[1] = half
        expectClose(try glu(t), try Tensor(shape: outShape, data: expected), "glu \(shape)")
    }

    @Test func gluRejectsOddChannels() {
        #expect(throws: TensorError.self) { try glu(Tensor(shape: [1, 3, 2, 2])) }
        #expect(throws: TensorError.self) { try glu(Tensor(shape: [4])) }
    }

    @Test func elementwiseArithmetic() throws {
        let a = try Tensor(shape: [3], data: [1, 2, 3]), b = try Tensor(shape: [3], data: [4, -5, 0.5])
        #expect(try add(a, b).data == [5, -3, 3.5])
        #expect(throws: TensorError.self) { try add(a, Tensor(shape: [1, 3])) }
    }
}
