/// DAMSM image heads (`CNN_ENCODER`'s `emb_features` and `emb_cnn_code`) over the backbone features:
/// region features `[B, nef, 14, 14]` and the global feature `[B, nef]` used by R-precision.
public struct ImageEncoder: Sendable {
    let embFeatures: ConvLayer
    let embCnnCode: LinearLayer

    init(_ r: WeightReader, nef: Int, localChannels: Int, globalChannels: Int) throws {
        embFeatures = try ConvLayer(r, "emb_features", in: localChannels, out: nef, kernel: 1, padding: .fixed(.zero))
        embCnnCode = try LinearLayer(r, "emb_cnn_code", in: globalChannels, out: nef)
    }

    public func regions(_ local: Tensor) throws -> Tensor { try embFeatures(local) }
    public func code(_ global: Tensor) throws -> Tensor { try embCnnCode(global) }
}
