/// The official STREAM encoder's trunk (`CAPTION_CNN.resnet`): torchvision's ResNet-152 without `fc`, under
/// torchvision's names (`conv1`, `bn1`, `layer1` … `layer4`), as the converter renames the official
/// Sequential indices (docs/MODEL_FORMAT.md). Bottleneck blocks 3-8-36-3 (expansion 4), v1.5: a stage's stride 2
/// is on its first block's 3×3 `conv2`; 7×7 stride-2 stem, 3×3 stride-2 max pool with padding 1. BatchNorm (eps
/// `bn_eps`, 1e-5) is folded into each conv at load; ReLU and the residual add run in the conv's bias pass.
/// Reference: `ResNetTrunk` in training/mirrorgan_train/backbones.py.
public struct ResNet152: Sendable {
    static let layers = [3, 8, 36, 3]
    static let widths = [64, 128, 256, 512]
    public static let globalChannels = 2048

    struct Bottleneck: Sendable {
        let conv1, conv3: ConvLayer
        /// 3×3: Winograd at stride 1 (`TrunkConv`), im2col at a stage's first (stride-2) block.
        let conv2: TrunkConv
        let downsample: ConvLayer?

        init(_ r: WeightReader, in cin: Int, width: Int, stride: Int, eps: Float) throws {
            conv1 = try ConvLayer(r, "conv1", in: cin, out: width, kernel: 1, padding: .fixed(.zero))
                .folding(r.batchNorm("bn1", channels: width, eps: eps))
            conv2 = try TrunkConv(ConvLayer(r, "conv2", in: width, out: width, kernel: 3, stride: stride,
                                            padding: .fixed(Padding2D(1)))
                .folding(r.batchNorm("bn2", channels: width, eps: eps)))
            conv3 = try ConvLayer(r, "conv3", in: width, out: 4 * width, kernel: 1, padding: .fixed(.zero))
                .folding(r.batchNorm("bn3", channels: 4 * width, eps: eps))
            let d = r.scope("downsample")
            downsample = stride != 1 || cin != 4 * width
                ? try ConvLayer(d, "0", in: cin, out: 4 * width, kernel: 1, stride: stride, padding: .fixed(.zero))
                    .folding(d.batchNorm("1", channels: 4 * width, eps: eps))
                : nil
        }

        /// relu(bn3(conv3(…)) + identity): the add and the ReLU in conv3's bias pass.
        func callAsFunction(_ x: Tensor) throws -> Tensor {
            let identity = try downsample.map { try $0(x) } ?? x
            return try conv3(conv2(conv1(x, relu: true)), residual: identity, relu: true)
        }
    }

    let conv1: ConvLayer
    let blocks: [Bottleneck]
    let preprocessing: TrunkPreprocessing

    init(_ r: WeightReader, config: ModelConfig.Backbone) throws {
        let eps = config.bnEps ?? 1e-5
        conv1 = try ConvLayer(r, "conv1", in: 3, out: 64, kernel: 7, stride: 2, padding: .fixed(Padding2D(3)))
            .folding(r.batchNorm("bn1", channels: 64, eps: eps))
        var blocks = [Bottleneck]()
        var cin = 64
        for (stage, (count, width)) in zip(Self.layers, Self.widths).enumerated() {
            for b in 0..<count {
                blocks.append(try Bottleneck(r.scope("layer\(stage + 1)").scope("\(b)"), in: cin, width: width,
                                             stride: b == 0 && stage > 0 ? 2 : 1, eps: eps))
                cin = 4 * width
            }
        }
        self.blocks = blocks
        preprocessing = TrunkPreprocessing(config)
    }

    /// - Parameter image: `[B, 3, H, W]` in [−1, 1]. - Returns: the spatial mean of layer4, `[B, 2048]`.
    public func callAsFunction(_ image: Tensor) throws -> Tensor {
        var x = try conv1(preprocessing(image), relu: true)
        x = try maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: Padding2D(1))
        for block in blocks { x = try block(x) }
        return try spatialMean(x)
    }
}
