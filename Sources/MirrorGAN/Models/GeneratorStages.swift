// The generator's two kinds of stage: `INIT_STAGE_G` (h_net1, noise and condition to 64²) and `NEXT_STAGE_G`
// (h_net2, h_net3: attention, residual blocks, ×2 upsampling), built from the blocks in GeneratorBlocks.swift.

/// `INIT_STAGE_G` (`h_net1`): [c ; z] → Linear(no bias) → BN1d → GLU → [B, 16·ngf, 4, 4] → 4 upBlocks → 64².
struct InitStage: Sendable {
    let fc: LinearLayer
    let upsample: [UpBlock]
    let channels: Int  // 16·ngf

    init(_ r: WeightReader, ngf16: Int, inDim: Int) throws {
        let fcScope = r.scope("fc")
        fc = try LinearLayer(fcScope, "0", in: inDim, out: ngf16 * 32, bias: false)
            .folding(fcScope.batchNorm("1", channels: ngf16 * 32, eps: 1e-5))
        upsample = try (1...4).map { i in
            try UpBlock(r, "upsample\(i)", in: ngf16 >> (i - 1), out: ngf16 >> i)
        }
        channels = ngf16
    }

    /// - Parameters: z `[B, z_dim]`, c `[B, ncf]`. Returns h1 `[B, ngf, 64, 64]`.
    func callAsFunction(z: Tensor, c: Tensor) throws -> Tensor {
        // Condition first, then noise (pitfall 2); reshape channel-major after the GLU.
        var h = try glu(fc(concat(c, z, axis: 1))).reshaped([c.shape[0], channels, 4, 4])
        for block in upsample { h = try block(h) }
        return h
    }
}

/// `NEXT_STAGE_G` (`h_net2`, `h_net3`): attention → [h, ctx_w, ctx_s] → 1×1 conv (96 → 64 at ngf 32) →
/// residual blocks → upBlock. The AttnGAN variant feeds [h, ctx_w] straight into the residual blocks.
struct NextStage: Sendable {
    let att: GLAttention
    let residual: [ResBlock]
    let upsample: UpBlock
    let conv: ConvLayer?

    init(_ r: WeightReader, ngf: Int, nef: Int, ncf: Int, rNum: Int, glam: Bool) throws {
        att = try GLAttention(r.scope("att"), idf: ngf, nef: nef, ncf: ncf, glam: glam)
        residual = try (0..<rNum).map { try ResBlock(r.scope("residual"), "\($0)", channels: 2 * ngf) }
        upsample = try UpBlock(r, "upsample", in: 2 * ngf, out: ngf)
        conv = glam ? try ConvLayer(r, "conv", in: 3 * ngf, out: 2 * ngf, kernel: 1, padding: .fixed(.zero)) : nil
    }

    func callAsFunction(_ h: Tensor, c: Tensor, words: Tensor, lengths: [Int]) throws -> (h: Tensor, attention: Tensor) {
        let a = try att(h, c: c, words: words, lengths: lengths)
        var x: Tensor
        if let conv, let sentence = a.sentenceContext {
            x = try conv(concat(h, a.wordContext, sentence, axis: 1))
        } else {
            x = try concat(h, a.wordContext, axis: 1)
        }
        for block in residual { x = try block(x) }
        return (try upsample(x), a.wordAttention)
    }
}
