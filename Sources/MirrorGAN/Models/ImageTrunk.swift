/// The image trunk a model.json entry names (`backbone`, `stream_backbone`; docs/MODEL_FORMAT.md): the one place
/// the runtime chooses between EfficientNet-Lite0 (this toolkit's models: one trunk shared by the DAMSM image
/// encoder and STREAM), Inception-v3 (the official DAMSM image encoder's) and ResNet-152 (the official STREAM
/// encoder's).
public enum ImageTrunk: Sendable {
    case efficientNetLite0(EfficientNetLite0)
    case inceptionV3(InceptionV3)
    case resNet152(ResNet152)

    /// Builds the trunk `config` names from `r`'s tensors (names and shapes checked; `ModelConfig.validate` has
    /// already refused names the runtime does not have).
    init(_ r: WeightReader, config: ModelConfig.Backbone) throws {
        switch config.name {
        case ModelConfig.Backbone.inceptionV3: self = .inceptionV3(try InceptionV3(r, config: config))
        case ModelConfig.Backbone.resNet152: self = .resNet152(try ResNet152(r, config: config))
        case ModelConfig.Backbone.efficientNetLite0: self = .efficientNetLite0(try EfficientNetLite0(r, config: config))
        default:
            throw ModelLoadError.invalidConfig(file: "model.json", message: "backbone \(config.name) is not supported")
        }
    }

    /// - Parameter image: `[B, 3, H, W]` in [−1, 1], any size (resized to the trunk's input size).
    /// - Returns: the region features (nil for ResNet-152) and the global feature `[B, global_channels]`.
    public func callAsFunction(_ image: Tensor) throws -> (local: Tensor?, global: Tensor) {
        switch self {
        case let .efficientNetLite0(t):
            let (local, global) = try t(image)
            return (local, global)
        case let .inceptionV3(t):
            let (local, global) = try t(image)
            return (local, global)
        case let .resNet152(t): return (nil, try t(image))
        }
    }

    /// The trunk's square input size (the caption path shrinks uploads towards it).
    public var inputSize: Int {
        switch self {
        case let .efficientNetLite0(t): return t.config.inputSize
        case let .inceptionV3(t): return t.preprocessing.size
        case let .resNet152(t): return t.preprocessing.size
        }
    }
}

/// A trunk's input mapping (model.json's `input_size`, `align_corners`, `pixel_mean`, `pixel_std`): an image in
/// [−1, 1] is resized bilinearly to input_size² (unless it has that size), then each channel c becomes
/// ((x + 1) · 0.5 − mean[c]) / std[c], computed in Float in that order, as backbones.py's `_Preprocess` does.
struct TrunkPreprocessing: Sendable {
    let size: Int
    let alignCorners: Bool
    let mean: (Float, Float, Float), std: (Float, Float, Float)

    init(_ config: ModelConfig.Backbone) {
        size = config.inputSize
        alignCorners = config.alignCorners
        let (m, s) = (config.pixelMean, config.pixelStd)
        mean = (m.channel(0), m.channel(1), m.channel(2))
        std = (s.channel(0), s.channel(1), s.channel(2))
    }

    /// - Parameter image: `[B, 3, H, W]`.
    func callAsFunction(_ image: Tensor) throws -> Tensor {
        try requireRank("trunk input", image, 4, "4 ([B, 3, H, W])")
        guard image.shape[1] == 3 else {
            throw TensorError.shapeMismatch(op: "trunk input (3 channels)", expected: [image.shape[0], 3, size, size],
                                            actual: image.shape)
        }
        var x = image
        if x.shape[2] != size || x.shape[3] != size {
            x = try resizeBilinear(x, height: size, width: size, alignCorners: alignCorners)
        }
        let plane = size * size
        let (mean, std) = (self.mean, self.std)
        return Tensor.filled(x.shape) { out in
            x.withUnsafeBufferPointer { src in
                for i in 0..<src.count {
                    let c = (i / plane) % 3
                    let (m, s) = c == 0 ? (mean.0, std.0) : c == 1 ? (mean.1, std.1) : (mean.2, std.2)
                    out[i] = ((src[i] + 1) * 0.5 - m) / s
                }
            }
        }
    }
}
