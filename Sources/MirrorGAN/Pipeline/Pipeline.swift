import Foundation

/// Process-wide runtime settings.
public enum Runtime {
    /// Bytes the calling thread's tensor arena holds (lent or free): a worker's steady-state activation
    /// memory (`mirrorgan bench` reports it).
    public static func tensorArenaBytes() -> Int { TensorArena.current.heldBytes }

    /// Fixes the number of compute threads (call once at start-up, before serving). The kernels split
    /// their work, GEMMs included, over this many threads themselves; OpenBLAS runs single-threaded inside
    /// each piece (see `Kernels/ParallelFor.swift` for why; `sgemm` keeps it so).
    public static func setThreads(_ n: Int) {
        singleThreadedOpenBLAS()
        kernelThreads.store(max(1, n), ordering: .relaxed)
        // glibc gives each new thread its own malloc arena, and a 1000-request soak once saw RSS jump by
        // 9 % for a while when a new thread (then a dispatch worker) got one. Two arenas keep it flat; the
        // threads' allocations are few now (tensor memory comes from the per-thread tensor arenas).
        // mallopt is looked up at run time (Glibc's module does not export malloc.h); M_ARENA_MAX is −8.
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
            _ = mallopt(-8, 2)
        }
    }

}

public struct GenerationOptions: Sendable {
    public var seed: UInt64
    /// Images to generate; image i uses seed + i.
    public var n: Int
    /// c = μ (ε = 0) instead of the official sampled conditioning.
    public var meanOnly: Bool
    /// Also return the stage-3 word attention maps `[T, 128, 128]`.
    public var returnAttention: Bool
    /// Also return the 64 and 128 px images.
    public var returnIntermediates: Bool
    /// Beam width of the redescription (1 = greedy, as the official `sample()`).
    public var beamSize: Int
    /// Who draws R-precision's candidates: serving's protocol by default, the evaluation's for `mirrorgan eval`.
    public var candidates: CandidatePicker

    public init(seed: UInt64, n: Int = 1, meanOnly: Bool = false, returnAttention: Bool = false,
                returnIntermediates: Bool = false, beamSize: Int = 1, candidates: CandidatePicker = .bankCaptions) {
        self.seed = seed
        self.n = n
        self.meanOnly = meanOnly
        self.returnAttention = returnAttention
        self.returnIntermediates = returnIntermediates
        self.beamSize = beamSize
        self.candidates = candidates
    }

    public static let maxImages = 8
    public static let maxBeam = 8
}

public struct RPrecision: Sendable, Equatable {
    /// 1 ... candidates: position of the true caption among all candidates by cosine (ties favour it).
    public var rank: Int
    public var candidates: Int
    /// Cosine between the image's DAMSM feature and the caption's sentence feature.
    public var cosine: Float
    /// Candidates whose cosine equals the caption's exactly (e.g. the same caption under another class): serving's
    /// rank counts them in the caption's favour, the evaluation protocol as misses (`RPrecisionEvaluation.isHit`).
    public var tiedCandidates: Int = 0
    public var hit: Bool { rank == 1 }
}

/// Who draws an image's R-precision candidates from the caption bank; both draw `next() % bank.count` from
/// MirrorRNG(imageSeed XOR 0x5DEECE66D), without repeats.
public enum CandidatePicker: Sendable {
    /// Serving: captions whose text differs from the query's (`MirrorRNG.candidateIndices`).
    case bankCaptions
    /// Evaluation: captions of another class than `classes[query]` (`RPrecisionEvaluation.otherClassCandidates`),
    /// `classes` holding one class id per bank caption.
    case otherClasses(classes: [Int], query: Int)

    func pick(imageSeed: UInt64, bank: [[Int]], query: [Int], k: Int) -> [Int] {
        switch self {
        case .bankCaptions:
            return MirrorRNG.candidateIndices(imageSeed: imageSeed, bank: bank, query: query, k: k)
        case let .otherClasses(classes, queryIndex):
            return RPrecisionEvaluation.otherClassCandidates(imageSeed: imageSeed, query: queryIndex, classes: classes, k: k)
        }
    }
}

public struct Redescription: Sendable, Equatable {
    public var text: String
    public var tokens: [String]
    public var ids: [Int]
    public var logProbs: [Float]
    public var logProb: Float { logProbs.reduce(0, +) }
}

public struct GeneratedImage: Sendable {
    public var seed: UInt64
    /// `[1, 3, 256, 256]` in [−1, 1].
    public var image: Tensor
    public var png: [UInt8]
    /// STREAM's redescription; nil for a model without STREAM.
    public var redescription: Redescription?
    public var rPrecision: RPrecision
    public var image64: Tensor?
    public var image128: Tensor?
    /// Stage-3 word attention `[T, 128, 128]` (one map per caption token).
    public var attention: Tensor?
}

public struct GenerationResult: Sendable {
    public var caption: TokenizedCaption
    public var images: [GeneratedImage]
    /// Seconds per stage: text_encoder, generator, captioner, rprecision.
    public var timings: [String: Double]
}

public enum PipelineError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidOption(String)
    case invalidImage(String)
    /// The model has no STREAM (`"stream": null`), so it cannot caption an image.
    case noCaptioner(model: String)
    public var description: String {
        switch self {
        case let .invalidOption(m): return m
        case let .invalidImage(m): return m
        case let .noCaptioner(model):
            return "the model '\(model)' has no captioner (STREAM): it generates and scores images but cannot caption them"
        }
    }
}

extension MirrorGANModel {
    /// Caption → n images (256², plus 64/128 and attention on request), each redescribed by STREAM and
    /// scored by R-precision against 99 bank captions drawn from its seed.
    public func generate(caption: String, options: GenerationOptions) throws -> GenerationResult {
        try generate(tokenized: tokenizer.tokenize(caption), options: options)
    }

    public func generate(tokenized: TokenizedCaption, options: GenerationOptions) throws -> GenerationResult {
        guard (1...GenerationOptions.maxImages).contains(options.n) else {
            throw PipelineError.invalidOption("n must be 1...\(GenerationOptions.maxImages), got \(options.n)")
        }
        guard (1...GenerationOptions.maxBeam).contains(options.beamSize) else {
            throw PipelineError.invalidOption("beam_size must be 1...\(GenerationOptions.maxBeam), got \(options.beamSize)")
        }
        var clock = StageClock()
        let ids = tokenized.ids
        let (words, sentence) = try clock.time("text_encoder") { try textEncoder.encode([ids]) }
        var images = [GeneratedImage]()
        for i in 0..<options.n {
            let seed = MirrorRNG.imageSeed(options.seed, index: i)
            clock.startLap()
            let pass = try imagePass(words: words, sentence: sentence, ids: ids, imageSeed: seed, options: options) {
                clock.lap($0.timingName)
            }
            let out = pass.generated
            var result = GeneratedImage(seed: seed, image: pass.image, png: pass.png,
                                        redescription: pass.caption.map(redescription), rPrecision: pass.rPrecision)
            if options.returnIntermediates, out.images.count == 3 {
                result.image64 = out.images[0]
                result.image128 = out.images[1]
            }
            if options.returnAttention, let att = out.attention.last {
                result.attention = try att.reshaped(att.shape.droppingFirst())
            }
            images.append(result)
        }
        return GenerationResult(caption: tokenized, images: images, timings: clock.timings)
    }

    /// Rank of the true caption among itself and the bank candidates `picker` draws for `imageSeed`, by cosine
    /// between the image's DAMSM global feature `[1, nef]` and each sentence feature.
    public func rPrecision(imageCode: Tensor, sentence: Tensor, query: [Int], imageSeed: UInt64,
                           candidates picker: CandidatePicker = .bankCaptions) throws -> RPrecision {
        let k = config.rPrecision.candidates - 1
        let picks = picker.pick(imageSeed: imageSeed, bank: captionBank, query: query, k: k)
        let trueCos = cosineSimilarity(imageCode.data, sentence.data)
        var better = 0, tied = 0
        try forEachBankSentence(picks) { feature in
            let c = cosineSimilarity(imageCode.data, feature)
            if c > trueCos { better += 1 } else if c == trueCos { tied += 1 }
        }
        return RPrecision(rank: 1 + better, candidates: picks.count + 1, cosine: trueCos, tiedCandidates: tied)
    }

    /// Any RGB image → STREAM caption. The image is brought to the backbone's square input as in training:
    /// first shrunk by averaging fx × fy pixel blocks, with the largest integer factors that keep each side at
    /// least the input size (224), so that a large photo is low-pass filtered rather than aliased; then
    /// stretched bilinearly to 224 × 224 (the aspect ratio is not kept: the training images are square).
    /// Images whose sides are below twice the input size (the 256² generator output) skip the first step.
    public func caption(image: RGBImage, beamSize: Int = 1) throws -> Redescription {
        guard (1...GenerationOptions.maxBeam).contains(beamSize) else {
            throw PipelineError.invalidOption("beam_size must be 1...\(GenerationOptions.maxBeam), got \(beamSize)")
        }
        guard let captioner else { throw PipelineError.noCaptioner(model: config.name) }
        let side = (captioner.backbone ?? backbone).inputSize
        let small = try image.boxShrunk(fx: Swift.max(1, image.width / side), fy: Swift.max(1, image.height / side))
        let t = try small.tensor().reshaped([1, 3, small.height, small.width])
        return redescription(try decodeCaption(captioner, image: t, sharedGlobal: nil, beam: beamSize))
    }

    /// Encoded image bytes (PNG, JPEG or WebP, recognised by signature) → caption. Decoding errors, including
    /// an image over `maxPixels`, are thrown as `ImageError` (see `ImageDecoder`).
    public func caption(encoded bytes: [UInt8], beamSize: Int = 1,
                        maxPixels: Int = ImageDecoder.defaultMaxPixels) throws -> Redescription {
        try caption(image: ImageDecoder.decode(bytes, maxPixels: maxPixels), beamSize: beamSize)
    }
}

/// x·y / max(‖x‖·‖y‖, 1e-8), accumulated in Double.
public func cosineSimilarity<A: RandomAccessCollection, B: RandomAccessCollection>(_ a: A, _ b: B) -> Float
    where A.Element == Float, B.Element == Float, A.Index == Int, B.Index == Int {
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in 0..<min(a.count, b.count) {
        let x = Double(a[a.startIndex + i]), y = Double(b[b.startIndex + i])
        dot += x * y
        na += x * x
        nb += y * y
    }
    return Float(dot / max((na * nb).squareRoot(), 1e-8))
}
