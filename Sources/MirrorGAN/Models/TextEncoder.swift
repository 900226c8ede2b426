/// STEM: the DAMSM bi-LSTM text encoder (`RNN_ENCODER`). Keys: `encoder.weight`, `rnn.*_l0{,_reverse}`.
///
/// Word features are `[B, nef, T]` with channels `[forward ; backward]` (pitfall 9); positions past a
/// caption's length are exactly zero; the sentence feature is `[forward h after the last valid token ;
/// backward h after token 0]`, as `pack_padded_sequence` gives. Dropout is inactive at inference.
public struct TextEncoder: Sendable {
    let encoder: Tensor  // [n_words, embedding_dim]
    let forward: LSTMWeights
    let backward: LSTMWeights
    public let featureDim: Int
    /// Per-word input projections `[n_words, 4H]` of each direction (embedding · W_ihᵀ + b), computed at
    /// load so that encoding gathers rows instead of multiplying: the input projection was two thirds of the
    /// multiply-adds of R-precision's 99-caption batch. Nil for vocabularies too large to tabulate cheaply.
    let projectionTables: (forward: Tensor, backward: Tensor)?

    init(_ r: WeightReader, config: ModelConfig.TextEncoder) throws {
        let hidden = config.hiddenDim / 2
        let (v, e) = (config.nWords, config.embeddingDim)
        encoder = try r.tensor("encoder.weight", [v, e])
        let rnn = r.scope("rnn")
        func direction(_ suffix: String) throws -> LSTMWeights {
            try LSTMWeights(weightIH: rnn.tensor("weight_ih_l0" + suffix, [4 * hidden, e]),
                            weightHH: rnn.tensor("weight_hh_l0" + suffix, [4 * hidden, hidden]),
                            biasIH: rnn.tensor("bias_ih_l0" + suffix, [4 * hidden]),
                            biasHH: rnn.tensor("bias_hh_l0" + suffix, [4 * hidden]))
        }
        forward = try direction("")
        backward = try direction("_reverse")
        featureDim = config.hiddenDim
        // 2 × n_words × 4H floats: 0.4 MB for SynthBirds, 22 MB at the official birds vocabulary (5,450).
        if 2 * v * 4 * hidden <= 8 << 20 {
            projectionTables = (try linear(encoder, weight: forward.weightIH, bias: forward.bias),
                                try linear(encoder, weight: backward.weightIH, bias: backward.bias))
        } else {
            projectionTables = nil
        }
    }

    /// Encodes a batch of token-id sequences (each non-empty, ids < n_words).
    /// - Returns: words `[B, nef, T]` with T the longest length, and sentences `[B, nef]`.
    public func encode(_ captions: [[Int]]) throws -> (words: Tensor, sentence: Tensor) {
        let lengths = captions.map(\.count)
        guard let t = lengths.max(), t > 0, !lengths.contains(0) else {
            throw TensorError.invalidArgument(op: "TextEncoder.encode", message: "every caption needs ≥ 1 token")
        }
        let padded = captions.map { $0 + [Int](repeating: 0, count: t - $0.count) }
        let out: LSTMOutput
        if let tables = projectionTables {
            let ids = padded.flatMap { $0 }
            let gather = { (table: Tensor) throws -> Tensor in try embedding(ids, weight: table) }  // [B·T, 4H]
            out = try lstm(projections: [gather(tables.forward), gather(tables.backward)], batch: captions.count, steps: t,
                           lengths: lengths, forward: forward, backward: backward)
        } else {
            let x = try embedding(padded, weight: encoder)  // [B, T, E]
            out = try lstm(x, lengths: lengths, forward: forward, backward: backward)
        }
        let words = out.output.transposedLastTwo()  // [B, T, nef] -> [B, nef, T]
        // h_n [2, B, H] -> [B, 2H] = [forward ; backward]
        let b = captions.count, h = featureDim / 2
        var sentence = [Float](repeating: 0, count: b * featureDim)
        for i in 0..<b {
            for j in 0..<h {
                sentence[i * featureDim + j] = out.hN.data[i * h + j]
                sentence[i * featureDim + h + j] = out.hN.data[(b + i) * h + j]
            }
        }
        return (words, Tensor(uncheckedShape: [b, featureDim], data: sentence))
    }
}
