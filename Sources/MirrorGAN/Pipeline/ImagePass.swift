/// The stages of one image on the request path, in order, as `imagePass` reports them to its observer.
public enum RequestStage: Sendable, Equatable {
    /// Generator stage k (1: CA + 64² + image head; 2: 128²; 3: 256²).
    case generatorStage(Int)
    /// The 256² image as PNG.
    case encode
    case backbone
    /// STREAM's redescription (greedy or beam).
    case captioner
    case rprecision

    /// The stage's name in `GenerationResult.timings` (and so in the server's metrics): the generator's stages
    /// are summed as `generator`.
    public var timingName: String {
        switch self {
        case .generatorStage: return "generator"
        case .encode: return "encode"
        case .backbone: return "backbone"
        case .captioner: return "captioner"
        case .rprecision: return "rprecision"
        }
    }
}

/// What one image's pass produced.
public struct ImagePass: Sendable {
    /// Every stage's image (`[1, 3, 64·2^i, 64·2^i]`), word attention and hidden state.
    public var generated: Generator.Output
    /// The last stage's image as PNG.
    public var png: [UInt8]
    /// STREAM's token ids and log-probabilities (no text: `generate` builds the redescription's words); nil for a
    /// model without STREAM.
    public var caption: CaptionDecoder.Decoded?
    public var rPrecision: RPrecision

    /// The 256² image, `[1, 3, 256, 256]` in [−1, 1].
    public var image: Tensor { generated.images[generated.images.count - 1] }
}

extension MirrorGANModel {
    /// One image of a request, the one place its stages run: noise from `imageSeed` → generator → PNG → backbone →
    /// STREAM (on its own trunk where it has one; skipped, with no `captioner` stage, for a model without STREAM) →
    /// R-precision against the candidates `options.candidates` draws. `generate` runs it for each image
    /// (timing it into `GenerationResult.timings`); `mirrorgan bench` times it stage by stage through `stageDone`,
    /// which is called on this thread right after each stage (a heap allocation made inside it would count as the
    /// request's). `words`/`sentence` are the caption's text-encoder features, `ids` its token ids.
    public func imagePass(words: Tensor, sentence: Tensor, ids: [Int], imageSeed: UInt64, options: GenerationOptions,
                          stageDone: (RequestStage) -> Void = { _ in }) throws -> ImagePass {
        let g = config.generator
        let noise = MirrorRNG.noiseTensors(imageSeed: imageSeed, zDim: g.zDim, conditionDim: g.conditionDim,
                                           meanOnly: options.meanOnly)
        let out = try generator.forward(z: noise.z, sentence: sentence, words: words, lengths: [ids.count],
                                        epsilon: noise.epsilon) { stageDone(.generatorStage($0 + 1)) }
        guard let image = out.images.last else { throw PipelineError.invalidOption("the generator produced no image") }
        let png = try PNG.encode(image)
        stageDone(.encode)
        let (trunkLocal, global) = try backbone(image)
        guard let local = trunkLocal else {  // `ModelConfig.validate` admits only DAMSM trunks with region features
            throw TensorError.invalidArgument(op: "imagePass", message: "the DAMSM backbone gave no region features")
        }
        stageDone(.backbone)
        var decoded: CaptionDecoder.Decoded?
        if let captioner {
            decoded = try decodeCaption(captioner, image: image, sharedGlobal: global, beam: options.beamSize)
            stageDone(.captioner)
        }
        let rp = try rPrecision(imageCode: imageEncoder.code(local: local, global: global), sentence: sentence, query: ids,
                                imageSeed: imageSeed, candidates: options.candidates)
        stageDone(.rprecision)
        return ImagePass(generated: out, png: png, caption: decoded, rPrecision: rp)
    }

    /// STREAM over its trunk's global feature (`sharedGlobal`, the shared backbone's, when STREAM has no trunk of its
    /// own): greedy (beam 1, as the official `sample()`) or beam search.
    func decodeCaption(_ captioner: Captioner, image: Tensor, sharedGlobal: Tensor?, beam: Int) throws -> CaptionDecoder.Decoded {
        let global: Tensor
        if let own = captioner.backbone {
            global = try own(image).global
        } else if let sharedGlobal {
            global = sharedGlobal
        } else {
            global = try backbone(image).global
        }
        let feature = try captioner.encoder(global)
        return beam <= 1 ? try captioner.decoder.greedy(feature) : try captioner.decoder.beamSearch(feature, beam: beam)
    }

    /// Decoded ids → the redescription's words and text.
    func redescription(_ decoded: CaptionDecoder.Decoded) -> Redescription {
        let tokens = words(decoded.ids)
        return Redescription(text: tokens.joined(separator: " "), tokens: tokens, ids: decoded.ids, logProbs: decoded.logProbs)
    }
}
