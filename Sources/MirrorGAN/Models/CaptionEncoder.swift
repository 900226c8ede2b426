/// STREAM's encoder head (`CAPTION_CNN` minus the backbone): Linear(1280 → embed) + BatchNorm1d
/// (eps 1e-5, running statistics; folded into the linear layer at load). Keys `linear.*`, `bn.*`.
public struct CaptionEncoder: Sendable {
    let linear: LinearLayer

    init(_ r: WeightReader, globalChannels: Int, embedSize: Int) throws {
        linear = try LinearLayer(r, "linear", in: globalChannels, out: embedSize)
            .folding(r.batchNorm("bn", channels: embedSize, eps: 1e-5))
    }

    /// `[B, 1280]` → `[B, embed]`.
    public func callAsFunction(_ global: Tensor) throws -> Tensor { try linear(global) }
}
