// A test double for the model: knows a tiny vocabulary, returns 2x2 PNGs, can be slow or fail on demand.
import Foundation
@testable import MirrorGANServer

final class FakeEngine: InferenceEngine, @unchecked Sendable {
    static let vocabulary: Set<String> = ["a", "small", "bird", "red", "wings", "with", "the", "this", "has"]
    static let maxPixels = 4096 * 4096

    let info: ModelInfo
    /// Seconds each call sleeps (to fill the queue).
    let delay: Double
    private let lock = NSLock()
    private var _generateCalls = 0
    private var _captionCalls = 0

    /// `limits`: what the engine accepts per request (the router checks requests against them).
    /// `captioner: false`: a model without STREAM (no redescription; captioning is 501 no_captioner).
    init(delay: Double = 0, limits: GenerationLimits = GenerationLimits(maxImages: 8, maxBeamSize: 8), captioner: Bool = true) {
        self.delay = delay
        info = ModelInfo(id: "fake-birds", description: "test double", parameters: 1234,
                         files: ["text_encoder.bin": String(repeating: "ab", count: 32)], threads: 1, limits: limits,
                         captioner: captioner)
    }

    var generateCalls: Int { lock.lock(); defer { lock.unlock() }; return _generateCalls }
    var captionCalls: Int { lock.lock(); defer { lock.unlock() }; return _captionCalls }

    func generate(_ p: GenerationParams) throws -> GenerationOutput {
        lock.lock(); _generateCalls += 1; lock.unlock()
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        if p.caption.contains("explode") { throw EngineError.internalFailure("fake engine exploded") }
        let words = p.caption.lowercased().split(whereSeparator: { !$0.isLetter }).map(String.init)
        let known = words.filter { FakeEngine.vocabulary.contains($0) }
        let unknown = words.filter { !FakeEngine.vocabulary.contains($0) }
        guard !known.isEmpty else {
            throw EngineError.invalidInput(code: words.isEmpty ? "empty_caption" : "no_known_words",
                                           message: "the caption has no word the model knows")
        }
        var images: [GenerationOutput.Image] = []
        for i in 0..<p.n {
            let attention: [AttentionMap]? = p.returnAttention
                ? known.map { AttentionMap(word: $0, width: 2, height: 2, png: TestPNG.grey()) } : nil
            let cosine: Float = i == 0 ? 0.75 : .nan
            let pixels: [UInt8] = [UInt8(truncatingIfNeeded: i), 64, 128, 255]
            images.append(GenerationOutput.Image(png: TestPNG.grey(pixels: pixels), seed: p.seed &+ UInt64(i),
                                         redescription: info.captioner ? "a small bird, with \"red\" wings/100%" : nil, rank: i == 0 ? 1 : 3,
                                         candidates: 100, cosine: cosine, attention: attention))
        }
        return GenerationOutput(images: images, tokens: known, unknownWords: unknown, truncated: words.count > 18,
                                timings: ["text_encoder": 0.001, "generator": 0.002, "captioner": 0.003, "rprecision": 0.0005])
    }

    func caption(image png: [UInt8], beamSize: Int) throws -> CaptionOutput {
        lock.lock(); _captionCalls += 1; lock.unlock()
        if !info.captioner { throw EngineError.notSupported(code: "no_captioner", message: "no captioner") }
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        guard let (w, h) = TestPNG.dimensions(png) else { throw EngineError.badImage("cannot decode the PNG") }
        guard w * h <= FakeEngine.maxPixels else { throw EngineError.imageTooLarge("\(w)x\(h) is too many pixels") }
        // Like the real engine, the captioner's stage time comes back with the caption.
        return CaptionOutput(caption: "a small bird", tokens: ["a", "small", "bird", "beam\(beamSize)"],
                             logProbs: [-0.25, -0.5, -0.125, -.infinity], logProb: -0.875, timings: ["captioner": 0.003])
    }
}
