// The model as the server sees it. The executable plugs the MirrorGAN pipeline in (`ModelEngine`, in the
// MirrorGANEngine library); tests plug a fake in.
// Everything here is plain data so the server never depends on the model runtime.

/// What one generation request asks of the engine (already validated by the server).
public struct GenerationParams: Sendable, Equatable {
    public var caption: String
    /// Seed of the first image; image `i` uses `seed &+ UInt64(i)`.
    public var seed: UInt64
    /// Number of images, 1...`ModelInfo.limits.maxImages`.
    public var n: Int
    public var returnAttention: Bool
    /// Beam size of the re-description captioner.
    public var beamSize: Int

    public init(caption: String, seed: UInt64, n: Int = 1, returnAttention: Bool = false, beamSize: Int = 1) {
        self.caption = caption
        self.seed = seed
        self.n = n
        self.returnAttention = returnAttention
        self.beamSize = beamSize
    }
}

/// A grey PNG of one word's attention at the last generator stage.
public struct AttentionMap: Sendable, Equatable {
    public var word: String
    public var width: Int
    public var height: Int
    public var png: [UInt8]

    public init(word: String, width: Int, height: Int, png: [UInt8]) {
        self.word = word
        self.width = width
        self.height = height
        self.png = png
    }
}

public struct GenerationOutput: Sendable, Equatable {
    /// One generated image as the engine hands it to the server (the runtime has its own, richer
    /// `MirrorGAN.GeneratedImage`; this one is plain data).
    public struct Image: Sendable, Equatable {
        public var png: [UInt8]
        public var seed: UInt64
        /// The captioner's text for the generated image (the "mirror"); nil when the model has no captioner.
        public var redescription: String?
        /// R-precision: 1-based rank of the true caption among `candidates` by image-text cosine.
        public var rank: Int
        public var candidates: Int
        public var cosine: Float
        public var attention: [AttentionMap]?

        public init(png: [UInt8], seed: UInt64, redescription: String?, rank: Int, candidates: Int, cosine: Float,
                    attention: [AttentionMap]? = nil) {
            self.png = png
            self.seed = seed
            self.redescription = redescription
            self.rank = rank
            self.candidates = candidates
            self.cosine = cosine
            self.attention = attention
        }
    }

    public var images: [Image]
    public var tokens: [String]
    public var unknownWords: [String]
    /// The caption was longer than the text encoder's limit and was cut.
    public var truncated: Bool
    /// Stage -> seconds (text_encoder, generator, encode, backbone, captioner, rprecision), as the engine timed
    /// them: the router records them in metrics and Server-Timing.
    public var timings: [String: Double]

    public init(images: [Image], tokens: [String], unknownWords: [String] = [], truncated: Bool = false,
                timings: [String: Double] = [:]) {
        self.images = images
        self.tokens = tokens
        self.unknownWords = unknownWords
        self.truncated = truncated
        self.timings = timings
    }
}

public struct CaptionOutput: Sendable, Equatable {
    public var caption: String
    public var tokens: [String]
    /// Per-token log-probabilities (natural log).
    public var logProbs: [Float]
    public var logProb: Float
    /// Stage -> seconds (captioner), as the engine timed them; recorded like a generation's timings.
    public var timings: [String: Double]

    public init(caption: String, tokens: [String], logProbs: [Float], logProb: Float, timings: [String: Double] = [:]) {
        self.caption = caption
        self.tokens = tokens
        self.logProbs = logProbs
        self.logProb = logProb
        self.timings = timings
    }
}

/// Engine failures and the HTTP status each maps to.
public enum EngineError: Error, Sendable, Equatable {
    /// The input is well-formed but unusable, e.g. a caption with no known word -> 422.
    case invalidInput(code: String, message: String)
    /// The image cannot be decoded -> 400.
    case badImage(String)
    /// The image decodes to too many pixels -> 413.
    case imageTooLarge(String)
    /// The model cannot do this at all (captioning with a model that has no captioner) -> 501.
    case notSupported(code: String, message: String)
    /// Anything else -> 500.
    case internalFailure(String)
}

/// What the model accepts per request: the one owner of these numbers is the engine (the server's request
/// parsers check against the served engine's limits).
public struct GenerationLimits: Sendable, Equatable {
    /// Largest `n` (images per generation request).
    public var maxImages: Int
    /// Largest `beam_size` of the captioner (generation's redescription and captioning alike).
    public var maxBeamSize: Int

    public init(maxImages: Int, maxBeamSize: Int) {
        self.maxImages = maxImages
        self.maxBeamSize = maxBeamSize
    }

    /// Before a model is installed: types are still checked, ranges only from below (every inference request
    /// is then answered 503 not_ready anyway).
    static let unknown = GenerationLimits(maxImages: Int.max, maxBeamSize: Int.max)
}

public struct ModelInfo: Sendable, Equatable {
    public var id: String
    public var description: String
    public var parameters: Int
    /// Weight file name -> sha256 (hex).
    public var files: [String: String]
    /// Compute threads the engine uses.
    public var threads: Int
    public var limits: GenerationLimits
    /// The model has a captioner (STREAM): generations carry a redescription and images can be captioned. A model
    /// without one (converted AttnGAN releases) still generates and scores.
    public var captioner: Bool

    public init(id: String, description: String, parameters: Int, files: [String: String], threads: Int,
                limits: GenerationLimits, captioner: Bool = true) {
        self.captioner = captioner
        self.id = id
        self.description = description
        self.parameters = parameters
        self.files = files
        self.threads = threads
        self.limits = limits
    }
}

/// The model, seen by the server. Calls are made from the server's inference worker threads (one call per
/// worker at a time; with more than one worker, calls can overlap, so implementations must be thread-safe).
public protocol InferenceEngine: Sendable {
    var info: ModelInfo { get }
    func generate(_ p: GenerationParams) throws -> GenerationOutput
    /// Captions an encoded image as uploaded (PNG, JPEG, WebP: the engine recognises, checks and decodes it;
    /// `badImage` for what it cannot decode, `imageTooLarge` above its pixel limit).
    func caption(image: [UInt8], beamSize: Int) throws -> CaptionOutput
}
