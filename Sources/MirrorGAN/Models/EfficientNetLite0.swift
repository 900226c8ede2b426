/// The image backbone shared by STREAM and the DAMSM image encoder: EfficientNet-Lite0 (ImageNet), as
/// `efficientnet-lite-pytorch` builds it (keys `_conv_stem`, `_bn0`, `_blocks.N.*`, `_conv_head`, `_bn1`).
/// Lite variants use ReLU6, no squeeze-and-excitation, and a fixed stem and head. Convolutions have no
/// bias and use TensorFlow SAME padding; BatchNorm (eps 1e-3) is folded into each conv at load time.
public struct EfficientNetLite0: Sendable {
    /// One MBConv stage of the Lite0 table: repeats, kernel, first stride, expansion, in → out channels.
    struct StageSpec { let repeats, kernel, stride, expand, input, output: Int }
    static let stages: [StageSpec] = [
        .init(repeats: 1, kernel: 3, stride: 1, expand: 1, input: 32, output: 16),
        .init(repeats: 2, kernel: 3, stride: 2, expand: 6, input: 16, output: 24),
        .init(repeats: 2, kernel: 5, stride: 2, expand: 6, input: 24, output: 40),
        .init(repeats: 3, kernel: 3, stride: 2, expand: 6, input: 40, output: 80),
        .init(repeats: 3, kernel: 5, stride: 1, expand: 6, input: 80, output: 112),
        .init(repeats: 4, kernel: 5, stride: 2, expand: 6, input: 112, output: 192),
        .init(repeats: 1, kernel: 3, stride: 1, expand: 6, input: 192, output: 320),
    ]

    struct MBConv: Sendable {
        let expand: ConvLayer?
        let depthwise: ConvLayer
        let project: ConvLayer
        let skip: Bool

        init(_ r: WeightReader, input: Int, output: Int, kernel: Int, stride: Int, expandRatio: Int) throws {
            let hidden = input * expandRatio
            expand = expandRatio == 1 ? nil
                : try ConvLayer(r, "_expand_conv", in: input, out: hidden, kernel: 1, padding: .fixed(.zero))
                    .folding(r.batchNorm("_bn0", channels: hidden, eps: 1e-3)).withTransposedWeight()
            depthwise = try ConvLayer(r, "_depthwise_conv", in: hidden, out: hidden, kernel: kernel, stride: stride,
                                      padding: .tfSame, groups: hidden)
                .folding(r.batchNorm("_bn1", channels: hidden, eps: 1e-3))
            project = try ConvLayer(r, "_project_conv", in: hidden, out: output, kernel: 1, padding: .fixed(.zero))
                .folding(r.batchNorm("_bn2", channels: output, eps: 1e-3)).withTransposedWeight()
            skip = stride == 1 && input == output  // id_skip; drop-connect is training-only
        }

        /// The expand conv's bias and ReLU6 are applied by the depthwise conv as it copies each plane, and
        /// the skip connection is added in the project conv's bias pass: two fewer passes over the
        /// block's tensors (the expanded one is the largest), same arithmetic.
        func callAsFunction(_ x: Tensor) throws -> Tensor {
            var h = x, pending: PendingEpilogue?
            if let expand { (h, pending) = try expand.deferringEpilogue(h, relu6: true) }
            h = try depthwise(h, relu6: true, pending: pending)
            return try project(h, residual: skip ? x : nil)
        }
    }

    let stem: ConvLayer
    let blocks: [MBConv]
    let head: ConvLayer
    let config: ModelConfig.Backbone

    init(_ r: WeightReader, config: ModelConfig.Backbone) throws {
        stem = try ConvLayer(r, "_conv_stem", in: 3, out: 32, kernel: 3, stride: 2, padding: .tfSame)
            .folding(r.batchNorm("_bn0", channels: 32, eps: 1e-3)).withTransposedWeight()
        var blocks = [MBConv]()
        for s in Self.stages {
            for i in 0..<s.repeats {
                blocks.append(try MBConv(r.scope("_blocks").scope("\(blocks.count)"), input: i == 0 ? s.input : s.output,
                                         output: s.output, kernel: s.kernel, stride: i == 0 ? s.stride : 1,
                                         expandRatio: s.expand))
            }
        }
        self.blocks = blocks
        head = try ConvLayer(r, "_conv_head", in: 320, out: 1280, kernel: 1, padding: .fixed(.zero))
            .folding(r.batchNorm("_bn1", channels: 1280, eps: 1e-3)).withTransposedWeight()
        self.config = config
    }

    /// Resize to the input size (bilinear) and map [−1, 1] to the backbone's ImageNet-style input:
    /// p = (x + 1)·127.5, input = (p/255 − mean)/std (`TrunkPreprocessing`).
    public func preprocess(_ image: Tensor) throws -> Tensor { try TrunkPreprocessing(config)(image) }

    /// - Parameter image: `[B, 3, H, W]` in [−1, 1].
    /// - Returns: local features (output of block `local_block`, `[B, 112, 14, 14]`) and the global
    ///   feature (spatial mean of the head, `[B, 1280]`).
    public func callAsFunction(_ image: Tensor) throws -> (local: Tensor, global: Tensor) {
        var x = try stem(preprocess(image), relu6: true)
        var local = x
        for (i, block) in blocks.enumerated() {
            x = try block(x)
            if i == config.localBlock ?? 10 { local = x }
        }
        x = try head(x, relu6: true)
        return (local, try spatialMean(x))
    }
}
