// The server's engine adapter over the real runtime (the tiny parity model plus the shipped backbone): how runtime
// errors become the server's error kinds, the attention maps, the limits and timings it reports.
import Foundation
import MirrorGAN
@testable import MirrorGANEngine
import MirrorGANServer
import Testing

/// The tiny parity model with the shipped Lite0 backbone in a temporary directory (as MirrorGANTests' TempModel),
/// loaded once for the suite.
private enum TinyModel {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let model: Result<MirrorGANModel, Error> = Result { try load(stream: true) }
    /// The same model without STREAM (`"stream": null`, no STREAM files): what a converted AttnGAN release is.
    static let withoutStream: Result<MirrorGANModel, Error> = Result { try load(stream: false) }

    static func load(stream: Bool) throws -> MirrorGANModel {
        let fm = FileManager.default
        let dir = NSTemporaryDirectory() + "mirrorgan-engine-" + UUID().uuidString
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: dir) }  // the model keeps nothing open after loading
        let tiny = repoRoot.appendingPathComponent("Tests/Fixtures/parity/tiny").path
        for f in try fm.contentsOfDirectory(atPath: tiny) where f != "MANIFEST" && (stream || !f.hasPrefix("stream_")) {
            try fm.copyItem(atPath: tiny + "/" + f, toPath: dir + "/" + f)
        }
        if !stream {
            let url = URL(fileURLWithPath: dir + "/model.json")
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
            json["stream"] = NSNull()
            try JSONSerialization.data(withJSONObject: json).write(to: url)
        }
        try fm.copyItem(atPath: repoRoot.appendingPathComponent("Weights/synthbirds/backbone.safetensors").path,
                        toPath: dir + "/backbone.safetensors")
        try ModelDirectory.writeManifest(dir)
        return try MirrorGANModel(directory: dir)
    }

    static func engine(maxPixels: Int = ImageDecoder.defaultMaxPixels) throws -> ModelEngine {
        ModelEngine(model: try model.get(), threads: 2, maxPixels: maxPixels)
    }
}

/// The server-side error an engine call threw.
private func engineError(_ body: () throws -> Void) -> EngineError? {
    do {
        try body()
        return nil
    } catch let e as EngineError {
        return e
    } catch {
        return .internalFailure("not an EngineError: \(error)")
    }
}

private func code(_ e: EngineError?) -> String? {
    if case let .invalidInput(code, _)? = e { return code }
    return nil
}

private func pngImage(width: Int, height: Int) throws -> [UInt8] {
    let rgb = (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
    return try PNG.encode(RGBImage(width: width, height: height, rgb: rgb))
}

@Suite("ModelEngine: the runtime behind the server's InferenceEngine")
struct ModelEngineTests {
    @Test func infoCarriesTheRuntimesLimits() throws {
        let engine = try TinyModel.engine()
        let model = try TinyModel.model.get()
        #expect(engine.info.id == model.config.name)
        #expect(engine.info.parameters == model.parameterCount)
        #expect(engine.info.files == model.checksums)
        #expect(engine.info.threads == 2)
        #expect(engine.info.limits == GenerationLimits(maxImages: GenerationOptions.maxImages,
                                                       maxBeamSize: GenerationOptions.maxBeam))
    }

    @Test func captionErrorsBecomeInvalidInputWithTheTokenizersCode() throws {
        let engine = try TinyModel.engine()
        #expect(code(engineError { _ = try engine.generate(GenerationParams(caption: " ,, ", seed: 1)) }) == "empty_caption")
        #expect(code(engineError { _ = try engine.generate(GenerationParams(caption: "zebra giraffe", seed: 1)) })
                == "no_known_words")
        #expect(code(engineError { _ = try engine.generate(GenerationParams(caption: "w1\u{07}", seed: 1)) })
                == "control_character")
        let long = String(repeating: "w1 ", count: Tokenizer.maxCaptionBytes)
        #expect(code(engineError { _ = try engine.generate(GenerationParams(caption: long, seed: 1)) }) == "caption_too_long")
    }

    @Test func optionsOutsideTheRuntimesLimitsAreInvalidOptions() throws {
        let engine = try TinyModel.engine()
        let tooMany = GenerationParams(caption: "w1 w2", seed: 1, n: GenerationOptions.maxImages + 1)
        #expect(code(engineError { _ = try engine.generate(tooMany) }) == "invalid_option")
        let wideBeam = GenerationParams(caption: "w1 w2", seed: 1, beamSize: GenerationOptions.maxBeam + 1)
        #expect(code(engineError { _ = try engine.generate(wideBeam) }) == "invalid_option")
        let png = try pngImage(width: 8, height: 8)
        #expect(code(engineError { _ = try engine.caption(image: png, beamSize: 0) }) == "invalid_option")
    }

    @Test func imageErrorsBecomeBadImageOrImageTooLarge() throws {
        let engine = try TinyModel.engine(maxPixels: 100)
        var e = engineError { _ = try engine.caption(image: [0x89, 0x50, 0x4E, 0x47, 1, 2, 3], beamSize: 1) }
        guard case .badImage? = e else { Issue.record("a truncated PNG gave \(String(describing: e))"); return }
        e = engineError { _ = try engine.caption(image: Array("not an image".utf8), beamSize: 1) }
        guard case .badImage? = e else { Issue.record("text gave \(String(describing: e))"); return }
        e = engineError { _ = try engine.caption(image: try pngImage(width: 11, height: 10), beamSize: 1) }
        guard case .imageTooLarge? = e else { Issue.record("110 px over a 100 px limit gave \(String(describing: e))"); return }
        #expect(engineError { _ = try engine.caption(image: try pngImage(width: 10, height: 10), beamSize: 1) } == nil)
    }

    @Test func captionsCarryTheRuntimesTextAndTiming() throws {
        let engine = try TinyModel.engine()
        let png = try pngImage(width: 40, height: 30)
        let out = try engine.caption(image: png, beamSize: 2)
        let direct = try TinyModel.model.get().caption(encoded: png, beamSize: 2)
        #expect(out.caption == direct.text)
        #expect(out.tokens == direct.tokens)
        #expect(out.logProbs == direct.logProbs)
        #expect(out.logProb == direct.logProb)
        #expect(Set(out.timings.keys) == ["captioner"])
        #expect((out.timings["captioner"] ?? 0) > 0)
    }

    @Test func generationCarriesTheRuntimesResults() throws {
        let engine = try TinyModel.engine()
        let model = try TinyModel.model.get()
        let params = GenerationParams(caption: "w3 w5 unknownword w7", seed: 5, n: 2, returnAttention: true)
        let out = try engine.generate(params)
        let direct = try model.generate(caption: params.caption, options: GenerationOptions(
            seed: 5, n: 2, returnAttention: true))
        #expect(out.tokens == direct.caption.tokens)
        #expect(out.unknownWords == ["unknownword"])
        #expect(out.truncated == false)
        #expect(Set(out.timings.keys) == Set(direct.timings.keys))
        #expect(out.images.map(\.seed) == [5, 6])
        for (image, reference) in zip(out.images, direct.images) {
            // Two passes of the same request: bit-identical. (They once differed in the last bits beside the whole
            // suite, when the first GEMMs ran before anything had set OpenBLAS to one thread; `sgemm` now does.)
            #expect(image.png == reference.png)
            #expect(image.cosine == reference.rPrecision.cosine)
            #expect(image.candidates == reference.rPrecision.candidates)
            #expect((1...image.candidates).contains(image.rank))
            #expect(image.redescription?.isEmpty == false)
            let maps = try #require(image.attention)
            let att = try #require(reference.attention)  // [T, H, W]
            #expect(maps.map(\.word) == out.tokens)  // one map per caption token, in order
            for map in maps {
                #expect(map.width == att.shape[2] && map.height == att.shape[1])
                let decoded = try PNG.decode(map.png)
                #expect(decoded.width == map.width && decoded.height == map.height)
            }
        }
        // Without return_attention no maps are made.
        let plain = try engine.generate(GenerationParams(caption: "w3 w5", seed: 5))
        #expect(plain.images[0].attention == nil)
    }

    @Test func attentionMapsAreTheStageMapsAsGreyPNGsScaledToTheirPeak() throws {
        // [T = 3, 2, 2]: a map with a peak, a flat zero map, and one more map than there are words.
        let att = try Tensor(shape: [3, 2, 2], data: [0, 0.1, 0.2, 0.4, 0, 0, 0, 0, 1, 1, 1, 1])
        let maps = try ModelEngine.attentionMaps(att, words: ["red", "bird"])
        #expect(maps.map(\.word) == ["red", "bird"])
        #expect(maps.allSatisfy { $0.width == 2 && $0.height == 2 })
        let first = try PNG.decode(maps[0].png)
        // round(v / peak · 255): 0, 63.75 → 64, 127.5 → 128, 255; grey (r = g = b).
        #expect(first.rgb == [0, 64, 128, 255].flatMap { [$0, $0, $0] })
        #expect(try PNG.decode(maps[1].png).rgb == [UInt8](repeating: 0, count: 12))
    }

    @Test func aModelWithoutStreamGeneratesAndScoresButCannotCaption() throws {
        let engine = ModelEngine(model: try TinyModel.withoutStream.get(), threads: 2)
        #expect(engine.info.captioner == false)
        #expect(try TinyModel.engine().info.captioner == true)
        let out = try engine.generate(GenerationParams(caption: "w3 w5 w7", seed: 4, n: 2))
        #expect(out.images.count == 2 && out.images.allSatisfy { $0.redescription == nil && $0.candidates == 100 })
        #expect(out.timings["captioner"] == nil && out.timings["rprecision"] != nil)
        // The same image and rank as with STREAM: STREAM only adds the redescription.
        let with = try TinyModel.engine().generate(GenerationParams(caption: "w3 w5 w7", seed: 4, n: 2))
        #expect(with.images.map(\.png) == out.images.map(\.png) && with.images.map(\.rank) == out.images.map(\.rank))
        let error = engineError { _ = try engine.caption(image: out.images[0].png, beamSize: 1) }
        guard case let .notSupported(code, message)? = error else {
            Issue.record("expected notSupported, got \(String(describing: error))")
            return
        }
        #expect(code == "no_captioner" && message.contains("has no captioner"))
    }
}
