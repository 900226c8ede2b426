import Foundation
import MirrorGAN
import MirrorGANServer

/// Plugs the MirrorGAN runtime into the server's `InferenceEngine` protocol, mapping runtime errors to the
/// server's error kinds (422 caption, 400/413 image, 500 otherwise). A library of its own (not part of the
/// executable) so that `MirrorGANEngineTests` can test the adapter: the error mapping and the attention maps.
public struct ModelEngine: InferenceEngine {
    public let model: MirrorGANModel
    public let info: ModelInfo
    /// Decoder pixel limit for uploaded images.
    public let maxPixels: Int

    public init(model: MirrorGANModel, threads: Int, maxPixels: Int = ImageDecoder.defaultMaxPixels) {
        self.model = model
        self.maxPixels = maxPixels
        info = ModelInfo(id: model.config.name, description: model.config.description, parameters: model.parameterCount,
                         files: model.checksums, threads: threads,
                         limits: GenerationLimits(maxImages: GenerationOptions.maxImages, maxBeamSize: GenerationOptions.maxBeam),
                         captioner: model.captioner != nil)
    }

    public func generate(_ p: GenerationParams) throws -> GenerationOutput {
        let result: GenerationResult
        do {
            result = try model.generate(caption: p.caption, options: GenerationOptions(
                seed: p.seed, n: p.n, returnAttention: p.returnAttention, beamSize: p.beamSize))
        } catch let e as CaptionError {
            throw EngineError.invalidInput(code: e.code, message: e.description)
        } catch let e as PipelineError {
            throw EngineError.invalidInput(code: "invalid_option", message: e.description)
        } catch {
            throw EngineError.internalFailure("\(error)")
        }
        let images = try result.images.map { img -> GenerationOutput.Image in
            var maps: [AttentionMap]?
            if p.returnAttention, let att = img.attention {
                maps = try Self.attentionMaps(att, words: result.caption.tokens)
            }
            return GenerationOutput.Image(png: img.png, seed: img.seed, redescription: img.redescription?.text,
                                          rank: img.rPrecision.rank, candidates: img.rPrecision.candidates,
                                          cosine: img.rPrecision.cosine, attention: maps)
        }
        return GenerationOutput(images: images, tokens: result.caption.tokens, unknownWords: result.caption.unknownWords,
                                truncated: result.caption.truncated, timings: result.timings)
    }

    public func caption(image: [UInt8], beamSize: Int) throws -> CaptionOutput {
        var clock = StageClock()
        let r: Redescription
        do {
            r = try clock.time("captioner") { try model.caption(encoded: image, beamSize: beamSize, maxPixels: maxPixels) }
        } catch let e as ImageError {
            if case .tooLarge = e { throw EngineError.imageTooLarge("\(e)") }
            throw EngineError.badImage("\(e)")
        } catch let e as PipelineError {
            if case .noCaptioner = e { throw EngineError.notSupported(code: "no_captioner", message: e.description) }
            throw EngineError.invalidInput(code: "invalid_option", message: e.description)
        } catch {
            throw EngineError.internalFailure("\(error)")
        }
        return CaptionOutput(caption: r.text, tokens: r.tokens, logProbs: r.logProbs, logProb: r.logProb,
                             timings: clock.timings)
    }

    /// `[T, H, W]` word attention → one grey PNG per word (`PNG.encodeAttentionMaps`), paired with its word.
    static func attentionMaps(_ att: Tensor, words: [String]) throws -> [AttentionMap] {
        let pngs = try PNG.encodeAttentionMaps(att, count: words.count)
        let (h, w) = (att.shape[1], att.shape[2])
        return zip(words, pngs).map { AttentionMap(word: $0, width: w, height: h, png: $1) }
    }
}
