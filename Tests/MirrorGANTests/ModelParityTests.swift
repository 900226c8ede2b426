import Foundation
import Testing
@testable import MirrorGAN

/// Every model module against PyTorch outputs on the same weights (Tests/Fixtures/parity, written by
/// `python -m mirrorgan_train.fixtures`): a tiny random-weight config of the full architecture.
enum Parity {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/parity")
    static var tinyDir: String { root.appendingPathComponent("tiny").path }
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func io() throws -> [String: Tensor] {
        try SafeTensorsFile(path: root.appendingPathComponent("tiny_io.safetensors").path).loadAll()
    }

    static func config(_ dir: String = tinyDir) throws -> ModelConfig {
        try MirrorGANModel.decodeJSON(dir, "model.json")
    }

    /// The tiny model's STREAM config (it has one).
    static func stream(_ config: ModelConfig) throws -> ModelConfig.Stream { try #require(config.stream) }

    static func reader(_ file: String, dir: String = tinyDir) throws -> WeightReader {
        try WeightReader(path: dir + "/" + file, displayName: file)
    }

    static func ids(_ t: Tensor, row: Int, length: Int) -> [Int] {
        let width = t.shape[1]
        return (0..<length).map { Int(t.data[row * width + $0]) }
    }
}

extension Tensor {
    subscript(batch range: Range<Int>) -> Tensor {
        let per = shape.dropFirst().reduce(1, *)
        return try! Tensor(shape: [range.count] + shape.dropFirst(), data: Array(data[(range.lowerBound * per)..<(range.upperBound * per)]))
    }
}

@Suite("Model parity with PyTorch")
struct ModelParityTests {
    let io: [String: Tensor]
    let config: ModelConfig

    init() throws {
        io = try Parity.io()
        config = try Parity.config()
    }

    func t(_ name: String) throws -> Tensor {
        guard let v = io[name] else { throw TensorError.invalidArgument(op: "fixture", message: "missing \(name)") }
        return v
    }

    func captions() throws -> [[Int]] {
        let caps = try t("stem.captions"), lens = try t("stem.lengths")
        return (0..<lens.count).map { Parity.ids(caps, row: $0, length: Int(lens.data[$0])) }
    }

    @Test func textEncoderPackedBidirectional() throws {
        let r = try Parity.reader("text_encoder.safetensors")
        let enc = try TextEncoder(r, config: config.textEncoder)
        try r.finish()
        let (words, sentence) = try enc.encode(captions())
        expectClose(words, try t("stem.words"), tolerance: 1e-5, "word features")
        expectClose(sentence, try t("stem.sentence"), tolerance: 1e-5, "sentence features")
    }

    func generatorInputs() throws -> (z: Tensor, eps: Tensor, words: Tensor, sentence: Tensor, lengths: [Int]) {
        let words = try t("stem.words")[batch: 0..<2]
        let sentence = try t("stem.sentence")[batch: 0..<2]
        let lens = try t("stem.lengths")
        return (try t("gen.z"), try t("gen.eps"), words, sentence, [Int(lens.data[0]), Int(lens.data[1])])
    }

    @Test func generatorStagesAndAttention() throws {
        let r = try Parity.reader("generator.safetensors")
        let g = try Generator(r, config: config.generator, nef: config.textEncoder.hiddenDim)
        try r.finish()
        let x = try generatorInputs()
        let out = try g(z: x.z, sentence: x.sentence, words: x.words, lengths: x.lengths, epsilon: x.eps)
        expectClose(out.c, try t("ca.c"), tolerance: 1e-5, "CA c")
        expectClose(out.mu, try t("ca.mu"), tolerance: 1e-5, "CA mu")
        expectClose(out.logvar, try t("ca.logvar"), tolerance: 1e-5, "CA logvar")
        expectClose(out.hidden[0], try t("gen.h1"), tolerance: 1e-4, "h1")
        expectClose(out.images[0], try t("gen.img64"), tolerance: 1e-4, "img64")
        expectClose(out.attention[0], try t("gen.att1"), tolerance: 1e-4, "word attention stage 2")
        expectClose(out.hidden[1][batch: 0..<1], try t("gen.h2"), tolerance: 1e-4, "h2")
        expectClose(out.images[1], try t("gen.img128"), tolerance: 1e-4, "img128")
        expectClose(out.attention[1][batch: 0..<1], try t("gen.att2"), tolerance: 1e-4, "word attention stage 3")
        expectClose(out.images[2][batch: 0..<1], try t("gen.img256"), tolerance: 1e-3, "img256")
    }

    @Test func glamAttentionInternals() throws {
        let r = try Parity.reader("generator.safetensors")
        let g = try Generator(r, config: config.generator, nef: config.textEncoder.hiddenDim)
        let x = try generatorInputs()
        let att = try g.nextStages[0].att(try t("gen.h1"), c: try t("ca.c"), words: x.words, lengths: x.lengths)
        expectClose(att.wordContext, try t("glam.word_context"), tolerance: 1e-5, "word context")
        expectClose(att.wordAttention, try t("glam.word_attention"), tolerance: 1e-5, "word attention")
        let sc = try #require(att.sentenceContext), sa = try #require(att.sentenceAttention)
        expectClose(sc, try t("glam.sentence_context"), tolerance: 1e-5, "sentence context")
        expectClose(sa, try t("glam.sentence_attention"), tolerance: 1e-5, "sentence attention (softmax over channels)")
    }

    @Test func attnGANVariantWithoutSentenceAttention() throws {
        var gc = config.generator
        gc.glam = false
        let dir = Parity.root.appendingPathComponent("tiny_attngan").path
        let r = try Parity.reader("generator.safetensors", dir: dir)
        let g = try Generator(r, config: gc, nef: config.textEncoder.hiddenDim)
        try r.finish()
        let x = try generatorInputs()
        let out = try g(z: x.z, sentence: x.sentence, words: x.words, lengths: x.lengths, epsilon: x.eps)
        expectClose(out.attention[0], try t("attngan.att1"), tolerance: 1e-4, "AttnGAN attention")
        expectClose(out.images[2][batch: 0..<1], try t("attngan.img256"), tolerance: 1e-3, "AttnGAN img256")
    }

    @Test func glamWeightsDoNotLoadAsAttnGAN() throws {
        var gc = config.generator
        gc.glam = false
        let r = try Parity.reader("generator.safetensors")
        _ = try Generator(r, config: gc, nef: config.textEncoder.hiddenDim)
        #expect(throws: ModelLoadError.self) { try r.finish() }  // the 8 GLAM tensors are left over
    }

    @Test func damsmImageHeads() throws {
        let r = try Parity.reader("image_encoder.safetensors")
        let enc = try ImageEncoder(r, nef: config.textEncoder.hiddenDim, localChannels: 112, globalChannels: 1280)
        try r.finish()
        expectClose(try enc.regions(t("damsm.local")), try t("damsm.region"), tolerance: 1e-4, "region features")
        #expect(enc.codeHead == .linear)
        expectClose(try enc.code(local: t("damsm.local"), global: t("damsm.global")), try t("damsm.code"), tolerance: 1e-4,
                    "global code")
    }

    @Test func streamEncoderTeacherForcingAndGreedy() throws {
        let re = try Parity.reader("stream_encoder.safetensors")
        let enc = try CaptionEncoder(re, globalChannels: 1280, embedSize: Parity.stream(config).embedSize)
        try re.finish()
        let feature = try enc(t("damsm.global"))
        expectClose(feature, try t("stream.feature"), tolerance: 1e-4, "STREAM feature")

        let rd = try Parity.reader("stream_decoder.safetensors")
        let dec = try CaptionDecoder(rd, config: Parity.stream(config), nWords: config.textEncoder.nWords)
        try rd.finish()
        // Teacher forcing: [feature, w0 .. w6] through the LSTM, logits at every step.
        let tf = try t("stream.tf_captions")
        let words = Parity.ids(tf, row: 0, length: tf.shape[1])
        var inputs = [feature.sample(0)] + words.map { w in
            try! Tensor(shape: [1, Parity.stream(config).embedSize], data: Array(dec.embed.data[(w * Parity.stream(config).embedSize)..<((w + 1) * Parity.stream(config).embedSize)]))
        }
        var state = LSTMState.zeros(batch: 1, hidden: try Parity.stream(config).hiddenSize)
        var logits = [Float]()
        for x in inputs {
            state = try lstmCell(x, state: state, weights: dec.lstm)
            logits += try dec.linear(state.h).data
        }
        inputs.removeAll()
        let expected = try t("stream.tf_logits")
        expectClose(try Tensor(shape: expected.shape, data: logits), expected, tolerance: 1e-4, "teacher-forced logits")

        // Greedy: the reference decodes 20 steps without stopping; ours stops at <end>: compare the prefix.
        let ids = try t("stream.greedy_ids"), lps = try t("stream.greedy_logprobs")
        for b in 0..<2 {
            let decoded = try dec.greedy(feature.sample(b))
            let ref = Parity.ids(ids, row: b, length: ids.shape[1])
            let prefix = Array(ref.prefix { $0 != 0 })
            #expect(decoded.ids == prefix, "greedy tokens of sample \(b)")
            for (i, lp) in decoded.logProbs.enumerated() {
                #expect(abs(lp - lps.data[b * ids.shape[1] + i]) < 1e-4, "log-prob \(i) of sample \(b)")
            }
        }
    }

    @Test func beamSearchWidthOneEqualsGreedyAndWiderIsNoWorse() throws {
        let rd = try Parity.reader("stream_decoder.safetensors")
        let dec = try CaptionDecoder(rd, config: Parity.stream(config), nWords: config.textEncoder.nWords)
        let re = try Parity.reader("stream_encoder.safetensors")
        let enc = try CaptionEncoder(re, globalChannels: 1280, embedSize: Parity.stream(config).embedSize)
        let feature = try enc(t("damsm.global")).sample(0)
        let greedy = try dec.greedy(feature)
        #expect(try dec.beamSearch(feature, beam: 1) == greedy)
        let beam = try dec.beamSearch(feature, beam: 4)
        #expect(beam.logProb >= greedy.logProb - 1e-4 || beam.ids.count != greedy.ids.count)
    }

    /// The per-word input-gate table (`wordGates`, used when small) decodes as the plain LSTM input path:
    /// same tokens, log-probabilities within float rounding, greedy and beam.
    @Test func wordGateTableEqualsEmbeddingPath() throws {
        let rd = try Parity.reader("stream_decoder.safetensors")
        let dec = try CaptionDecoder(rd, config: Parity.stream(config), nWords: config.textEncoder.nWords)
        #expect(dec.wordGates != nil)
        var plain = dec
        plain.wordGates = nil
        let re = try Parity.reader("stream_encoder.safetensors")
        let enc = try CaptionEncoder(re, globalChannels: 1280, embedSize: Parity.stream(config).embedSize)
        let features = try enc(t("damsm.global"))
        for b in 0..<features.shape[0] {
            for beam in [1, 3] {
                let fast = try dec.beamSearch(features.sample(b), beam: beam)
                let reference = try plain.beamSearch(features.sample(b), beam: beam)
                #expect(fast.ids == reference.ids, "sample \(b), beam \(beam)")
                for (x, y) in zip(fast.logProbs, reference.logProbs) { #expect(abs(x - y) < 1e-5) }
            }
        }
    }

    @Test func efficientNetLite0Backbone() throws {
        let path = Parity.repoRoot.appendingPathComponent("Weights/synthbirds").path
        let r = try Parity.reader("backbone.safetensors", dir: path)
        let cfg = ModelConfig.Backbone(name: "efficientnet-lite0", inputSize: 224, alignCorners: false,
                                       pixelMean: 0.498, pixelStd: 0.502, localBlock: 10, localChannels: 112,
                                       globalChannels: 1280)
        let bb = try EfficientNetLite0(r, config: cfg)
        try r.finish()
        let fx = try SafeTensorsFile(path: Parity.root.appendingPathComponent("backbone_io.safetensors").path).loadAll()
        let input = try #require(fx["input"])
        expectClose(try bb.preprocess(input), try #require(fx["preprocessed"]), tolerance: 1e-5, "resize + normalisation")
        let (local, global) = try bb(input)
        expectClose(local, try #require(fx["local"]), tolerance: 1e-4, "block-10 features")
        expectClose(global, try #require(fx["global"]), tolerance: 1e-4, "pooled head features")
    }
}
