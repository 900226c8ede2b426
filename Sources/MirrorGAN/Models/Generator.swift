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

/// The forward pass (`callAsFunction` calls it with no callback), with a callback after each stage so that
/// `mirrorgan bench` can time stage 1 (CA + 64² initial stage + image head), stage 2 (128²) and stage 3 (256²)
/// separately. The fused layers the stages use are in `GeneratorBlocks.swift`.
extension Generator {
    /// - Parameter stageDone: called with the stage index (0, 1, 2, …) right after that stage's image.
    public func forward(z: Tensor, sentence: Tensor, words: Tensor, lengths: [Int], epsilon: Tensor,
                        stageDone: (Int) -> Void) throws -> Output {
        let (c, mu, logvar) = try ca(sentence, epsilon: epsilon)
        var h = try initStage(z: z, c: c)
        // The three result lists are allocated once at their final size (growing them was six allocations).
        var images = [Tensor](), hidden = [Tensor](), attention = [Tensor]()
        images.reserveCapacity(nextStages.count + 1)
        hidden.reserveCapacity(nextStages.count + 1)
        attention.reserveCapacity(nextStages.count)
        images.append(try heads[0](h))
        hidden.append(h)
        stageDone(0)
        for (i, stage) in nextStages.enumerated() {
            let (next, att) = try stage(h, c: c, words: words, lengths: lengths)
            h = next
            hidden.append(h)
            attention.append(att)
            images.append(try heads[i + 1](h))
            stageDone(i + 1)
        }
        return Output(images: images, attention: attention, c: c, mu: mu, logvar: logvar, hidden: hidden)
    }
}
