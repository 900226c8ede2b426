/// Word-level attention (AttnGAN `GlobalAttentionGeneral`) plus MirrorGAN's sentence-level attention
/// (`GLAttentionGeneral`, spec §3.5). Keys: `conv_context.weight`, and with GLAM `conv_sentence_vis.weight`,
/// `linear.{weight,bias}`.
struct GLAttention: Sendable {
    /// `conv_context` (a 1×1 conv) as its transposed matrix [nef, idf]: e' = W·e is computed as (Wᵀ)ᵀ·e,
    /// because OpenBLAS's small-matrix kernel for the plain product mallocs on every call
    /// (`ConvLayer.withTransposedWeight`).
    let convContextT: Tensor
    let sentenceVis: ConvLayer?
    let linear: LinearLayer?
    let idf: Int

    init(_ r: WeightReader, idf: Int, nef: Int, ncf: Int, glam: Bool) throws {
        let convContext = try r.tensor("conv_context.weight", [idf, nef, 1, 1])
        convContextT = Tensor(uncheckedShape: [nef, idf], data: TensorBuffer(transposing: convContext.data, rows: idf, columns: nef))
        if glam {
            sentenceVis = try ConvLayer(r, "conv_sentence_vis", in: idf, out: idf, kernel: 1, padding: .fixed(.zero))
                .withTransposedWeight()
            linear = try LinearLayer(r, "linear", in: ncf, out: idf)  // in = CONDITION_DIM (hard-coded 100 officially)
        } else {
            sentenceVis = nil
            linear = nil
        }
        self.idf = idf
    }

    struct Output {
        var wordContext: Tensor  // [B, idf, H, W]
        var sentenceContext: Tensor?  // [B, idf, H, W]
        var wordAttention: Tensor  // [B, T, H, W]
        var sentenceAttention: Tensor?  // [B, idf, H, W]
    }

    /// - Parameters: h `[B, idf, H, W]`; c `[B, ncf]` (the CA sample); words `[B, nef, T]`;
    ///   lengths: each sample's caption length (positions ≥ length are masked with −∞).
    func callAsFunction(_ h: Tensor, c: Tensor, words: Tensor, lengths: [Int]) throws -> Output {
        let (b, ih, iw) = (h.shape[0], h.shape[2], h.shape[3])
        let n = ih * iw, t = words.shape[2]
        // e' = conv_context(e): [B, idf, T]
        let source = try matmul(convContextT, words, transposeA: true)
        // Per sample, over its live words only (pitfall 7: the official tiled mask is misaligned for B > 1;
        // per-sample is correct and equal at B = 1). Masked words get −∞ scores, i.e. exactly zero
        // attention, so the softmax runs over the first `length` words and the rest stay zero. The scores
        // are computed transposed, Sᵀ = e'ᵀ h: [length, N], so the softmax runs down the columns (vectorised
        // across the N positions) and its result already is the [T, N] attention map the context needs.
        let context = TensorBuffer.zeros(b * idf * n)
        let attention = TensorBuffer.zeros(b * t * n)
        for i in 0..<b {
            let live = lengths[i]
            guard live > 0 else { continue }  // no live word: zero attention and context
            let e = Tensor.filled([idf, live]) { dst in  // e'[i][:, :live]
                source.withUnsafeBufferPointer { src in
                    for r in 0..<idf {
                        for j in 0..<live { dst[r * live + j] = src[(i * idf + r) * t + j] }
                    }
                }
            }
            // e'ᵀ as well, so that both products take OpenBLAS's transposed-A kernel: its small-matrix
            // kernel for the plain product, which ctx = e'·attn gets below ~1 M multiply-adds (a short
            // caption at 64²), mallocs a packing buffer per call.
            let eT = try e.reshaped([1, idf, live]).transposedLastTwo().reshaped([live, idf])
            let target = try h.sample(i).reshaped([idf, n])
            let scores = try matmul(e, target, transposeA: true)  // [live, N]
            let attn = try softmax(scores.reshaped([1, live, n]), axis: 1).reshaped([live, n])
            let ctx = try matmul(eT, attn, transposeA: true)  // [idf, N]
            context.withFreshStorage { dst in
                ctx.withUnsafeBufferPointer { src in
                    guard let d = dst.baseAddress, let s = src.baseAddress else { return }
                    (d + i * idf * n).update(from: s, count: idf * n)
                }
            }
            attention.withFreshStorage { dst in
                attn.withUnsafeBufferPointer { src in
                    guard let d = dst.baseAddress, let s = src.baseAddress else { return }
                    (d + i * t * n).update(from: s, count: live * n)
                }
            }
        }
        let wordContext = Tensor(uncheckedShape: [b, idf, ih, iw], data: context)
        let wordAttention = Tensor(uncheckedShape: [b, t, ih, iw], data: attention)
        guard let linear, let sentenceVis else {
            return Output(wordContext: wordContext, sentenceContext: nil, wordAttention: wordAttention, sentenceAttention: nil)
        }
        // Sentence attention: s' = linear(c); α = softmax over channels of conv(h ⊙ s'); ctx = s' ⊙ α.
        let s = try linear(c)  // [B, idf]
        let sMap = try s.reshaped([b, idf, 1, 1])
        let alpha = try softmax(sentenceVis(broadcastMultiply(h, sMap)), axis: 1)
        let sentenceContext = try broadcastMultiply(alpha, sMap)
        return Output(wordContext: wordContext, sentenceContext: sentenceContext, wordAttention: wordAttention,
                      sentenceAttention: alpha)
    }
}

/// x `[B, C, H, W]` ⊙ s `[B, C, 1, 1]` (broadcast over space).
func broadcastMultiply(_ x: Tensor, _ s: Tensor) throws -> Tensor {
    let (b, c) = (x.shape[0], x.shape[1])
    guard s.shape == [b, c, 1, 1] else {
        throw TensorError.shapeMismatch(op: "broadcastMultiply", expected: [b, c, 1, 1], actual: s.shape)
    }
    let hw = x.shape[2] * x.shape[3]
    return Tensor.filled(x.shape) { out in
        x.withUnsafeBufferPointer { xp in
            s.withUnsafeBufferPointer { sp in
                for i in 0..<(b * c) {
                    let v = sp[i]
                    for k in 0..<hw { out[i * hw + k] = xp[i * hw + k] * v }
                }
            }
        }
    }
}
