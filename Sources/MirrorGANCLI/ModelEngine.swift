import Foundation
import MirrorGAN
import MirrorGANServer

/// Plugs the MirrorGAN runtime into the server's `InferenceEngine` protocol, mapping runtime errors to the
/// server's error kinds (422 caption, 400/413 image, 500 otherwise).
struct ModelEngine: InferenceEngine {
    let model: MirrorGANModel
    let info: ModelInfo
    /// Decoder pixel limit for uploaded images.
    let maxPixels: Int

    init(model: MirrorGANModel, threads: Int, maxPixels: Int = ImageDecoder.defaultMaxPixels) {
        self.model = model
        self.maxPixels = maxPixels
        info = ModelInfo(id: model.config.name, description: model.config.description, parameters: model.parameterCount,
                         files: model.checksums, threads: threads)
    }

    func generate(_ p: GenerationParams) throws -> GenerationOutput {
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
        let images = try result.images.map { img -> MirrorGANServer.GeneratedImage in
            var maps: [AttentionMap]?
            if p.returnAttention, let att = img.attention {
                maps = try Self.attentionMaps(att, words: result.caption.tokens)
            }
            return MirrorGANServer.GeneratedImage(png: img.png, seed: img.seed, redescription: img.redescription.text,
                                                  rank: img.rPrecision.rank, candidates: img.rPrecision.candidates,
                                                  cosine: img.rPrecision.cosine, attention: maps)
        }
        return GenerationOutput(images: images, tokens: result.caption.tokens, unknownWords: result.caption.unknownWords,
                                truncated: result.caption.truncated, timings: result.timings)
    }

    func caption(image: [UInt8], beamSize: Int) throws -> CaptionOutput {
        let r: Redescription
        do {
            r = try model.caption(encoded: image, beamSize: beamSize, maxPixels: maxPixels)
        } catch let e as ImageError {
            if case .tooLarge = e { throw EngineError.imageTooLarge("\(e)") }
            throw EngineError.badImage("\(e)")
        } catch let e as PipelineError {
            throw EngineError.invalidInput(code: "invalid_option", message: e.description)
        } catch {
            throw EngineError.internalFailure("\(error)")
        }
        return CaptionOutput(caption: r.text, tokens: r.tokens, logProbs: r.logProbs, logProb: r.logProb)
    }

    /// `[T, H, W]` word attention → one grey PNG per word, each scaled to its own maximum.
    static func attentionMaps(_ att: Tensor, words: [String]) throws -> [AttentionMap] {
        let (t, h, w) = (att.shape[0], att.shape[1], att.shape[2])
        return try (0..<min(t, words.count)).map { k in
            let plane = att.data[(k * h * w)..<((k + 1) * h * w)]
            let peak = max(plane.max() ?? 0, 1e-12)
            var rgb = [UInt8](repeating: 0, count: h * w * 3)
            for (i, v) in plane.enumerated() {
                let g = UInt8(max(0, min(255, (v / peak * 255).rounded())))
                rgb[i * 3] = g; rgb[i * 3 + 1] = g; rgb[i * 3 + 2] = g
            }
            return AttentionMap(word: words[k], width: w, height: h, png: try PNG.encode(RGBImage(width: w, height: h, rgb: rgb)))
        }
    }
}
