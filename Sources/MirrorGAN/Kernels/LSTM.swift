import Foundation

/// Weights of one direction of a one-layer PyTorch `nn.LSTM` (or an `nn.LSTMCell`).
/// Gate order along the 4H rows is PyTorch's: input, forget, cell (g), output.
public struct LSTMWeights: Sendable {
    /// `[4H, I]` (`weight_ih_l0`, or `weight_ih_l0_reverse` for the backward direction).
    public let weightIH: Tensor
    /// `[4H, H]` (`weight_hh_l0`).
    public let weightHH: Tensor
    /// `[4H]`: `bias_ih_l0 + bias_hh_l0`, summed once at load time.
    public let bias: Tensor

    public var hiddenSize: Int { weightHH.shape[1] }
    public var inputSize: Int { weightIH.shape[1] }

    /// Validates the shapes and sums the two biases (either may be omitted: PyTorch `bias=False`).
    public init(weightIH: Tensor, weightHH: Tensor, biasIH: Tensor? = nil, biasHH: Tensor? = nil) throws {
        try requireRank("LSTM weight_hh", weightHH, 2, "2 ([4H, H])")
        let hidden = weightHH.shape[1]
        try requireShape("LSTM weight_hh", weightHH, [4 * hidden, hidden])
        try requireRank("LSTM weight_ih", weightIH, 2, "2 ([4H, I])")
        try requireShape("LSTM weight_ih", weightIH, [4 * hidden, weightIH.shape[1]])
        var bias = [Float](repeating: 0, count: 4 * hidden)
        for (name, b) in [("LSTM bias_ih", biasIH), ("LSTM bias_hh", biasHH)] {
            guard let b else { continue }
            try requireShape(name, b, [4 * hidden])
            for i in 0..<bias.count { bias[i] += b.data[i] }
        }
        self.weightIH = weightIH
        self.weightHH = weightHH
        self.bias = Tensor(uncheckedShape: [4 * hidden], data: TensorBuffer(bias))
    }
}

/// Hidden and cell state of an LSTM, each `[B, H]` (one direction).
public struct LSTMState: Sendable, Equatable {
    public var h: Tensor, c: Tensor
    public init(h: Tensor, c: Tensor) { self.h = h; self.c = c }
    /// Zero state for `batch` sequences (PyTorch's default initial state).
    public static func zeros(batch: Int, hidden: Int) -> LSTMState {
        // From the thread's arena: a decoder starts from this state on every request.
        LSTMState(h: Tensor.arenaZeros([batch, hidden]), c: Tensor.arenaZeros([batch, hidden]))
    }
}

/// One LSTM step (`nn.LSTMCell`), e.g. for greedy decoding:
/// gates = x·W_ihᵀ + h·W_hhᵀ + b; i, f, o = σ(·), g = tanh(·); c' = f·c + i·g; h' = o·tanh(c').
///
/// - Parameters: `x` `[B, I]`; `state` `[B, H]` each.
/// - Returns: the new state, `[B, H]` each.
public func lstmCell(_ x: Tensor, state: LSTMState, weights: LSTMWeights) throws -> LSTMState {
    let hidden = weights.hiddenSize
    try requireRank("lstmCell input", x, 2, "2 ([B, I])")
    let batch = x.shape[0]
    try requireShape("lstmCell input", x, [batch, weights.inputSize])
    try requireShape("lstmCell h", state.h, [batch, hidden])  // x and h disagreeing on the batch: say so, before the product
    return try lstmCell(inputGates: linear(x, weight: weights.weightIH, bias: weights.bias), state: state,
                        weights: weights)
}

/// One LSTM step from precomputed input gates `x·W_ihᵀ + b` `[B, 4H]` (a decoder whose inputs are word
/// embeddings can tabulate them per word: see `CaptionDecoder`).
public func lstmCell(inputGates: Tensor, state: LSTMState, weights: LSTMWeights) throws -> LSTMState {
    let hidden = weights.hiddenSize
    let batch = state.h.shape.first ?? 0
    try requireShape("lstmCell input gates", inputGates, [batch, 4 * hidden])
    try requireShape("lstmCell h", state.h, [batch, hidden])
    try requireShape("lstmCell c", state.c, [batch, hidden])
    // The new state starts as a copy of the old one, and the gates as a copy of the input gates, in
    // buffers from the thread's arena (the gates' one goes back to it on return).
    let gates = TensorBuffer.uninitialized(batch * 4 * hidden)
    let h = TensorBuffer.uninitialized(batch * hidden), c = TensorBuffer.uninitialized(batch * hidden)
    gates.withFreshStorage { g in
        h.withFreshStorage { hp in
            c.withFreshStorage { cp in
                inputGates.withUnsafeBufferPointer { src in _ = g.update(fromContentsOf: src) }
                state.h.withUnsafeBufferPointer { src in _ = hp.update(fromContentsOf: src) }
                state.c.withUnsafeBufferPointer { src in _ = cp.update(fromContentsOf: src) }
                weights.weightHH.withUnsafeBufferPointer { whh in
                    sgemm(transposeA: false, transposeB: true, m: batch, n: 4 * hidden, k: hidden,
                          a: UnsafeBufferPointer(hp), lda: hidden, b: whh, ldb: hidden,
                          beta: 1, c: g, ldc: 4 * hidden)
                }
                for b in 0..<batch { lstmPointwise(gates: g, gateRow: b, h: hp, c: cp, stateRow: b, hidden: hidden) }
            }
        }
    }
    return LSTMState(h: Tensor(uncheckedShape: [batch, hidden], data: h),
                     c: Tensor(uncheckedShape: [batch, hidden], data: c))
}

/// Applies the gate non-linearities of one sequence and updates its (h, c) rows in place. Eight hidden
/// units at a time with the vectorised sigmoid and tanh of the fused kernels (`FastMath.swift`, absolute
/// errors below 1e-6): per-element libm calls made the text encoder's 99-caption R-precision batch and
/// STREAM decoding transcendental-bound.
@inline(__always)
func lstmPointwise(gates g: UnsafeMutableBufferPointer<Float>, gateRow: Int,
                   h: UnsafeMutableBufferPointer<Float>, c: UnsafeMutableBufferPointer<Float>,
                   stateRow: Int, hidden: Int) {
    guard let gp = g.baseAddress, let hp = h.baseAddress, let cp = c.baseAddress else { return }
    let gi = gp + gateRow * 4 * hidden, gf = gi + hidden, gc = gf + hidden, go = gc + hidden
    let hs = hp + stateRow * hidden, cs = cp + stateRow * hidden
    var j = 0
    while j + 8 <= hidden {
        let cNew = fastSigmoid(load8(gf + j)) * load8(cs + j) + fastSigmoid(load8(gi + j)) * fastTanh(load8(gc + j))
        store8(cNew, cs + j)
        store8(fastSigmoid(load8(go + j)) * fastTanh(cNew), hs + j)
        j += 8
    }
    while j < hidden {
        let i = sigmoidScalar(gi[j]), f = sigmoidScalar(gf[j]), o = sigmoidScalar(go[j])
        let cNew = f * cs[j] + i * Foundation.tanh(gc[j])
        cs[j] = cNew
        hs[j] = o * Foundation.tanh(cNew)
        j += 1
    }
}
