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
    public struct Backbone: Codable, Sendable, Equatable {
        public var name: String
        public var inputSize: Int
        public var alignCorners: Bool
        public var pixelMean: Float
        public var pixelStd: Float
        public var localBlock: Int
        public var localChannels: Int
        public var globalChannels: Int
        enum CodingKeys: String, CodingKey {
            case name, inputSize = "input_size", alignCorners = "align_corners", pixelMean = "pixel_mean",
                 pixelStd = "pixel_std", localBlock = "local_block", localChannels = "local_channels",
                 globalChannels = "global_channels"
        }
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

    public var formatVersion: Int
    public var name: String
    public var description: String
    public var textEncoder: TextEncoder
    public var generator: Generator
    public var backbone: Backbone
    public var stream: Stream
    public var rPrecision: RPrecision

    enum CodingKeys: String, CodingKey {
        case name, description, generator, backbone, stream
        case formatVersion = "format_version", textEncoder = "text_encoder", rPrecision = "r_precision"
    }

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
        try require(backbone.name == "efficientnet-lite0", "backbone \(backbone.name) is not supported")
        try require(backbone.inputSize == 224, "backbone.input_size must be 224 for efficientnet-lite0")
        try require(backbone.localBlock >= 0 && backbone.localBlock < 16, "backbone.local_block must be 0...15")
        try require(stream.maxSeqLength >= 1 && stream.maxSeqLength <= 100, "stream.max_seq_length must be 1...100")
        try require(rPrecision.candidates >= 2, "r_precision.candidates must be ≥ 2")
    }
}
