import Testing
@testable import MirrorGAN

@Suite struct TensorTests {
    @Test func zerosAndShape() {
        let t = Tensor(shape: [2, 3, 4])
        #expect(t.count == 24)
        #expect(t.rank == 3)
        #expect(t.data.allSatisfy { $0 == 0 })
        #expect(t.dim(-1) == 4)
        #expect(Tensor(shape: []).count == 1)
        #expect(Tensor(shape: [3, 0]).count == 0)
    }

    @Test func initWithDataThrowsOnMismatch() {
        #expect(throws: TensorError.dataCountMismatch(shape: [2, 2], expected: 4, actual: 3)) {
            try Tensor(shape: [2, 2], data: [1, 2, 3])
        }
        #expect(throws: TensorError.invalidShape([2, -1])) { try Tensor(shape: [2, -1], data: []) }
        #expect(throws: TensorError.invalidShape([Int.max, 2])) { try Tensor(shape: [Int.max, 2], data: []) }
    }

    @Test func subscriptIsRowMajor() throws {
        var t = try Tensor(shape: [2, 3], data: [0, 1, 2, 3, 4, 5])
        #expect(t[1, 2] == 5)
        #expect(t[0, 1] == 1)
        t[1, 0] = 9
        #expect(t.data == [0, 1, 2, 9, 4, 5])
        #expect(Tensor.strides(of: [2, 3, 4]) == [12, 4, 1])
    }

    @Test func reshape() throws {
        let t = try Tensor(shape: [2, 3], data: [0, 1, 2, 3, 4, 5])
        let r = try t.reshaped([3, 2])
        #expect(r.shape == [3, 2])
        #expect(r.data == t.data)
        #expect(try t.reshaped([-1]).shape == [6])
        #expect(try t.reshaped([1, -1, 2]).shape == [1, 3, 2])
        #expect(throws: TensorError.invalidReshape(from: [2, 3], to: [4, 2])) { try t.reshaped([4, 2]) }
        #expect(throws: TensorError.invalidReshape(from: [2, 3], to: [-1, -1])) { try t.reshaped([-1, -1]) }
        #expect(throws: TensorError.invalidReshape(from: [2, 3], to: [4, -1])) { try t.reshaped([4, -1]) }
    }

    @Test func valueSemantics() throws {
        let a = try Tensor(shape: [2], data: [1, 2])
        var b = a
        b[0] = 7
        #expect(a.data == [1, 2])
        #expect(b.data == [7, 2])
    }

    @Test func errorDescriptionsNameOpAndShapes() {
        let e = TensorError.shapeMismatch(op: "conv2d bias", expected: [4], actual: [5])
        #expect(e.description == "conv2d bias: shape mismatch: expected [4], got [5]")
        #expect(TensorError.invalidReshape(from: [2, 3], to: [4]).description.contains("[2, 3]"))
    }
}
