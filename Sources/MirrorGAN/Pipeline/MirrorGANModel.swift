import Foundation

/// A loaded, verified model: immutable after `load`, so one instance serves any number of callers at
/// once (each call allocates its own activations).
public final class MirrorGANModel: Sendable {
    public let directory: String
    public let config: ModelConfig
    public let vocabulary: [String]
    public let tokenizer: Tokenizer
    /// R-precision candidates: test captions as token ids.
    public let captionBank: [[Int]]
    /// The class id of each bank caption (`class_ids` in caption_bank.json, optional): the evaluation protocol
    /// draws candidates from other classes (`mirrorgan eval`).
    public let captionClasses: [Int]?
    private let bankCache = BankFeatureCache()
    /// File → sha256, as verified against the MANIFEST.
    public let checksums: [String: String]
    public let parameterCount: Int

    public let textEncoder: TextEncoder
    public let generator: Generator
    /// The DAMSM image encoder's trunk (R-precision), shared with STREAM unless STREAM has its own.
    public let backbone: ImageTrunk
    public let imageEncoder: ImageEncoder
    /// STREAM; nil for a model without one (`"stream": null`): no redescription, no captioning.
    public let captioner: Captioner?

    /// STREAM: its own trunk where it has one (converted MirrorGAN: ResNet-152), its encoder head and decoder.
    public struct Captioner: Sendable {
        /// nil: STREAM runs on the shared `backbone` (Lite0 models).
        public let backbone: ImageTrunk?
        public let encoder: CaptionEncoder
        public let decoder: CaptionDecoder
    }

    /// Loads `directory`: verifies every file's sha256 against the MANIFEST, then every tensor's name
    /// and shape against the architecture in `model.json`. Throws `ModelLoadError` naming the file and tensor.
    public init(directory: String, verifyChecksums: Bool = true) throws {
        self.directory = directory
        let manifest = verifyChecksums ? try ModelDirectory.verify(directory) : [:]
        let config: ModelConfig = try Self.decodeJSON(directory, "model.json")
        try config.validate(file: "model.json")
        if verifyChecksums { try ModelDirectory.requireEntries(ModelDirectory.weightFiles(config), in: manifest) }
        checksums = manifest
        self.config = config

        struct Vocab: Decodable { let ixtoword: [String] }
        let vocab: Vocab = try Self.decodeJSON(directory, "vocab.json")
        guard vocab.ixtoword.count == config.textEncoder.nWords, vocab.ixtoword.first == "<end>" else {
            throw ModelLoadError.invalidConfig(file: "vocab.json", message:
                "needs n_words = \(config.textEncoder.nWords) entries starting with <end>, has \(vocab.ixtoword.count)")
        }
        vocabulary = vocab.ixtoword
        tokenizer = Tokenizer(vocabulary: vocab.ixtoword)

        struct Bank: Decodable { let captions: [[Int]]; let class_ids: [Int]? }
        let bank: Bank = try Self.decodeJSON(directory, "caption_bank.json")
        let n = config.textEncoder.nWords
        if let bad = bank.captions.firstIndex(where: { $0.isEmpty || $0.contains { $0 <= 0 || $0 >= n } }) {
            throw ModelLoadError.invalidConfig(file: "caption_bank.json", message: "caption \(bad) is empty or has an id outside 1..<\(n)")
        }
        guard bank.captions.count >= config.rPrecision.candidates else {
            throw ModelLoadError.invalidConfig(file: "caption_bank.json",
                                               message: "needs ≥ \(config.rPrecision.candidates) captions, has \(bank.captions.count)")
        }
        if let classes = bank.class_ids, classes.count != bank.captions.count {
            throw ModelLoadError.invalidConfig(file: "caption_bank.json",
                                               message: "class_ids has \(classes.count) entries for \(bank.captions.count) captions")
        }
        captionBank = bank.captions
        captionClasses = bank.class_ids

        var params = 0
        func open<T>(_ name: String, _ build: (WeightReader) throws -> T) throws -> T {
            let r = try WeightReader(path: directory + "/" + name, displayName: name)
            let module = try build(r)
            try r.finish()
            params += r.parameterCount
            return module
        }
        let c = config
        textEncoder = try open("text_encoder.safetensors") { try TextEncoder($0, config: c.textEncoder) }
        generator = try open("generator.safetensors") { try Generator($0, config: c.generator, nef: c.textEncoder.hiddenDim) }
        backbone = try open("backbone.safetensors") { try ImageTrunk($0, config: c.backbone) }
        let codeHead = try c.codeHead(file: "model.json")
        imageEncoder = try open("image_encoder.safetensors") {
            try ImageEncoder($0, nef: c.textEncoder.hiddenDim, localChannels: c.backbone.localChannels ?? InceptionV3.localChannels,
                             globalChannels: c.backbone.globalChannels, codeHead: codeHead)
        }
        if let stream = c.stream, let trunk = c.captionerBackbone {
            let own = try c.streamBackbone.map { b in try open("stream_backbone.safetensors") { try ImageTrunk($0, config: b) } }
            let encoder = try open("stream_encoder.safetensors") {
                try CaptionEncoder($0, globalChannels: trunk.globalChannels, embedSize: stream.embedSize)
            }
            let decoder = try open("stream_decoder.safetensors") { try CaptionDecoder($0, config: stream, nWords: n) }
            captioner = Captioner(backbone: own, encoder: encoder, decoder: decoder)
        } else {
            captioner = nil
        }
        parameterCount = params
    }

    /// STEM sentence features of bank captions `indices` (R-precision's candidates), each `[nef]`. Each
    /// caption is encoded on its own (a batch of one) the first time it is asked for and kept, so a
    /// feature never depends on which captions it was computed with, or when: R-precision is identical
    /// whether the cache is cold or warm. A cold candidate costs ~0.2 ms; a warm one a cosine.
    public func bankSentences(_ indices: [Int]) throws -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(indices.count)
        try forEachBankSentence(indices) { out.append($0) }
        return out
    }

    /// Calls `body` with the sentence feature of each bank caption in `indices`, in order (R-precision:
    /// no array of the 99 features is built).
    func forEachBankSentence(_ indices: [Int], _ body: ([Float]) throws -> Void) throws {
        for j in indices {
            try body(bankCache.feature(j) { j in try Array(textEncoder.encode([captionBank[j]]).sentence.data) })
        }
    }

    /// Encodes every bank caption not encoded yet (`serve` runs this in the background once it is ready:
    /// ~4 s of one core for the 20,000-caption SynthBirds bank, after which R-precision costs 99 cosines).
    /// `stop` is asked before each block of 256 captions: `serve` stops the warm-up before the process exits.
    /// Returns true when every caption is encoded, false when `stop` ended it first.
    @discardableResult
    public func warmBankSentences(until stop: () -> Bool = { false }) throws -> Bool {
        for start in stride(from: 0, to: captionBank.count, by: 256) {
            if stop() { return false }
            _ = try bankSentences(Array(start..<min(start + 256, captionBank.count)))
        }
        return true
    }

    static func decodeJSON<T: Decodable>(_ directory: String, _ file: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: directory + "/" + file) else {
            throw ModelLoadError.missingFile(file: file)
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw ModelLoadError.invalidConfig(file: file, message: "invalid JSON: \(error)")
        }
    }

    /// Words for token ids (ids outside the vocabulary are skipped).
    public func words(_ ids: [Int]) -> [String] {
        ids.compactMap { $0 >= 0 && $0 < vocabulary.count ? vocabulary[$0] : nil }
    }
}

/// The bank captions' sentence features computed so far (`MirrorGANModel.bankSentences(_:)`).
private final class BankFeatureCache: @unchecked Sendable {
    private let lock = NSLock()
    private var cached: [Int: [Float]] = [:]

    func feature(_ index: Int, compute: (Int) throws -> [Float]) throws -> [Float] {
        lock.lock()
        let hit = cached[index]
        lock.unlock()
        if let hit { return hit }
        let f = try compute(index)  // outside the lock: encoding is the slow part; a race computes the same value
        lock.lock()
        cached[index] = f
        lock.unlock()
        return f
    }
}
