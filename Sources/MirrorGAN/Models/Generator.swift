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

/// `G_NET`: CA, stage 1 (64²), GLAM stages 2 (128²) and 3 (256²), one image head per stage.
/// Keys follow the official module tree (`ca_net.*`, `h_net1.*`, `h_net2.*`, `h_net3.*`, `img_net{1,2,3}.*`).
public struct Generator: Sendable {
    let ca: ConditioningAugmentation
    let initStage: InitStage
    let nextStages: [NextStage]
    let heads: [ImageHead]
    public let config: ModelConfig.Generator

    init(_ r: WeightReader, config g: ModelConfig.Generator, nef: Int) throws {
        ca = try ConditioningAugmentation(r.scope("ca_net"), nef: nef, ncf: g.conditionDim)
        initStage = try InitStage(r.scope("h_net1"), ngf16: g.ngf * 16, inDim: g.zDim + g.conditionDim)
        nextStages = try (1..<g.branchNum).map {
            try NextStage(r.scope("h_net\($0 + 1)"), ngf: g.ngf, nef: nef, ncf: g.conditionDim, rNum: g.rNum, glam: g.glam)
        }
        heads = try (1...g.branchNum).map { try ImageHead(r, "img_net\($0)", ngf: g.ngf) }
        config = g
    }

    public struct Output: Sendable {
        /// One image per stage, `[B, 3, 64·2^i, 64·2^i]` in [−1, 1].
        public var images: [Tensor]
        /// Word attention of stages 2 and 3, `[B, T, 64, 64]` and `[B, T, 128, 128]`.
        public var attention: [Tensor]
        public var c: Tensor, mu: Tensor, logvar: Tensor
        /// Hidden features of each stage (h1, h2, h3).
        public var hidden: [Tensor]
    }

    /// - Parameters: z `[B, z_dim]`; sentence `[B, nef]`; words `[B, nef, T]`; lengths per sample;
    ///   epsilon `[B, ncf]` (zeros for mean-only conditioning).
    public func callAsFunction(z: Tensor, sentence: Tensor, words: Tensor, lengths: [Int], epsilon: Tensor) throws -> Output {
        try forward(z: z, sentence: sentence, words: words, lengths: lengths, epsilon: epsilon, stageDone: { _ in })
    }
}
