/// The generator's forward pass (`Generator.callAsFunction` calls it with no callback), with a callback after
/// each stage so that `mirrorgan bench` can time stage 1
/// (CA + 64² initial stage + image head), stage 2 (128²) and stage 3 (256²) separately.
///
/// The fused layers themselves (upsample + 3×3 conv + BN + GLU as four phase convolutions, Winograd
/// F(2×2, 3×3) residual convolutions with the GLU / residual-add epilogue) live in
/// `Kernels/UpsampleConv3x3.swift` and `Kernels/Winograd3x3.swift` and are used by `GeneratorBlocks.swift`.
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
