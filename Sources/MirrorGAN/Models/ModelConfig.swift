/// `model.json` of a model directory (docs/MODEL_FORMAT.md), decoded into native types.
public struct ModelConfig: Codable, Sendable, Equatable {
    public struct TextEncoder: Codable, Sendable, Equatable {
        public var nWords: Int
        public var embeddingDim: Int
        public var hiddenDim: Int
        public var wordsNum: Int
        enum CodingKeys: String, CodingKey {
            case nWords = "n_words", embeddingDim = "embedding_dim", hiddenDim = "hidden_dim", wordsNum = "words_num"
        }
    }
    public struct Generator: Codable, Sendable, Equatable {
        public var ngf: Int
        public var zDim: Int
        public var conditionDim: Int
        public var rNum: Int
        public var branchNum: Int
        public var baseSize: Int
        /// MirrorGAN's GLAM (sentence attention + 96→64 fusion conv); false for the AttnGAN generator.
        public var glam: Bool
        enum CodingKeys: String, CodingKey {
            case ngf, glam, zDim = "z_dim", conditionDim = "condition_dim", rNum = "r_num", branchNum = "branch_num",
                 baseSize = "base_size"
        }
    }
    /// An image trunk (`backbone`, and `stream_backbone` where STREAM has its own): which network, its input size
    /// and pixel mapping, and which features it gives (docs/MODEL_FORMAT.md).
    public struct Backbone: Codable, Sendable, Equatable {
        public static let efficientNetLite0 = "efficientnet-lite0", inceptionV3 = "inception_v3", resNet152 = "resnet152"

        public var name: String
        public var inputSize: Int
        public var alignCorners: Bool
        /// ((x + 1) / 2 − mean) / std, with one value for every channel or one per channel (model.json: a number or a
        /// list of three).
        public var pixelMean: PixelValues
        public var pixelStd: PixelValues
        /// The block whose output is the region feature (Lite0: 10; Inception-v3: 12 = Mixed_6e); none for a trunk
        /// that gives only a global feature (ResNet-152).
        public var localBlock: Int?
        public var localChannels: Int?
        public var globalChannels: Int
        /// BatchNorm eps (Inception-v3 0.001, ResNet-152 1e-5; Lite0 always 0.001). Absent: the trunk's own.
        public var bnEps: Float?

        public init(name: String, inputSize: Int, alignCorners: Bool, pixelMean: PixelValues, pixelStd: PixelValues,
                    localBlock: Int?, localChannels: Int?, globalChannels: Int, bnEps: Float? = nil) {
            self.name = name
            self.inputSize = inputSize
            self.alignCorners = alignCorners
            self.pixelMean = pixelMean
            self.pixelStd = pixelStd
            self.localBlock = localBlock
            self.localChannels = localChannels
            self.globalChannels = globalChannels
            self.bnEps = bnEps
        }

        enum CodingKeys: String, CodingKey {
            case name, inputSize = "input_size", alignCorners = "align_corners", pixelMean = "pixel_mean",
                 pixelStd = "pixel_std", localBlock = "local_block", localChannels = "local_channels",
                 globalChannels = "global_channels", bnEps = "bn_eps"
        }
    }

    /// A number, or a list of per-channel numbers, in model.json (`pixel_mean`, `pixel_std`).
    public struct PixelValues: Codable, Sendable, Equatable, ExpressibleByFloatLiteral, ExpressibleByArrayLiteral {
        public var values: [Float]
        public init(_ values: [Float]) { self.values = values }
        public init(floatLiteral value: Float) { values = [value] }
        public init(arrayLiteral elements: Float...) { values = elements }
        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Float.self) { values = [v] } else { values = try c.decode([Float].self) }
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            if values.count == 1 { try c.encode(values[0]) } else { try c.encode(values) }
        }
        /// The value for channel `c` of a 3-channel image.
        func channel(_ c: Int) -> Float { values.count == 1 ? values[0] : values[c] }
    }
    public struct Stream: Codable, Sendable, Equatable {
        public var embedSize: Int
        public var hiddenSize: Int
        public var maxSeqLength: Int
        /// STREAM was trained to emit `<end>` (id 0); greedy decoding stops there.
        public var endToken: Bool
        enum CodingKeys: String, CodingKey {
            case embedSize = "embed_size", hiddenSize = "hidden_size", maxSeqLength = "max_seq_length",
                 endToken = "end_token"
        }
    }
    public struct RPrecision: Codable, Sendable, Equatable {
        public var candidates: Int
    }
    /// The DAMSM image encoder's global-code head (model.json `image_encoder`, optional): absent or `linear`, the
    /// official `emb_cnn_code` alone; `local_conv`, a convolutional head over the region map as well (`width`
    /// channels; `MirrorGAN.ImageEncoder.LocalConvCodeHead`).
    public struct ImageEncoder: Codable, Sendable, Equatable {
        public static let linear = "linear", localConv = "local_conv"

        public var codeHead: String
        /// The local_conv head's channels (required and positive for local_conv, absent for linear).
        public var width: Int?

        public init(codeHead: String, width: Int? = nil) {
            self.codeHead = codeHead
            self.width = width
        }

        enum CodingKeys: String, CodingKey {
            case width, codeHead = "code_head"
        }
    }

    public var formatVersion: Int
    public var name: String
    public var description: String
    public var textEncoder: TextEncoder
    public var generator: Generator
    public var backbone: Backbone
    /// STREAM, the captioner; nil (model.json `"stream": null`) for a model without one (AttnGAN releases): such a
    /// model generates and scores but gives no redescription and captions no image.
    public var stream: Stream?
    /// STREAM's own trunk (converted MirrorGAN models: ResNet-152); nil: STREAM uses `backbone`.
    public var streamBackbone: Backbone?
    public var rPrecision: RPrecision
    /// The DAMSM image encoder's code head; nil (no `image_encoder` key: official and converted models) is the
    /// linear head.
    public var imageEncoder: ImageEncoder?

    enum CodingKeys: String, CodingKey {
        case name, description, generator, backbone, stream
        case formatVersion = "format_version", textEncoder = "text_encoder", rPrecision = "r_precision",
             streamBackbone = "stream_backbone", imageEncoder = "image_encoder"
    }

    /// The trunk STREAM runs on (its own, or the shared one); nil without STREAM.
    public var captionerBackbone: Backbone? { stream == nil ? nil : streamBackbone ?? backbone }

    /// Structural checks a decoder cannot express (positive sizes, a supported backbone and format).
    func validate(file: String) throws {
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw ModelLoadError.invalidConfig(file: file, message: message) }
        }
        try require(formatVersion == 1, "format_version \(formatVersion) is not supported (expected 1)")
        try require(textEncoder.nWords > 1 && textEncoder.embeddingDim > 0, "text_encoder sizes must be positive")
        try require(textEncoder.hiddenDim > 0 && textEncoder.hiddenDim % 2 == 0, "text_encoder.hidden_dim must be even")
        try require(generator.ngf > 0 && generator.zDim > 0 && generator.conditionDim > 0, "generator sizes must be positive")
        try require(generator.branchNum >= 1 && generator.branchNum <= 3, "generator.branch_num must be 1...3")
        try require(generator.baseSize == 64, "generator.base_size must be 64")
        try require(generator.rNum >= 0, "generator.r_num must be ≥ 0")
        try validateTrunk(backbone, "backbone", needsLocal: true, require)
        _ = try codeHead(file: file)
        if let streamBackbone {
            try require(stream != nil, "stream_backbone is given but stream is null (a model without STREAM has no STREAM trunk)")
            try validateTrunk(streamBackbone, "stream_backbone", needsLocal: false, require)
        }
        guard let stream else {
            try require(rPrecision.candidates >= 2, "r_precision.candidates must be ≥ 2")
            return
        }
        try require(stream.maxSeqLength >= 1 && stream.maxSeqLength <= 100, "stream.max_seq_length must be 1...100")
        try require(rPrecision.candidates >= 2, "r_precision.candidates must be ≥ 2")
    }

    /// The DAMSM code head model.json asks for (`image_encoder`), checked: an unknown `code_head`, or a local_conv
    /// head without a positive `width` (or a linear one with a width), is `ModelLoadError.invalidConfig` naming
    /// `file` and the field.
    func codeHead(file: String) throws -> ImageEncoderCodeHead {
        guard let head = imageEncoder else { return .linear }
        let (linear, localConv) = (ImageEncoder.linear, ImageEncoder.localConv)
        switch head.codeHead {
        case linear:
            guard head.width == nil else {
                throw ModelLoadError.invalidConfig(file: file, message:
                    "image_encoder.width is only for code_head \"\(localConv)\" (code_head is \"\(linear)\")")
            }
            return .linear
        case localConv:
            guard let width = head.width, width > 0 else {
                throw ModelLoadError.invalidConfig(file: file, message:
                    "image_encoder.width must be a positive integer for code_head \"\(localConv)\""
                    + (head.width.map { ", got \($0)" } ?? ", it is missing"))
            }
            return .localConv(width: width)
        default:
            throw ModelLoadError.invalidConfig(file: file, message:
                "image_encoder.code_head \"\(head.codeHead)\" is not supported (\"\(linear)\" or \"\(localConv)\")")
        }
    }

    /// The trunks the runtime has, each with the sizes its architecture fixes.
    private func validateTrunk(_ b: Backbone, _ key: String, needsLocal: Bool,
                               _ require: (Bool, String) throws -> Void) throws {
        let counts = [b.pixelMean.values.count, b.pixelStd.values.count]
        try require(counts.allSatisfy { $0 == 1 || $0 == 3 }, "\(key).pixel_mean and pixel_std must be a number or a list of 3")
        try require(b.pixelStd.values.allSatisfy { $0 > 0 && $0.isFinite } && b.pixelMean.values.allSatisfy(\.isFinite),
                    "\(key).pixel_std must be positive and pixel_mean finite")
        try require(b.bnEps.map { $0 > 0 && $0.isFinite } ?? true, "\(key).bn_eps must be positive")
        switch b.name {
        case Backbone.efficientNetLite0:
            try require(b.inputSize == 224, "\(key).input_size must be 224 for efficientnet-lite0")
            try require((0..<16).contains(b.localBlock ?? -1), "\(key).local_block must be 0...15")
            try require(b.localChannels != nil && b.globalChannels == 1280, "\(key): efficientnet-lite0 gives local_channels (block output) and global_channels 1280")
        case Backbone.inceptionV3:
            try require(b.inputSize == 299, "\(key).input_size must be 299 for inception_v3")
            try require(b.localBlock == nil || b.localBlock == 12, "\(key).local_block must be 12 (Mixed_6e) for inception_v3")
            try require(b.localChannels == nil || b.localChannels == InceptionV3.localChannels,
                        "\(key).local_channels must be 768 (Mixed_6e) for inception_v3")
            try require(b.globalChannels == InceptionV3.globalChannels, "\(key).global_channels must be 2048 for inception_v3")
        case Backbone.resNet152 where !needsLocal:
            try require(b.inputSize >= 32, "\(key).input_size must be ≥ 32 for resnet152")
            try require(b.globalChannels == ResNet152.globalChannels, "\(key).global_channels must be 2048 for resnet152")
        case Backbone.resNet152:
            try require(false, "\(key) resnet152 gives no region features: the DAMSM image encoder needs efficientnet-lite0 or inception_v3")
        default:
            try require(false, "\(key) \(b.name) is not supported (efficientnet-lite0, inception_v3\(needsLocal ? "" : ", resnet152"))")
        }
    }
}

/// The DAMSM image encoder's global-code head, as `ModelConfig.codeHead(file:)` resolves model.json's `image_encoder`.
public enum ImageEncoderCodeHead: Sendable, Equatable {
    /// `emb_cnn_code(global)` (official and converted models).
    case linear
    /// `code_out(cat([mean(relu(bn2(conv2(relu(bn1(conv1(local))))))), relu(emb_cnn_code(global))]))`, `width` channels.
    case localConv(width: Int)
}
