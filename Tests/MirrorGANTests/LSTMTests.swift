import Foundation
import Testing
@testable import MirrorGAN

@Suite struct LSTMTests {
    /// One LSTM step for one sequence, in Double, straight from the PyTorch equations.
    func naiveStep(_ x: [Float], _ h: [Double], _ c: [Double], _ w: LSTMWeights) -> ([Double], [Double]) {
        let hidden = w.hiddenSize, inputs = w.inputSize
        func sig(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
        var gates = [Double](repeating: 0, count: 4 * hidden)
        for r in 0..<(4 * hidden) {
            var s = Double(w.bias.data[r])
            for i in 0..<inputs { s += Double(w.weightIH.data[r * inputs + i]) * Double(x[i]) }
            for j in 0..<hidden { s += Double(w.weightHH.data[r * hidden + j]) * h[j] }
            gates[r] = s
        }
        var h2 = h, c2 = c
        for j in 0..<hidden {
            let i = sig(gates[j]), f = sig(gates[hidden + j]), g = Foundation.tanh(gates[2 * hidden + j]), o = sig(gates[3 * hidden + j])
            c2[j] = f * c[j] + i * g
            h2[j] = o * Foundation.tanh(c2[j])
        }
        return (h2, c2)
    }

    /// Packed-sequence semantics by running each sequence on its own, forward and reversed.
    func naiveLSTM(_ x: Tensor, _ lengths: [Int], _ fw: LSTMWeights, _ bw: LSTMWeights?) -> LSTMOutput {
        let (batch, steps, inputs) = (x.shape[0], x.shape[1], x.shape[2])
        let hidden = fw.hiddenSize, dirs = bw == nil ? 1 : 2
        var out = Tensor(shape: [batch, steps, dirs * hidden])
        var hN = Tensor(shape: [dirs, batch, hidden]), cN = hN
        for (d, w) in [fw, bw].compactMap({ $0 }).enumerated() {
            for b in 0..<batch {
                var h = [Double](repeating: 0, count: hidden), c = h
                let order = d == 0 ? Array(0..<lengths[b]) : Array((0..<lengths[b]).reversed())
                for t in order {
                    let xt = (0..<inputs).map { x[b, t, $0] }
                    (h, c) = naiveStep(xt, h, c, w)
                    for j in 0..<hidden { out[b, t, d * hidden + j] = Float(h[j]) }
                }
                for j in 0..<hidden { hN[d, b, j] = Float(h[j]); cN[d, b, j] = Float(c[j]) }
            }
        }
        return LSTMOutput(output: out, hN: hN, cN: cN)
    }

    func weights(_ rng: inout TestRandom, inputs: Int, hidden: Int) throws -> LSTMWeights {
        try LSTMWeights(weightIH: rng.tensor([4 * hidden, inputs], -0.5, 0.5), weightHH: rng.tensor([4 * hidden, hidden], -0.5, 0.5),
                        biasIH: rng.tensor([4 * hidden], -0.5, 0.5), biasHH: rng.tensor([4 * hidden], -0.5, 0.5))
    }

    @Test(arguments: [([3, 6, 5], [6, 2, 4], 4, true), ([1, 1, 3], [1], 2, true), ([4, 7, 9], [7, 7, 1, 3], 8, false),
                      ([2, 5, 4], [5, 5], 3, true)])
    func packedLSTMMatchesNaive(shape: [Int], lengths: [Int], hidden: Int, bidirectional: Bool) throws {
        var rng = TestRandom(seed: UInt64(shape.reduce(1, *) * hidden))
        let x = rng.tensor(shape)
        let fw = try weights(&rng, inputs: shape[2], hidden: hidden)
        let bw = bidirectional ? try weights(&rng, inputs: shape[2], hidden: hidden) : nil
        let got = try lstm(x, lengths: lengths, forward: fw, backward: bw)
        let expected = naiveLSTM(x, lengths, fw, bw)
        expectClose(got.output, expected.output, "output")
        expectClose(got.hN, expected.hN, "h_n")
        expectClose(got.cN, expected.cN, "c_n")
        // Steps past each length are exactly zero.
        for b in 0..<shape[0] {
            for t in lengths[b]..<shape[1] { for j in 0..<got.output.shape[2] { #expect(got.output[b, t, j] == 0) } }
        }
    }

    /// Values past a sequence's length must not influence anything (packed semantics).
    @Test func paddingValuesAreIgnored() throws {
        var rng = TestRandom(seed: 99)
        var x = rng.tensor([2, 5, 3])
        let fw = try weights(&rng, inputs: 3, hidden: 4), bw = try weights(&rng, inputs: 3, hidden: 4)
        let a = try lstm(x, lengths: [5, 2], forward: fw, backward: bw)
        for t in 2..<5 { for i in 0..<3 { x[1, t, i] = 1000 } }
        let b = try lstm(x, lengths: [5, 2], forward: fw, backward: bw)
        #expect(a.output == b.output)
        #expect(a.hN == b.hN && a.cN == b.cN)
    }

    @Test func packedBidirectionalMatchesPyTorch() throws {
        let f = try loadFixture("lstm.safetensors")
        let fw = try LSTMWeights(weightIH: f.require("weight_ih_l0"), weightHH: f.require("weight_hh_l0"),
                                 biasIH: f.require("bias_ih_l0"), biasHH: f.require("bias_hh_l0"))
        let bw = try LSTMWeights(weightIH: f.require("weight_ih_l0_reverse"), weightHH: f.require("weight_hh_l0_reverse"),
                                 biasIH: f.require("bias_ih_l0_reverse"), biasHH: f.require("bias_hh_l0_reverse"))
        let lengths = try f.require("lengths").data.map(Int.init)
        let got = try lstm(f.require("x"), lengths: lengths, forward: fw, backward: bw)
        expectClose(got.output, try f.require("output"), "output")
        expectClose(got.hN, try f.require("h_n"), "h_n")
        expectClose(got.cN, try f.require("c_n"), "c_n")

        let x0 = try Tensor(shape: [3, 5], data: (0..<3).flatMap { b in (0..<5).map { try! f.require("x")[b, 0, $0] } })
        let state = try lstmCell(x0, state: LSTMState(h: f.require("cell_h0"), c: f.require("cell_c0")), weights: fw)
        expectClose(state.h, try f.require("cell_h1"), "cell h")
        expectClose(state.c, try f.require("cell_c1"), "cell c")
    }

    @Test func cellMatchesNaiveStep() throws {
        var rng = TestRandom(seed: 5)
        let w = try weights(&rng, inputs: 6, hidden: 5)
        let x = rng.tensor([3, 6]), h = rng.tensor([3, 5]), c = rng.tensor([3, 5])
        let got = try lstmCell(x, state: LSTMState(h: h, c: c), weights: w)
        for b in 0..<3 {
            let (h2, c2) = naiveStep(Array(x.data[(b * 6)..<(b * 6 + 6)]), h.data[(b * 5)..<(b * 5 + 5)].map(Double.init),
                                     c.data[(b * 5)..<(b * 5 + 5)].map(Double.init), w)
            for j in 0..<5 {
                #expect(abs(got.h[b, j] - Float(h2[j])) <= 1e-5)
                #expect(abs(got.c[b, j] - Float(c2[j])) <= 1e-5)
            }
        }
        let zero = try lstmCell(x, state: .zeros(batch: 3, hidden: 5), weights: w)
        #expect(zero.h.shape == [3, 5])
    }

    @Test func rejectsBadArguments() throws {
        var rng = TestRandom(seed: 6)
        let w = try weights(&rng, inputs: 3, hidden: 2)
        let x = Tensor(shape: [2, 4, 3])
        #expect(throws: TensorError.self) { try lstm(x, lengths: [4], forward: w) }
        #expect(throws: TensorError.self) { try lstm(x, lengths: [4, 0], forward: w) }
        #expect(throws: TensorError.self) { try lstm(x, lengths: [4, 5], forward: w) }
        #expect(throws: TensorError.self) { try lstm(Tensor(shape: [2, 4, 2]), lengths: [1, 1], forward: w) }
        #expect(throws: TensorError.self) { try LSTMWeights(weightIH: Tensor(shape: [8, 3]), weightHH: Tensor(shape: [8, 3])) }
        #expect(throws: TensorError.self) {
            try LSTMWeights(weightIH: Tensor(shape: [8, 3]), weightHH: Tensor(shape: [8, 2]), biasIH: Tensor(shape: [4]))
        }
        #expect(throws: TensorError.self) { try lstmCell(Tensor(shape: [2, 3]), state: .zeros(batch: 1, hidden: 2), weights: w) }
    }
}
