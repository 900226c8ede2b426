import Foundation
import Testing
@testable import MirrorGAN

/// The fused generator kernels (UpsampleConv3x3, WinogradF2x2, the vectorised exp/sigmoid of their
/// epilogues) against naive references: upsample → 7-loop 3×3 convolution with Double accumulation →
/// bias → epilogue, on odd sizes, 1×1 spatial inputs, batch 2, and a small block budget so that several
/// row blocks (and a short last block) are exercised.
@Suite("Fused kernels vs naive references")
struct FusedKernelTests {
    /// 3×3, stride-1, pad-1 convolution, Double accumulation.
    static func naiveConv3x3(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = w.shape[0]
        var out = Tensor(shape: [n, o, h, wd])
        for i in 0..<n {
            for oc in 0..<o {
                for y in 0..<h {
                    for xx in 0..<wd {
                        var s = Double(b?.data[oc] ?? 0)
                        for ic in 0..<c {
                            for ky in 0..<3 {
                                let iy = y + ky - 1
                                if iy < 0 || iy >= h { continue }
                                for kx in 0..<3 {
                                    let ix = xx + kx - 1
                                    if ix < 0 || ix >= wd { continue }
                                    s += Double(w.data[((oc * c + ic) * 3 + ky) * 3 + kx]) * Double(x.data[((i * c + ic) * h + iy) * wd + ix])
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

    static func naiveUpsample(_ x: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var out = Tensor(shape: [n, c, 2 * h, 2 * w])
        for i in 0..<n { for ch in 0..<c { for y in 0..<(2 * h) { for xx in 0..<(2 * w) {
            out[i, ch, y, xx] = x[i, ch, y / 2, xx / 2]
        } } } }
        return out
    }

    static func naiveGLU(_ x: Tensor) -> Tensor {
        let (n, c2) = (x.shape[0], x.shape[1])
        let c = c2 / 2, plane = x.shape[2] * x.shape[3]
        var data = [Float](repeating: 0, count: n * c * plane)
        for i in 0..<n { for ch in 0..<c { for p in 0..<plane {
            let a = Double(x.data[(i * c2 + ch) * plane + p]), g = Double(x.data[(i * c2 + c + ch) * plane + p])
            data[(i * c + ch) * plane + p] = Float(a / (1 + Foundation.exp(-g)))
        } } }
        return try! Tensor(shape: [n, c, x.shape[2], x.shape[3]], data: data)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let n, c, o, h, w: Int
        let budget: Int
        var testDescription: String { "n\(n) c\(c)→o\(o) \(h)×\(w) budget \(budget)" }
    }

    static let cases: [Case] = [
        .init(n: 1, c: 3, o: 4, h: 5, w: 7, budget: 2 << 20),
        .init(n: 2, c: 5, o: 6, h: 9, w: 6, budget: 2 << 20),
        .init(n: 1, c: 4, o: 2, h: 1, w: 1, budget: 2 << 20),
        .init(n: 2, c: 6, o: 8, h: 13, w: 11, budget: 1500),  // several blocks, short last block
        .init(n: 1, c: 8, o: 10, h: 16, w: 16, budget: 1),  // one row (tile row) per block
        .init(n: 1, c: 16, o: 32, h: 8, w: 12, budget: 2 << 20),
        .init(n: 1, c: 9, o: 12, h: 35, w: 35, budget: 2 << 20),  // the trunks' odd sizes (Inception's 35², ResNet's 7²)
        .init(n: 1, c: 24, o: 16, h: 7, w: 7, budget: 2 << 20),
    ]

    @Test(arguments: cases)
    func upsampleConvMatchesUpsampleThenConv(_ k: Case) throws {
        var rng = TestRandom(seed: UInt64(k.h * 131 + k.w * 7 + k.c))
        let x = rng.tensor([k.n, k.c, k.h, k.w])
        let w = rng.tensor([k.o, k.c, 3, 3], -0.5, 0.5)
        let b = rng.tensor([k.o])
        let layer = try UpsampleConv3x3(weight: w, bias: b)
        let reference = Self.naiveConv3x3(Self.naiveUpsample(x), w, b)
        let plain = try layer(x, glu: false, blockBudget: k.budget)
        #expect(maxAbsDiff(plain, reference) < 1e-4)
        let gated = try layer(x, glu: true, blockBudget: k.budget)
        #expect(maxAbsDiff(gated, Self.naiveGLU(reference)) < 1e-4)
        // The Winograd variant (phases as F(4×4, 3×3) output channels) computes the same upBlock.
        let wino = try WinogradF4x4(upsampling: w, bias: b)
        let viaWinograd = try wino(x, epilogue: .glu, blockBudget: k.budget)
        #expect(viaWinograd.shape == [k.n, k.o / 2, 2 * k.h, 2 * k.w])
        #expect(maxAbsDiff(viaWinograd, Self.naiveGLU(reference)) < 1e-4)
        #expect(throws: TensorError.self) { try wino(x, epilogue: .identity) }  // GLU only
    }

    /// A Winograd kernel (built from weight and bias; run with an epilogue) against the naive convolution
    /// with every epilogue. Returns the inputs for further checks.
    static func expectEpiloguesMatch(_ k: Case, seed: UInt64,
                                     _ make: (Tensor, Tensor) throws -> (Tensor, ConvEpilogue) throws -> Tensor) throws
        -> (x: Tensor, w: Tensor, b: Tensor, run: (Tensor, ConvEpilogue) throws -> Tensor) {
        var rng = TestRandom(seed: seed)
        let x = rng.tensor([k.n, k.c, k.h, k.w])
        let w = rng.tensor([k.o, k.c, 3, 3], -0.5, 0.5)
        let b = rng.tensor([k.o])
        let run = try make(w, b)
        let reference = Self.naiveConv3x3(x, w, b)
        #expect(maxAbsDiff(try run(x, .identity), reference) < 1e-4)
        #expect(maxAbsDiff(try run(x, .glu), Self.naiveGLU(reference)) < 1e-4)
        #expect(maxAbsDiff(try run(x, .tanh), MirrorGAN.tanh(reference)) < 1e-4)
        let r = rng.tensor(reference.shape)
        #expect(maxAbsDiff(try run(x, .residual(r)), try add(reference, r)) < 1e-4)
        let relu = try Tensor(shape: reference.shape, data: reference.data.map { max($0, 0) })
        #expect(maxAbsDiff(try run(x, .relu), relu) < 1e-4, "ReLU epilogue (the trunks')")
        return (x, w, b, run)
    }

    @Test(arguments: cases)
    func winogradMatchesDirectConvolution(_ k: Case) throws {
        let (x, w, b, run) = try Self.expectEpiloguesMatch(k, seed: UInt64(k.h * 17 + k.w * 3 + k.o)) { w, b in
            let layer = try WinogradF2x2(weight: w, bias: b)
            return { x, e in try layer(x, epilogue: e, blockBudget: k.budget) }
        }
        // Also the library's own im2col convolution, within float rounding.
        #expect(maxAbsDiff(try run(x, .identity), try conv2d(x, weight: w, bias: b, padding: Padding2D(1))) < 1e-4)
    }

    static let cases4x3: [Case] = cases + [
        .init(n: 1, c: 32, o: 64, h: 19, w: 21, budget: 2 << 20),  // generator-like widths, ragged edges
        .init(n: 1, c: 7, o: 6, h: 4, w: 4, budget: 2 << 20),  // exactly one tile
        .init(n: 1, c: 5, o: 4, h: 33, w: 40, budget: 3000),  // rows of 10 tiles (a vector plus a tail)
    ]

    @Test(arguments: cases4x3)
    func winograd4x3MatchesDirectConvolution(_ k: Case) throws {
        let (x, w, b, run) = try Self.expectEpiloguesMatch(k, seed: UInt64(k.h * 29 + k.w * 5 + k.o)) { w, b in
            let layer = try WinogradF4x4(weight: w, bias: b)
            return { x, e in try layer(x, epilogue: e, blockBudget: k.budget) }
        }
        // The same function as F(2, 3), which the parity tests pinned to PyTorch.
        #expect(maxAbsDiff(try run(x, .identity), try WinogradF2x2(weight: w, bias: b)(x)) < 1e-4)
    }

    @Test func winograd4x3BadArgumentsAndThreadCount() throws {
        var rng = TestRandom(seed: 6)
        let x = rng.tensor([1, 3, 10, 9])
        let layer = try WinogradF4x4(weight: rng.tensor([4, 3, 3, 3]), bias: nil)
        #expect(throws: TensorError.self) { try layer(rng.tensor([1, 4, 4, 5])) }
        #expect(throws: TensorError.self) { try layer(x, epilogue: .residual(Tensor(shape: [1, 4, 10, 8]))) }
        #expect(throws: TensorError.self) { try WinogradF4x4(weight: Tensor(shape: [2, 3, 5, 5]), bias: nil) }
        #expect(throws: TensorError.self) { try WinogradF4x4(weight: rng.tensor([2, 3, 3, 3]), bias: Tensor(shape: [3])) }
        #expect(throws: TensorError.self) { try WinogradF4x4(weight: rng.tensor([3, 3, 3, 3]), bias: nil)(x, epilogue: .glu) }
        #expect(throws: TensorError.self) { try WinogradF4x4(upsampling: rng.tensor([3, 3, 3, 3]), bias: nil) }  // odd O: no GLU
        let up = try WinogradF4x4(upsampling: rng.tensor([8, 3, 3, 3]), bias: rng.tensor([8]))
        let xu = rng.tensor([1, 3, 9, 11])
        let u = try atOneAndTwoThreads { try up(xu, epilogue: .glu, blockBudget: 5000) }
        #expect(u.one.data == u.two.data)
        let big = try WinogradF4x4(weight: rng.tensor([32, 16, 3, 3]), bias: rng.tensor([32]))
        let xb = rng.tensor([1, 16, 23, 18])
        let a = try atOneAndTwoThreads { try big(xb, epilogue: .glu, blockBudget: 40000) }
        #expect(a.one.data == a.two.data)
    }

    /// The default blocking (no `blockBudget`) at a generator layer's shape (128², 64 → 128 channels): the
    /// block's tile count, which is the GEMMs' N, must not follow the thread count. It once did, and OpenBLAS's
    /// sums then differed in the last bit between 1 and 2 threads (seen through the pipeline's DAMSM cosines).
    @Test func winograd4x3DefaultBlockingIsTheSameAtAnyThreadCount() throws {
        var rng = TestRandom(seed: 12)
        let layer = try WinogradF4x4(weight: rng.tensor([128, 64, 3, 3], -0.05, 0.05), bias: rng.tensor([128]))
        let x = rng.tensor([1, 64, 128, 128])
        let r = try atOneAndTwoThreads { try layer(x, epilogue: .glu) }
        defer { Runtime.setThreads(1) }
        // A count, not the arrays: a failing `==` on a million floats makes the test runner print a diff for minutes.
        let differing = zip(r.one.data, r.two.data).reduce(0) { $0 + ($1.0 == $1.1 ? 0 : 1) }
        #expect(differing == 0)
    }

    @Test func winogradWithoutBiasAndBadArguments() throws {
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([1, 3, 4, 5])
        let w = rng.tensor([2, 3, 3, 3])
        let layer = try WinogradF2x2(weight: w, bias: nil)
        #expect(maxAbsDiff(try layer(x), Self.naiveConv3x3(x, w, nil)) < 1e-4)
        #expect(throws: TensorError.self) { try layer(rng.tensor([1, 4, 4, 5])) }  // channels
        #expect(throws: TensorError.self) { try layer(x, epilogue: .residual(Tensor(shape: [1, 2, 4, 4]))) }
        #expect(throws: TensorError.self) { try WinogradF2x2(weight: Tensor(shape: [2, 3, 5, 5]), bias: nil) }
        #expect(throws: TensorError.self) { try WinogradF2x2(weight: w, bias: Tensor(shape: [3])) }
        let odd = try WinogradF2x2(weight: rng.tensor([3, 3, 3, 3]), bias: nil)
        #expect(throws: TensorError.self) { try odd(x, epilogue: .glu) }
        let up = try UpsampleConv3x3(weight: rng.tensor([3, 3, 3, 3]), bias: nil)
        #expect(throws: TensorError.self) { try up(x, glu: true) }
        #expect(throws: TensorError.self) { try up(rng.tensor([1, 2, 4, 5]), glu: false) }
    }

    /// Results must not depend on the thread count (PipelineTests checks whole PNGs; this checks the kernels).
    @Test func threadCountDoesNotChangeResults() throws {
        var rng = TestRandom(seed: 9)
        let x = rng.tensor([1, 16, 24, 20])
        let wino = try WinogradF2x2(weight: rng.tensor([32, 16, 3, 3]), bias: rng.tensor([32]))
        let up = try UpsampleConv3x3(weight: rng.tensor([32, 16, 3, 3]), bias: rng.tensor([32]))
        let a = try atOneAndTwoThreads { try wino(x, epilogue: .glu, blockBudget: 4000) }
        let b = try atOneAndTwoThreads { try up(x, glu: true, blockBudget: 4000) }
        #expect(a.one.data == a.two.data)
        #expect(b.one.data == b.two.data)
    }

    @Test func fastExpAndSigmoidMatchDouble() {
        var worstExp = 0.0, worstSig = 0.0
        var v: Float = -95
        while v <= 95 {
            var lanes = Float8()
            for i in 0..<8 { lanes[i] = v + Float(i) * 0.0137 }
            let e = fastExpNegated(Float8(repeating: 0) - lanes), s = fastSigmoid(lanes)
            for i in 0..<8 {
                let x = Double(lanes[i])
                if x <= 0 && x > -87 {
                    worstExp = max(worstExp, abs(Double(e[i]) - Foundation.exp(x)) / Foundation.exp(x))
                }
                worstSig = max(worstSig, abs(Double(s[i]) - 1 / (1 + Foundation.exp(-x))))
            }
            v += 0.1
        }
        #expect(worstExp < 5e-7, "relative exp error \(worstExp)")
        #expect(worstSig < 1e-6, "absolute sigmoid error \(worstSig)")
        let extremes = fastSigmoid(Float8(-1000, -100, -30, 0, 30, 100, 1000, .greatestFiniteMagnitude))
        #expect(extremes[3] == 0.5 && extremes[5] == 1 && extremes[6] == 1 && extremes[7] == 1)
        #expect(extremes[0] >= 0 && extremes[0] < 1e-30 && extremes[1] < 1e-30)
        #expect(abs(extremes[2] - Float(1 / (1 + Foundation.exp(30.0)))) < 1e-18)
        #expect((0..<8).allSatisfy { extremes[$0].isFinite })
        let inf = fastSigmoid(Float8(-.infinity, .infinity, -0.0, 0, 1, -1, 2, -2))
        #expect(inf[0] == 0 || inf[0] < 1e-30)
        #expect(inf[1] == 1 && inf[2] == 0.5 && inf[3] == 0.5)
        #expect(abs(inf[4] + inf[5] - 1) < 1e-7 && abs(inf[6] + inf[7] - 1) < 1e-7)
    }

    @Test func fastTanhMatchesDouble() {
        var worst = 0.0
        var v: Float = -50
        while v <= 50 {
            var row = [Float](repeating: 0, count: 13)  // 8 lanes + a 5-element tail
            for i in 0..<13 { row[i] = v + Float(i) * 0.00731 }
            let x = row
            row.withUnsafeMutableBufferPointer { tanhRow($0.baseAddress!, 13) }
            for i in 0..<13 { worst = max(worst, abs(Double(row[i]) - Foundation.tanh(Double(x[i])))) }
            v += 0.05
        }
        #expect(worst < 3e-7, "absolute tanh error \(worst)")
        var ext: [Float] = [-.infinity, .infinity, -0.0, 0, 1000, -1000, 1e-30, -1e-30, .greatestFiniteMagnitude]
        ext.withUnsafeMutableBufferPointer { tanhRow($0.baseAddress!, 9) }
        #expect(ext[0] == -1 && ext[1] == 1 && ext[2] == 0 && ext[3] == 0 && ext[4] == 1 && ext[5] == -1)
        #expect(abs(ext[6]) < 1e-7 && abs(ext[7]) < 1e-7 && ext[8] == 1)
    }
}
