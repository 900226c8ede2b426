import Testing
@testable import MirrorGAN

@Suite struct ConvTests {
    /// Direct 7-loop convolution in Double with explicit zero padding.
    func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), pad: Padding2D, groups: Int) -> Tensor {
        let (n, h, wd) = (x.shape[0], x.shape[2], x.shape[3])
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let oh = (h + pad.top + pad.bottom - kh) / stride.0 + 1
        let ow = (wd + pad.left + pad.right - kw) / stride.1 + 1
        let og = o / groups
        var out = Tensor(shape: [n, o, oh, ow])
        for i in 0..<n {
            for oc in 0..<o {
                let g = oc / og
                for y in 0..<oh {
                    for xx in 0..<ow {
                        var s = Double(b?.data[oc] ?? 0)
                        for ci in 0..<cg {
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let iy = y * stride.0 + ky - pad.top, ix = xx * stride.1 + kx - pad.left
                                    if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                                    s += Double(x[i, g * cg + ci, iy, ix]) * Double(w[oc, ci, ky, kx])
                                }
                            }
                        }
                        out[i, oc, y, xx] = Float(s)
                    }
                }
            }
        }
        return out
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let input: [Int], outChannels: Int, kernel: (Int, Int), stride: (Int, Int), pad: Padding2D, groups: Int, bias: Bool
        var testDescription: String { "x\(input) o\(outChannels) k\(kernel) s\(stride) p\(pad) g\(groups) bias \(bias)" }
    }

    static let cases: [Case] = [
        Case(input: [2, 3, 7, 5], outChannels: 4, kernel: (3, 3), stride: (1, 1), pad: Padding2D(1), groups: 1, bias: true),
        Case(input: [1, 5, 9, 8], outChannels: 6, kernel: (3, 3), stride: (2, 2), pad: Padding2D(top: 0, bottom: 1, left: 1, right: 1), groups: 1, bias: false),
        Case(input: [3, 4, 1, 1], outChannels: 5, kernel: (1, 1), stride: (1, 1), pad: .zero, groups: 1, bias: true),
        Case(input: [2, 6, 5, 6], outChannels: 4, kernel: (1, 1), stride: (1, 1), pad: .zero, groups: 2, bias: true),
        Case(input: [2, 6, 7, 7], outChannels: 9, kernel: (3, 2), stride: (2, 1), pad: Padding2D(top: 1, bottom: 0, left: 2, right: 1), groups: 3, bias: true),
        Case(input: [2, 5, 9, 7], outChannels: 5, kernel: (5, 5), stride: (2, 2), pad: Padding2D(top: 1, bottom: 2, left: 2, right: 2), groups: 5, bias: false),
        // Depthwise rows longer than one 8-lane vector plus a tail, strides 1 and 2 (the backbone's).
        Case(input: [1, 3, 21, 27], outChannels: 3, kernel: (3, 3), stride: (1, 1), pad: Padding2D(1), groups: 3, bias: true),
        Case(input: [1, 4, 30, 37], outChannels: 4, kernel: (5, 5), stride: (2, 2), pad: Padding2D(top: 1, bottom: 2, left: 1, right: 2), groups: 4, bias: true),
        Case(input: [1, 2, 10, 20], outChannels: 4, kernel: (3, 3), stride: (3, 3), pad: Padding2D(1), groups: 2, bias: false),
        Case(input: [1, 3, 6, 6], outChannels: 6, kernel: (3, 3), stride: (1, 1), pad: Padding2D(1), groups: 3, bias: true),
        Case(input: [2, 4, 1, 1], outChannels: 4, kernel: (3, 3), stride: (1, 1), pad: Padding2D(1), groups: 4, bias: true),
        Case(input: [1, 2, 4, 4], outChannels: 3, kernel: (4, 4), stride: (1, 1), pad: .zero, groups: 1, bias: true),
        // The backbone's late depthwise shapes: 14² and 7² planes (one or two vectors per row, groups of
        // four vectors spanning rows), and a row of more than four vectors.
        Case(input: [1, 5, 14, 14], outChannels: 5, kernel: (5, 5), stride: (1, 1), pad: Padding2D(2), groups: 5, bias: true),
        Case(input: [2, 3, 7, 7], outChannels: 3, kernel: (3, 3), stride: (1, 1), pad: Padding2D(1), groups: 3, bias: true),
        Case(input: [1, 2, 15, 15], outChannels: 2, kernel: (5, 5), stride: (2, 2), pad: Padding2D(top: 1, bottom: 2, left: 1, right: 2), groups: 2, bias: true),
        Case(input: [1, 2, 5, 70], outChannels: 2, kernel: (3, 3), stride: (1, 1), pad: Padding2D(1), groups: 2, bias: false),
    ]

    @Test(arguments: cases)
    func conv2dMatchesNaive(_ c: Case) throws {
        var rng = TestRandom(seed: UInt64(c.input.reduce(1, *) * 31 + c.outChannels))
        let x = rng.tensor(c.input)
        let w = rng.tensor([c.outChannels, c.input[1] / c.groups, c.kernel.0, c.kernel.1])
        let b = c.bias ? rng.tensor([c.outChannels]) : nil
        let got = try conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.pad, groups: c.groups)
        let reference = naiveConv(x, w, b, stride: c.stride, pad: c.pad, groups: c.groups)
        expectClose(got, reference, tolerance: 1e-5, relative: 1e-5)
        // The fused ReLU6 epilogue (the backbone's) equals relu6 of the plain result.
        let clamped = try conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.pad, groups: c.groups, relu6: true)
        expectClose(clamped, relu6(reference), tolerance: 1e-5, relative: 1e-5)
        #expect(clamped.data.allSatisfy { $0 >= 0 && $0 <= 6 })
    }

    /// The MBConv fusions: a producer's pending bias + ReLU6 applied by the depthwise conv as it reads each
    /// plane, and a residual added in the bias pass (depthwise and GEMM paths), against the unfused
    /// operations on the naive convolution; at 1 and 2 threads.
    @Test(arguments: [(3, 1, 14), (5, 2, 15), (3, 1, 7), (5, 1, 9)])
    func conv2dFusedEpiloguesMatchUnfused(_ k: Int, _ s: Int, _ size: Int) throws {
        var rng = TestRandom(seed: UInt64(k * 100 + s * 10 + size))
        let c = 6
        let x = rng.tensor([2, c, size, size])
        let inBias = rng.tensor([c])
        let w = rng.tensor([c, 1, k, k]), b = rng.tensor([c])
        let pad = Padding2D.tfSame(height: size, width: size, kernel: (k, k), stride: (s, s))
        // relu6(x + inBias) per channel, as the expand conv's epilogue would have produced it.
        let plane = size * size
        let activated = try Tensor(shape: x.shape, data: x.data.indices.map {
            Swift.min(Swift.max(x.data[$0] + inBias.data[($0 / plane) % c], 0), 6)
        })
        let plain = naiveConv(activated, w, b, stride: (s, s), pad: pad, groups: c)
        let residual = rng.tensor(plain.shape)
        let expected = relu6(try add(plain, residual))
        let (one, two) = try atOneAndTwoThreads {
            try conv2d(x, weight: w, bias: b, stride: (s, s), padding: pad, groups: c, relu6: true,
                       residual: residual, inputBias: inBias, inputRelu6: true)
        }
        expectClose(one, expected, tolerance: 1e-5, relative: 1e-5)
        #expect(one == two)
        // The input epilogue without ReLU6, and no output epilogue at all.
        let shifted = try Tensor(shape: x.shape, data: x.data.indices.map { x.data[$0] + inBias.data[($0 / plane) % c] })
        let bare = try conv2d(x, weight: w, stride: (s, s), padding: pad, groups: c, inputBias: inBias)
        expectClose(bare, naiveConv(shifted, w, nil, stride: (s, s), pad: pad, groups: c), tolerance: 1e-5, relative: 1e-5)
        // A dense (GEMM) 1×1 conv with a residual: bias, then residual, in one pass.
        let wp = rng.tensor([4, c, 1, 1]), bp = rng.tensor([4])
        let dense = naiveConv(x, wp, bp, stride: (1, 1), pad: .zero, groups: 1)
        let r2 = rng.tensor(dense.shape)
        expectClose(try conv2d(x, weight: wp, bias: bp, residual: r2), try add(dense, r2), tolerance: 1e-5, relative: 1e-5)
    }

    @Test func conv2dRejectsBadEpilogues() {
        let x = Tensor(shape: [1, 4, 5, 5])
        // An input epilogue needs a depthwise convolution; its bias one value per input channel.
        #expect(throws: TensorError.self) { try conv2d(x, weight: Tensor(shape: [2, 4, 1, 1]), inputRelu6: true) }
        #expect(throws: TensorError.self) {
            try conv2d(x, weight: Tensor(shape: [4, 1, 3, 3]), padding: Padding2D(1), groups: 4, inputBias: Tensor(shape: [3]))
        }
        #expect(throws: TensorError.self) {
            try conv2d(x, weight: Tensor(shape: [2, 4, 1, 1]), residual: Tensor(shape: [1, 2, 4, 4]))
        }
    }

    /// The vectorised ReLU6 of the fused epilogues (bit tricks, no min/max) against the scalar clamp.
    @Test func vectorRelu6MatchesScalar() {
        let values: [Float] = [-.infinity, -1e30, -6, -1e-30, -0.0, 0, 1e-30, 0.5, 5.999999, 6, 6.000001, 1e30, .infinity,
                               -3, 3, 2.5, 7, -7]
        for start in stride(from: 0, to: values.count, by: 8) {
            var v = Float8(repeating: 1)
            for l in 0..<Swift.min(8, values.count - start) { v[l] = values[start + l] }
            let r = MirrorGAN.relu6(v)
            for l in 0..<8 {
                #expect(r[l] == Swift.min(Swift.max(v[l], 0), 6), "relu6(\(v[l]))")
                #expect(r[l].sign == .plus, "relu6(\(v[l])) is not −0")
            }
        }
    }

    @Test func tfSamePadding() {
        // 224 input, 3×3 stride 2: output 112, total padding 1 → (0, 1): the extra row goes at the bottom.
        #expect(Padding2D.tfSame(input: 224, kernel: 3, stride: 2) == (0, 1))
        #expect(Padding2D.tfSame(input: 112, kernel: 5, stride: 2) == (1, 2))
        #expect(Padding2D.tfSame(input: 14, kernel: 3, stride: 1) == (1, 1))
        #expect(Padding2D.tfSame(input: 9, kernel: 3, stride: 2) == (1, 1))
        #expect(Padding2D.tfSame(input: 7, kernel: 1, stride: 1) == (0, 0))
        #expect(Padding2D.tfSame(height: 224, width: 223, kernel: (3, 3), stride: (2, 2))
                == Padding2D(top: 0, bottom: 1, left: 1, right: 1))
    }

    /// TF-SAME stride-2 convolutions against PyTorch (F.pad + conv2d, as Conv2dStaticSamePadding).
    @Test func tfSameStride2MatchesPyTorch() throws {
        let f = try loadFixture("conv_same.safetensors")
        let x = try f.require("x")
        for (name, groups) in [("dense", 1), ("depthwise", 3)] {
            let w = try f.require("\(name)_weight")
            let pad = Padding2D.tfSame(height: x.shape[2], width: x.shape[3],
                                       kernel: (w.shape[2], w.shape[3]), stride: (2, 2))
            let p = try f.require("\(name)_padding").data.map(Int.init)
            #expect([pad.top, pad.bottom, pad.left, pad.right] == p, "\(name) padding")
            let got = try conv2d(x, weight: w, bias: f["\(name)_bias"], stride: (2, 2), padding: pad, groups: groups)
            expectClose(got, try f.require("\(name)_out"), tolerance: 1e-5, name)
        }
    }

    @Test func conv2dRejectsBadArguments() {
        let x = Tensor(shape: [1, 4, 5, 5])
        #expect(throws: TensorError.self) { try conv2d(x, weight: Tensor(shape: [2, 3, 3, 3])) }  // C/groups
        #expect(throws: TensorError.self) { try conv2d(x, weight: Tensor(shape: [3, 2, 3, 3]), groups: 2) }  // O % groups
        #expect(throws: TensorError.self) { try conv2d(x, weight: Tensor(shape: [2, 4, 7, 7])) }  // kernel > input
        #expect(throws: TensorError.self) { try conv2d(x, weight: Tensor(shape: [2, 4, 1, 1]), stride: (0, 1)) }
        #expect(throws: TensorError.shapeMismatch(op: "conv2d bias", expected: [2], actual: [3])) {
            try conv2d(x, weight: Tensor(shape: [2, 4, 1, 1]), bias: Tensor(shape: [3]))
        }
        #expect(throws: TensorError.self) { try conv2d(Tensor(shape: [4, 5, 5]), weight: Tensor(shape: [2, 4, 1, 1])) }
    }
}
