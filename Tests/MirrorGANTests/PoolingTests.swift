import Testing
@testable import MirrorGAN

@Suite struct PoolingTests {
    /// Pooling by enumerating each window over a virtually padded input (padding marked nil).
    func naivePool(_ x: Tensor, k: (Int, Int), s: (Int, Int), p: Padding2D, mode: String) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        let oh = (h + p.top + p.bottom - k.0) / s.0 + 1, ow = (w + p.left + p.right - k.1) / s.1 + 1
        var out = Tensor(shape: [x.shape[0], x.shape[1], oh, ow])
        for n in 0..<x.shape[0] { for c in 0..<x.shape[1] { for y in 0..<oh { for xx in 0..<ow {
            var values = [Float?]()
            for ky in 0..<k.0 { for kx in 0..<k.1 {
                let iy = y * s.0 + ky - p.top, ix = xx * s.1 + kx - p.left
                values.append(iy >= 0 && iy < h && ix >= 0 && ix < w ? x[n, c, iy, ix] : nil)
            } }
            let real = values.compactMap { $0 }
            let sum = real.reduce(0.0) { $0 + Double($1) }
            switch mode {
            case "include": out[n, c, y, xx] = Float(sum / Double(values.count))
            case "exclude": out[n, c, y, xx] = Float(sum / Double(real.count))
            default: out[n, c, y, xx] = real.max() ?? -.infinity
            }
        } } } }
        return out
    }

    @Test(arguments: [([2, 3, 7, 6], (3, 3), (2, 2), Padding2D(1)), ([1, 2, 5, 5], (2, 2), (2, 2), Padding2D.zero),
                      ([2, 1, 1, 1], (1, 1), (1, 1), Padding2D.zero), ([1, 2, 6, 7], (3, 2), (1, 2), Padding2D(vertical: 1, horizontal: 1)),
                      ([1, 1, 4, 4], (3, 3), (1, 1), Padding2D(top: 0, bottom: 1, left: 1, right: 0))])
    func poolingMatchesNaive(shape: [Int], kernel: (Int, Int), stride: (Int, Int), padding: Padding2D) throws {
        var rng = TestRandom(seed: UInt64(shape.reduce(1, *)))
        let x = rng.tensor(shape, -2, 2)
        expectClose(try avgPool2d(x, kernel: kernel, stride: stride, padding: padding, countIncludePad: true),
                    naivePool(x, k: kernel, s: stride, p: padding, mode: "include"), "avg include")
        expectClose(try avgPool2d(x, kernel: kernel, stride: stride, padding: padding, countIncludePad: false),
                    naivePool(x, k: kernel, s: stride, p: padding, mode: "exclude"), "avg exclude")
        expectClose(try maxPool2d(x, kernel: kernel, stride: stride, padding: padding),
                    naivePool(x, k: kernel, s: stride, p: padding, mode: "max"), "max")
    }

    @Test func avgAndMaxPoolMatchPyTorch() throws {
        let f = try loadFixture("avg_pool.safetensors")
        let x = try f.require("x")
        expectClose(try avgPool2d(x, kernel: (3, 3), stride: (2, 2), padding: Padding2D(1), countIncludePad: true),
                    try f.require("k3s2p1_include"), "k3 s2 p1 include")
        expectClose(try avgPool2d(x, kernel: (3, 3), stride: (2, 2), padding: Padding2D(1), countIncludePad: false),
                    try f.require("k3s2p1_exclude"), "k3 s2 p1 exclude")
        expectClose(try avgPool2d(x, kernel: (3, 2), stride: (1, 2), padding: Padding2D(1), countIncludePad: true),
                    try f.require("k32s12p11_include"), "k3x2 include")
        expectClose(try avgPool2d(x, kernel: (3, 2), stride: (1, 2), padding: Padding2D(1), countIncludePad: false),
                    try f.require("k32s12p11_exclude"), "k3x2 exclude")
        expectClose(try maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: Padding2D(1)), try f.require("maxk3s2p1"), "max")
    }

    @Test func defaultStrideIsKernel() throws {
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([1, 2, 6, 6])
        #expect(try avgPool2d(x, kernel: (2, 3)) == avgPool2d(x, kernel: (2, 3), stride: (2, 3)))
        #expect(try maxPool2d(x, kernel: (2, 2)).shape == [1, 2, 3, 3])
    }

    func naiveAdaptive(_ x: Tensor, _ oh: Int, _ ow: Int) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        var out = Tensor(shape: [x.shape[0], x.shape[1], oh, ow])
        for n in 0..<x.shape[0] { for c in 0..<x.shape[1] { for i in 0..<oh { for j in 0..<ow {
            let y0 = Int((Double(i * h) / Double(oh)).rounded(.down)), y1 = Int((Double((i + 1) * h) / Double(oh)).rounded(.up))
            let x0 = Int((Double(j * w) / Double(ow)).rounded(.down)), x1 = Int((Double((j + 1) * w) / Double(ow)).rounded(.up))
            var s = 0.0
            for y in y0..<y1 { for xx in x0..<x1 { s += Double(x[n, c, y, xx]) } }
            out[n, c, i, j] = Float(s / Double((y1 - y0) * (x1 - x0)))
        } } } }
        return out
    }

    @Test(arguments: [([2, 3, 7, 10], 3, 4), ([1, 2, 14, 14], 1, 1), ([1, 1, 5, 3], 5, 3), ([2, 2, 3, 4], 7, 9), ([1, 1, 1, 1], 2, 2)])
    func adaptiveMatchesNaive(shape: [Int], oh: Int, ow: Int) throws {
        var rng = TestRandom(seed: UInt64(oh * ow))
        let x = rng.tensor(shape)
        expectClose(try adaptiveAvgPool2d(x, outputSize: (oh, ow)), naiveAdaptive(x, oh, ow), "adaptive \(shape) → \(oh)×\(ow)")
    }

    @Test func adaptiveMatchesPyTorch() throws {
        let f = try loadFixture("adaptive_avg_pool.safetensors")
        let x = try f.require("x")
        for (oh, ow) in [(3, 4), (1, 1), (5, 7), (9, 13)] {
            expectClose(try adaptiveAvgPool2d(x, outputSize: (oh, ow)), try f.require("out_\(oh)x\(ow)"), "\(oh)×\(ow)")
        }
    }

    @Test func rejectsBadArguments() {
        let x = Tensor(shape: [1, 1, 4, 4])
        #expect(throws: TensorError.self) { try avgPool2d(x, kernel: (2, 2), padding: Padding2D(2)) }  // pad > k/2
        #expect(throws: TensorError.self) { try maxPool2d(x, kernel: (5, 5)) }
        #expect(throws: TensorError.self) { try avgPool2d(x, kernel: (0, 2)) }
        #expect(throws: TensorError.self) { try adaptiveAvgPool2d(x, outputSize: (0, 1)) }
    }
}
