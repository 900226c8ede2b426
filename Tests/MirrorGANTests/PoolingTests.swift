import Testing
@testable import MirrorGAN

/// The trunks' pooling kernels, the ReLU epilogue of the convolution and the spatial mean against naive
/// implementations (ncnn style: every window enumerated over a virtually padded input).
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

    // The trunks' cases first: Inception's 3×3/2 max pool without padding and 3×3/1 average pool with padding 1
    // (count_include_pad) at odd sizes, ResNet's 3×3/2 max pool with padding 1; then general shapes.
    @Test(arguments: [([1, 3, 147, 147], (3, 3), (2, 2), Padding2D.zero), ([2, 4, 17, 17], (3, 3), (1, 1), Padding2D(1)),
                      ([1, 2, 112, 112], (3, 3), (2, 2), Padding2D(1)), ([2, 3, 7, 6], (3, 3), (2, 2), Padding2D(1)),
                      ([1, 2, 5, 5], (2, 2), (2, 2), Padding2D.zero), ([2, 1, 1, 1], (1, 1), (1, 1), Padding2D.zero),
                      ([1, 2, 6, 7], (3, 2), (1, 2), Padding2D(vertical: 1, horizontal: 1)),
                      ([1, 1, 4, 4], (3, 3), (1, 1), Padding2D(top: 0, bottom: 1, left: 1, right: 0))])
    func poolingMatchesNaive(shape: [Int], kernel: (Int, Int), stride: (Int, Int), padding: Padding2D) throws {
        var rng = TestRandom(seed: UInt64(shape.reduce(1, *)))
        let x = rng.tensor(shape, -2, 2)
        expectClose(try avgPool2d(x, kernel: kernel, stride: stride, padding: padding, countIncludePad: true),
                    naivePool(x, k: kernel, s: stride, p: padding, mode: "include"), tolerance: 1e-6, "avg include")
        expectClose(try avgPool2d(x, kernel: kernel, stride: stride, padding: padding, countIncludePad: false),
                    naivePool(x, k: kernel, s: stride, p: padding, mode: "exclude"), tolerance: 1e-6, "avg exclude")
        #expect(try maxPool2d(x, kernel: kernel, stride: stride, padding: padding)
                == naivePool(x, k: kernel, s: stride, p: padding, mode: "max"), "max is exact")
    }

    @Test func poolingIsIdenticalAtOneAndTwoThreads() throws {
        var rng = TestRandom(seed: 11)
        let x = rng.tensor([1, 5, 35, 35])
        let avg = try atOneAndTwoThreads { try avgPool2d(x, kernel: (3, 3), stride: (1, 1), padding: Padding2D(1)) }
        let max = try atOneAndTwoThreads { try maxPool2d(x, kernel: (3, 3), stride: (2, 2)) }
        let mean = try atOneAndTwoThreads { try spatialMean(x) }
        Runtime.setThreads(1)
        #expect(avg.one == avg.two && max.one == max.two && mean.one == mean.two)
    }

    @Test func maxPoolPropagatesNaN() throws {
        var x = Tensor(shape: [1, 1, 3, 3])
        x[0, 0, 1, 1] = .nan
        #expect(try maxPool2d(x, kernel: (3, 3), stride: (2, 2)).data[0].isNaN)
    }

    @Test func defaultStrideIsKernel() throws {
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([1, 2, 6, 6])
        #expect(try avgPool2d(x, kernel: (2, 3)) == avgPool2d(x, kernel: (2, 3), stride: (2, 3)))
        #expect(try maxPool2d(x, kernel: (2, 2)).shape == [1, 2, 3, 3])
    }

    @Test func spatialMeanMatchesNaive() throws {
        var rng = TestRandom(seed: 8)
        let x = rng.tensor([2, 3, 8, 8])
        var expected = Tensor(shape: [2, 3])
        for n in 0..<2 { for c in 0..<3 {
            var s = 0.0
            for y in 0..<8 { for xx in 0..<8 { s += Double(x[n, c, y, xx]) } }
            expected[n, c] = Float(s / 64)
        } }
        expectClose(try spatialMean(x), expected, tolerance: 1e-6, "mean over 8×8")
    }

    /// The Inception / ResNet conv epilogue: bias, residual, then max(·, 0), against the separate operations.
    @Test(arguments: [(false, (3, 3), Padding2D(1)), (true, (1, 7), Padding2D(vertical: 0, horizontal: 3)),
                      (false, (7, 1), Padding2D(vertical: 3, horizontal: 0)), (true, (1, 1), Padding2D.zero)])
    func convReLUEpilogueMatchesSeparateOps(withResidual: Bool, kernel: (Int, Int), padding: Padding2D) throws {
        var rng = TestRandom(seed: UInt64(kernel.0 * 10 + kernel.1))
        let x = rng.tensor([1, 5, 9, 11])
        let w = rng.tensor([6, 5, kernel.0, kernel.1])
        let b = rng.tensor([6])
        let plain = try conv2d(x, weight: w, bias: b, padding: padding)
        let residual = withResidual ? rng.tensor(plain.shape) : nil
        let fused = try conv2d(x, weight: w, bias: b, stride: (1, 1), padding: padding, groups: 1, relu6: false,
                               residual: residual, inputBias: nil, inputRelu6: false, transposedWeight: nil, relu: true)
        var expected = plain
        if let residual { expected = try add(expected, residual) }
        expected = try Tensor(shape: expected.shape, data: expected.data.map { max($0, 0) })
        #expect(maxAbsDiff(fused, expected) == 0, "the epilogue is the same arithmetic")
    }

    @Test func rejectsBadArguments() {
        let x = Tensor(shape: [1, 1, 4, 4])
        #expect(throws: TensorError.self) { try avgPool2d(x, kernel: (2, 2), padding: Padding2D(2)) }  // pad > k/2
        #expect(throws: TensorError.self) { try maxPool2d(x, kernel: (5, 5)) }
        #expect(throws: TensorError.self) { try avgPool2d(x, kernel: (0, 2)) }
        #expect(throws: TensorError.self) { try spatialMean(Tensor(shape: [2, 3])) }
    }
}
