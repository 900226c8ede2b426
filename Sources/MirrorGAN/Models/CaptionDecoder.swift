import Foundation

/// STREAM's decoder (`CAPTION_RNN`): the image feature is step 0 (there is no `<start>`), then the
/// embedding of each emitted word; LSTM(embed → hidden); Linear(hidden → n_words). Keys `embed.weight`,
/// `lstm.*_l0`, `linear.*`.
public struct CaptionDecoder: Sendable {
    let embed: Tensor
    let lstm: LSTMWeights
    let linear: LinearLayer
    /// `embed · W_ihᵀ + b` per word `[n_words, 4H]`, when that table is small (≤ `maxGateTable` floats):
    /// every step after the first feeds a word embedding, so its input half of the LSTM is a row lookup
    /// instead of a 4H × E product (a third of the per-step weight traffic, which bounds decoding).
    var wordGates: Tensor?  // var: tests compare against the path without it
    static let maxGateTable = 4 << 20  // 16 MiB; the official 5,450-word vocabulary (44 MiB) goes without
    let config: ModelConfig.Stream
    public let vocabularySize: Int

    init(_ r: WeightReader, config: ModelConfig.Stream, nWords: Int) throws {
        let (e, h) = (config.embedSize, config.hiddenSize)
        embed = try r.tensor("embed.weight", [nWords, e])
        let l = r.scope("lstm")
        lstm = try LSTMWeights(weightIH: l.tensor("weight_ih_l0", [4 * h, e]), weightHH: l.tensor("weight_hh_l0", [4 * h, h]),
                               biasIH: l.tensor("bias_ih_l0", [4 * h]), biasHH: l.tensor("bias_hh_l0", [4 * h]))
        linear = try LinearLayer(r, "linear", in: h, out: nWords)
        wordGates = nWords * 4 * h <= Self.maxGateTable
            ? try MirrorGAN.linear(embed, weight: lstm.weightIH, bias: lstm.bias) : nil
        self.config = config
        vocabularySize = nWords
    }

    public struct Decoded: Sendable, Equatable {
        /// Token ids, without the final `<end>`.
        public var ids: [Int]
        /// Log-probability of each emitted token.
        public var logProbs: [Float]
        public var logProb: Float { logProbs.reduce(0, +) }
    }

    /// What a step feeds the LSTM: the image feature `[1, embed]` (step 0), or the previous word.
    enum StepInput {
        case feature(Tensor)
        case word(Int)
    }

    /// Log-softmax of the next-word logits given an LSTM state after feeding `input`.
    private func step(_ input: StepInput, _ state: LSTMState) throws -> (LSTMState, Tensor) {
        let next: LSTMState
        switch input {
        case let .feature(x):
            next = try lstmCell(x, state: state, weights: lstm)
        case let .word(id):
            if let wordGates {
                next = try lstmCell(inputGates: wordGates.sample(id), state: state, weights: lstm)
            } else {
                next = try lstmCell(embed.sample(id), state: state, weights: lstm)
            }
        }
        let logits = try linear(next.h)
        let logp = Tensor.filled(logits.shape) { out in
            logits.withUnsafeBufferPointer { l in
                let m = l.max() ?? 0
                var sum: Float = 0
                for v in l { sum += Foundation.exp(v - m) }
                let lse = m + Foundation.log(sum)
                for i in 0..<l.count { out[i] = l[i] - lse }
            }
        }
        return (next, logp)
    }

    /// Greedy decoding from one image feature `[1, embed]`: argmax at each step, up to `max_seq_length`
    /// tokens; stops at `<end>` (id 0) when the model was trained with it (the official code always emits 20).
    public func greedy(_ feature: Tensor) throws -> Decoded {
        var state = LSTMState.zeros(batch: 1, hidden: config.hiddenSize)
        var input = StepInput.feature(feature)
        var ids = [Int](), lps = [Float]()
        ids.reserveCapacity(config.maxSeqLength)
        lps.reserveCapacity(config.maxSeqLength)
        for _ in 0..<config.maxSeqLength {
            let (next, logpTensor) = try step(input, state)
            state = next
            let (best, bestLogp) = logpTensor.withUnsafeBufferPointer { logp -> (Int, Float) in
                var best = 0
                for i in logp.indices where logp[i] > logp[best] { best = i }
                return (best, logp.isEmpty ? 0 : logp[best])
            }
            if config.endToken && best == 0 { break }
            ids.append(best)
            lps.append(bestLogp)
            input = .word(best)
        }
        return Decoded(ids: ids, logProbs: lps)
    }

    /// Beam search of width `beam` (≥ 1; 1 equals greedy): keeps the `beam` best partial captions by total
    /// log-probability; a caption ends at `<end>` (when trained with it) or at `max_seq_length` tokens.
    public func beamSearch(_ feature: Tensor, beam: Int) throws -> Decoded {
        if beam <= 1 { return try greedy(feature) }
        struct Hyp { var ids: [Int]; var lps: [Float]; var score: Float; var state: LSTMState; var input: StepInput }
        var live = [Hyp(ids: [], lps: [], score: 0, state: .zeros(batch: 1, hidden: config.hiddenSize), input: .feature(feature))]
        var finished = [Hyp]()
        for _ in 0..<config.maxSeqLength {
            var candidates = [(hyp: Int, id: Int, lp: Float, score: Float, state: LSTMState)]()
            for (hi, h) in live.enumerated() {
                let (next, logpTensor) = try step(h.input, h.state)
                let logp = Array(logpTensor.data)
                // The `beam` best continuations of this hypothesis (ties: lower id first).
                let top = logp.enumerated().sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }
                    .prefix(beam)
                for (id, lp) in top { candidates.append((hi, id, lp, h.score + lp, next)) }
            }
            candidates.sort { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
            var nextLive = [Hyp]()
            for c in candidates {
                let parent = live[c.hyp]
                if config.endToken && c.id == 0 {
                    finished.append(Hyp(ids: parent.ids, lps: parent.lps, score: c.score, state: c.state, input: parent.input))
                } else {
                    nextLive.append(Hyp(ids: parent.ids + [c.id], lps: parent.lps + [c.lp], score: c.score,
                                        state: c.state, input: .word(c.id)))
                }
                if nextLive.count >= beam { break }
            }
            live = nextLive
            if live.isEmpty { break }
            if let bestDone = finished.map(\.score).max(), let bestLive = live.map(\.score).max(), bestDone >= bestLive { break }
        }
        let pool = finished + live
        guard let best = pool.max(by: { $0.score < $1.score }) else { return Decoded(ids: [], logProbs: []) }
        return Decoded(ids: best.ids, logProbs: best.lps)
    }
}
