import Testing
@testable import MirrorGAN

@Suite struct ResizeTests {
    @Test(arguments: [[1, 1, 1, 1], [2, 3, 4, 5], [1, 2, 3, 1]])
    func nearest2xMatchesNaive(shape: [Int]) throws {
        var rng = TestRandom(seed: 1)
        let x = rng.tensor(shape)
        let got = try upsampleNearest2x(x)
        var expected = Tensor(shape: [shape[0], shape[1], 2 * shape[2], 2 * shape[3]])
        for n in 0..<shape[0] { for c in 0..<shape[1] { for y in 0..<2 * shape[2] { for xx in 0..<2 * shape[3] {
            expected[n, c, y, xx] = x[n, c, y / 2, xx / 2]
        } } } }
        #expect(got == expected)
    }

    /// Bilinear interpolation written from the PyTorch formulas, in Double.
    func naiveBilinear(_ x: Tensor, _ oh: Int, _ ow: Int, _ ac: Bool) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        func source(_ d: Int, _ input: Int, _ output: Int) -> (Int, Int, Double) {
            let s: Double = ac ? (output > 1 ? Double(d) * Double(input - 1) / Double(output - 1) : 0)
                               : max((Double(d) + 0.5) * Double(input) / Double(output) - 0.5, 0)
            let i0 = min(Int(s), input - 1)
            return (i0, min(i0 + 1, input - 1), s - Double(i0))
        }
        var out = Tensor(shape: [x.shape[0], x.shape[1], oh, ow])
        for n in 0..<x.shape[0] { for c in 0..<x.shape[1] { for y in 0..<oh { for xx in 0..<ow {
            let (y0, y1, ly) = source(y, h, oh), (x0, x1, lx) = source(xx, w, ow)
            func v(_ a: Int, _ b: Int) -> Double { Double(x[n, c, a, b]) }
            let top = (1 - lx) * v(y0, x0) + lx * v(y0, x1), bottom = (1 - lx) * v(y1, x0) + lx * v(y1, x1)
            out[n, c, y, xx] = Float((1 - ly) * top + ly * bottom)
        } } } }
        return out
    }

    @Test(arguments: [([2, 3, 5, 7], 11, 13), ([2, 3, 5, 7], 3, 4), ([1, 2, 1, 1], 3, 2), ([1, 1, 6, 4], 1, 1),
                      ([1, 2, 9, 9], 9, 9), ([1, 1, 10, 3], 224 / 16, 5)])
    func bilinearMatchesNaive(shape: [Int], oh: Int, ow: Int) throws {
        var rng = TestRandom(seed: UInt64(oh * 100 + ow))
        let x = rng.tensor(shape)
        for ac in [false, true] {
            expectClose(try resizeBilinear(x, height: oh, width: ow, alignCorners: ac), naiveBilinear(x, oh, ow, ac),
                        "\(shape) → \(oh)×\(ow) align_corners \(ac)")
        }
    }

    @Test func bilinearMatchesPyTorch() throws {
        let f = try loadFixture("bilinear.safetensors")
        let x = try f.require("x"), one = try f.require("x1")
        for ac in [false, true] {
            let tag = ac ? "true" : "false"
            expectClose(try resizeBilinear(x, height: 11, width: 13, alignCorners: ac), try f.require("up_\(tag)"), "up \(tag)")
            expectClose(try resizeBilinear(x, height: 3, width: 4, alignCorners: ac), try f.require("down_\(tag)"), "down \(tag)")
            expectClose(try resizeBilinear(x, height: 2, width: 9, alignCorners: ac), try f.require("mixed_\(tag)"), "mixed \(tag)")
            expectClose(try resizeBilinear(one, height: 3, width: 2, alignCorners: ac), try f.require("one_\(tag)"), "1×1 \(tag)")
        }
    }

    @Test func identitySizeIsExact() throws {
        var rng = TestRandom(seed: 2)
        let x = rng.tensor([1, 3, 4, 6])
        #expect(try resizeBilinear(x, height: 4, width: 6, alignCorners: false) == x)
        #expect(try resizeBilinear(x, height: 4, width: 6, alignCorners: true) == x)
    }

    @Test func rejectsBadArguments() {
        #expect(throws: TensorError.self) { try resizeBilinear(Tensor(shape: [1, 1, 2, 2]), height: 0, width: 2, alignCorners: false) }
        #expect(throws: TensorError.self) { try resizeBilinear(Tensor(shape: [1, 2, 2]), height: 2, width: 2, alignCorners: false) }
        #expect(throws: TensorError.self) { try upsampleNearest2x(Tensor(shape: [2, 2])) }
    }
}
