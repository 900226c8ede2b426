/// Result of `lstm(_:lengths:forward:backward:)`.
public struct LSTMOutput: Sendable {
    /// `[B, T, D·H]` (D = 2 when bidirectional): per step, `[forward h ; backward h]`. Steps at or past a
    /// sequence's length are exactly zero (as `pad_packed_sequence` returns them).
    public var output: Tensor
    /// `[D, B, H]`: final hidden state per direction (PyTorch `h_n` of a one-layer LSTM). The forward
    /// state is taken after each sequence's last valid token; the backward one after its first token.
    public var hN: Tensor
    /// `[D, B, H]`: final cell state, like `hN`.
    public var cN: Tensor
}

/// A one-layer, optionally bidirectional `nn.LSTM(batch_first=True)` over a padded batch of
/// variable-length sequences, with `pack_padded_sequence` semantics (as STEM's `RNN_ENCODER` runs it):
/// each sequence b is processed for its first `lengths[b]` steps only, starting from a zero state; the
/// backward direction starts at the sequence's last valid token (not at the padding).
///
/// - Parameters:
///   - x: `[B, T, I]` (padded input; values past a length are ignored).
///   - lengths: B lengths, each in `1...T` (PyTorch rejects empty sequences; any order is accepted,
///     no sorting is needed).
///   - forward: forward-direction weights (`*_l0`).
///   - backward: backward-direction weights (`*_l0_reverse`), or nil for a unidirectional LSTM.
public func lstm(_ x: Tensor, lengths: [Int], forward: LSTMWeights, backward: LSTMWeights? = nil) throws -> LSTMOutput {
    let op = "lstm"
    try requireRank(op, x, 3, "3 ([B, T, I])")
    let (batch, steps) = (x.shape[0], x.shape[1])
    let hidden = forward.hiddenSize
    try requireShape("lstm input (vs weight_ih [4H, I])", x, [batch, steps, forward.inputSize])
    guard lengths.count == batch else {
        throw TensorError.invalidArgument(op: op, message: "\(lengths.count) lengths for a batch of \(batch)")
    }
    for length in lengths where length < 1 || length > steps {
        throw TensorError.invalidArgument(op: op, message: "sequence length \(length) is outside 1...\(steps)")
    }
    if let backward {
        guard backward.hiddenSize == hidden, backward.inputSize == forward.inputSize else {
            throw TensorError.shapeMismatch(op: "lstm backward weight_ih (vs forward)",
                                            expected: forward.weightIH.shape, actual: backward.weightIH.shape)
        }
    }
    let rows = try x.reshaped([batch * steps, forward.inputSize])
    // Input projections of every step at once: [B·T, 4H] = x·W_ihᵀ + b.
    let forwardProjection = try linear(rows, weight: forward.weightIH, bias: forward.bias)
    let backwardProjection = try backward.map { try linear(rows, weight: $0.weightIH, bias: $0.bias) }
    return try lstm(forwardProjection: forwardProjection, backwardProjection: backwardProjection, batch: batch,
                    steps: steps, lengths: lengths, forward: forward, backward: backward)
}

/// The recurrent part of `lstm(_:lengths:forward:backward:)`, given each direction's input projections
/// `[B·T, 4H]` (x·W_ihᵀ + b_ih + b_hh; rows past a sequence's length are ignored). STEM's text encoder
/// passes rows of a per-word table (its inputs are embeddings, so the projection of word i is the same
/// wherever it occurs).
func lstm(forwardProjection: Tensor, backwardProjection: Tensor?, batch: Int, steps: Int, lengths: [Int],
          forward: LSTMWeights, backward: LSTMWeights?) throws -> LSTMOutput {
    let hidden = forward.hiddenSize
    let directions = backward == nil ? 1 : 2
    let shape: Shape = [batch * steps, 4 * hidden]
    guard (backwardProjection == nil) == (backward == nil), forwardProjection.shape == shape,
          backwardProjection.map({ $0.shape == shape }) ?? true else {
        throw TensorError.invalidArgument(op: "lstm", message: "needs \(directions) projections of [\(batch * steps), \(4 * hidden)]")
    }
    let output = TensorBuffer.zeros(batch * steps * directions * hidden)
    let hN = TensorBuffer.zeros(directions * batch * hidden)
    let cN = TensorBuffer.zeros(directions * batch * hidden)
    output.withFreshStorage { out in
        hN.withFreshStorage { hp in
            cN.withFreshStorage { cp in
                guard let hBase = hp.baseAddress, let cBase = cp.baseAddress else { return }
                for d in 0..<directions {
                    guard let weights = d == 0 ? forward : backward,
                          let projected = d == 0 ? forwardProjection : backwardProjection else { continue }
                    // Direction d's state lives in its slice of h_n / c_n, so it ends there.
                    runDirection(projected: projected, weightHH: weights.weightHH, lengths: lengths,
                                 steps: steps, hidden: hidden, reverse: d == 1,
                                 h: hBase + d * batch * hidden, c: cBase + d * batch * hidden,
                                 output: out, outputStride: directions * hidden, outputOffset: d * hidden)
                }
            }
        }
    }
    return LSTMOutput(output: Tensor(uncheckedShape: [batch, steps, directions * hidden], data: output),
                      hN: Tensor(uncheckedShape: [directions, batch, hidden], data: hN),
                      cN: Tensor(uncheckedShape: [directions, batch, hidden], data: cN))
}

/// Runs one direction over all sequences in lock-step, from the zero state in `h`, `c` (`[batch, hidden]`
/// each). At step s, sequence b is active when s < length; it reads time t = s (forward) or
/// t = length − 1 − s (reverse). Inactive sequences keep their state, which is therefore the state at
/// their valid end when the loop finishes.
private func runDirection(projected: Tensor, weightHH: Tensor, lengths: [Int], steps: Int, hidden: Int,
                          reverse: Bool, h hState: UnsafeMutablePointer<Float>, c cState: UnsafeMutablePointer<Float>,
                          output out: UnsafeMutableBufferPointer<Float>, outputStride: Int, outputOffset: Int) {
    let batch = lengths.count
    let gateWidth = 4 * hidden
    let longest = lengths.max() ?? 0
    let hp = UnsafeMutableBufferPointer(start: hState, count: batch * hidden)
    let cp = UnsafeMutableBufferPointer(start: cState, count: batch * hidden)
    // The gate rows of one step live in the thread's scratch (every active row is written before use).
    let g = UnsafeMutableBufferPointer(start: ScratchBuffer.current.floats(batch * gateWidth), count: batch * gateWidth)
    projected.withUnsafeBufferPointer { pre in
        weightHH.withUnsafeBufferPointer { whh in
            for s in 0..<longest {
                for b in 0..<batch where s < lengths[b] {
                    let t = reverse ? lengths[b] - 1 - s : s
                    let src = (b * steps + t) * gateWidth
                    for j in 0..<gateWidth { g[b * gateWidth + j] = pre[src + j] }
                }
                // gates += h · W_hhᵀ for the whole batch (inactive rows are ignored below).
                sgemm(transposeA: false, transposeB: true, m: batch, n: gateWidth, k: hidden,
                      a: UnsafeBufferPointer(hp), lda: hidden, b: whh, ldb: hidden,
                      beta: 1, c: g, ldc: gateWidth)
                for b in 0..<batch where s < lengths[b] {
                    lstmPointwise(gates: g, gateRow: b, h: hp, c: cp, stateRow: b, hidden: hidden)
                    let t = reverse ? lengths[b] - 1 - s : s
                    let dst = (b * steps + t) * outputStride + outputOffset
                    for j in 0..<hidden { out[dst + j] = hp[b * hidden + j] }
                }
            }
        }
    }
}
