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
        let out: LSTMOutput
        if let tables = projectionTables {
            let vocabulary = tables.forward.shape[0], width = tables.forward.shape[1]
            for caption in captions {
                for id in caption where id < 0 || id >= vocabulary {
                    throw TensorError.indexOutOfRange(op: "embedding", index: id, bound: vocabulary)
                }
            }
            // Rows of the per-word table for each caption padded with id 0 to T: [B·T, 4H] (gathered in
            // place: padded id lists were allocations per request).
            func gather(_ table: Tensor) -> Tensor {
                Tensor.filled([captions.count * t, width]) { dst in
                    table.withUnsafeBufferPointer { src in
                        guard let d = dst.baseAddress, let s = src.baseAddress else { return }
                        for (b, caption) in captions.enumerated() {
                            for step in 0..<t {
                                let id = step < caption.count ? caption[step] : 0
                                (d + (b * t + step) * width).update(from: s + id * width, count: width)
                            }
                        }
                    }
                }
            }
            out = try lstm(forwardProjection: gather(tables.forward), backwardProjection: gather(tables.backward),
                           batch: captions.count, steps: t, lengths: lengths, forward: forward, backward: backward)
        } else {
            let padded = captions.map { $0 + [Int](repeating: 0, count: t - $0.count) }
            let x = try embedding(padded, weight: encoder)  // [B, T, E]
            out = try lstm(x, lengths: lengths, forward: forward, backward: backward)
        }
        let words = out.output.transposedLastTwo()  // [B, T, nef] -> [B, nef, T]
        // h_n [2, B, H] -> [B, 2H] = [forward ; backward]
        let b = captions.count, h = featureDim / 2
        let sentence = Tensor.filled([b, featureDim]) { s in
            out.hN.withUnsafeBufferPointer { hN in
                for i in 0..<b {
                    for j in 0..<h {
                        s[i * featureDim + j] = hN[i * h + j]
                        s[i * featureDim + h + j] = hN[(b + i) * h + j]
                    }
                }
            }
        }
        return (words, sentence)
    }
}
