import Foundation
import Testing
@testable import MirrorGAN

@Suite("Pipeline: generate, redescribe, R-precision, determinism", .serialized)
struct PipelineTests {
    @Test func generateProducesImagesRedescriptionsAndRanks() throws {
        let m = try TempModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        let caption = "w3 w5 w7 unknownword w9"
        let r = try model.generate(caption: caption, options: GenerationOptions(seed: 41, n: 2, returnAttention: true,
                                                                                returnIntermediates: true))
        #expect(r.caption.unknownWords == ["unknownword"])
        #expect(r.images.map(\.seed) == [41, 42])
        for img in r.images {
            #expect(img.image.shape == [1, 3, 256, 256])
            #expect(img.image64?.shape == [1, 3, 64, 64])
            #expect(img.attention?.shape == [4, 128, 128])
            let decoded = try PNG.decode(img.png)
            #expect(decoded.width == 256 && decoded.height == 256)
            #expect((1...100).contains(img.rPrecision.rank) && img.rPrecision.candidates == 100)
            #expect((img.redescription?.ids.count ?? .max) <= (model.config.stream?.maxSeqLength ?? 0))
        }
        #expect(r.images[0].png != r.images[1].png)
        #expect(Set(r.timings.keys).isSuperset(of: ["text_encoder", "generator", "captioner", "rprecision"]))
        // Image i of a request equals the single image generated from seed + i.
        let single = try model.generate(caption: caption, options: GenerationOptions(seed: 42))
        #expect(single.images[0].png == r.images[1].png)
    }

    @Test func sameSeedIsByteIdenticalAcrossRunsAndThreadCounts() throws {
        let m = try TempModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        let opts = GenerationOptions(seed: 7)
        Runtime.setThreads(1)
        let a = try model.generate(caption: "w1 w2 w3", options: opts).images[0]
        Runtime.setThreads(2)
        let b = try model.generate(caption: "w1 w2 w3", options: opts).images[0]
        let c = try model.generate(caption: "w1 w2 w3", options: opts).images[0]
        #expect(a.png == b.png)
        #expect(b.png == c.png)
        // Everything else is bit-identical too, across thread counts (the redescription's log-probabilities and
        // the DAMSM cosine read the float image, so a kernel whose blocking followed the thread count showed here).
        #expect(a.redescription == b.redescription && a.rPrecision == b.rPrecision)
        #expect(b.redescription == c.redescription && b.rPrecision == c.rPrecision)
    }

    /// R-precision's bank features are encoded one caption at a time and cached: a cold model, a model
    /// whose whole bank was warmed first, and a batch encoding of the same captions agree.
    @Test func rPrecisionIsTheSameWithAColdOrWarmBankCache() throws {
        let m = try TempModel()
        defer { m.remove() }
        let cold = try MirrorGANModel(directory: m.dir)
        let warm = try MirrorGANModel(directory: m.dir)
        try warm.warmBankSentences()
        let opts = GenerationOptions(seed: 11, n: 2)
        let a = try cold.generate(caption: "w2 w4 w6", options: opts).images.map(\.rPrecision)
        let b = try warm.generate(caption: "w2 w4 w6", options: opts).images.map(\.rPrecision)
        #expect(a == b)
        let picks = [0, 5, 17]
        let batch = try cold.textEncoder.encode(picks.map { cold.captionBank[$0] }).sentence
        let cached = try warm.bankSentences(picks)
        let nef = batch.shape[1]
        for (r, f) in cached.enumerated() {
            #expect(f.count == nef)
            for k in 0..<nef { #expect(abs(f[k] - batch.data[r * nef + k]) < 1e-5) }
        }
    }

    /// `serve` stops the bank warm-up before exiting: the stop request is asked before every block of 256 captions,
    /// so a stop costs at most one block.
    @Test func bankWarmUpStopsWhenAsked() throws {
        let m = try TempModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        var asked = 0
        try model.warmBankSentences(until: { asked += 1; return true })
        #expect(asked == 1)
        let blocks = (model.captionBank.count + 255) / 256
        asked = 0
        try model.warmBankSentences(until: { asked += 1; return false })
        #expect(asked == blocks)
    }

    @Test func meanOnlyConditioningIgnoresEpsilon() throws {
        let m = try TempModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        // With c = mu, two seeds differ only through z; with the official sampled CA they also differ through eps.
        let a = try model.generate(caption: "w1 w2", options: GenerationOptions(seed: 5, meanOnly: true)).images[0]
        let b = try model.generate(caption: "w1 w2", options: GenerationOptions(seed: 5, meanOnly: false)).images[0]
        #expect(a.png != b.png)
    }

    @Test func invalidOptionsAndCaptionsAreTypedErrors() throws {
        let m = try TempModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        #expect(throws: PipelineError.self) { try model.generate(caption: "w1", options: GenerationOptions(seed: 1, n: 9)) }
        #expect(throws: PipelineError.self) { try model.generate(caption: "w1", options: GenerationOptions(seed: 1, beamSize: 0)) }
        #expect(throws: CaptionError.noKnownWords(unknown: ["zzz"])) { try model.generate(caption: "zzz", options: GenerationOptions(seed: 1)) }
    }

    @Test func captionAnyPNG() throws {
        let m = try TempModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        var rgb = [UInt8](repeating: 0, count: 37 * 53 * 3)
        for i in rgb.indices { rgb[i] = UInt8(i % 251) }
        let png = try PNG.encode(RGBImage(width: 53, height: 37, rgb: rgb))
        let greedy = try model.caption(encoded: png)
        #expect(greedy.logProbs.count == greedy.ids.count)
        #expect(greedy.logProbs.allSatisfy { $0 <= 0 })
        let beam = try model.caption(encoded: png, beamSize: 3)
        #expect(beam.logProb >= greedy.logProb - 1e-3 || beam.ids.count != greedy.ids.count)
        #expect(throws: ImageError.self) { try model.caption(encoded: Array(png.prefix(40))) }
        #expect(throws: ImageError.tooLarge(format: .png, width: 53, height: 37, limit: 100)) {
            try model.caption(encoded: png, maxPixels: 100)
        }
    }

    @Test func largeImagesAreCaptionedAsTheirBoxShrunkVersion() throws {
        let m = try TempModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        let (w, h) = (1000, 700)
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for i in rgb.indices { rgb[i] = UInt8((i / 3 % w) * 255 / w) ^ UInt8(i % 3 * 40) ^ UInt8((i / (3 * w)) % 64) }
        let image = try RGBImage(width: w, height: h, rgb: rgb)
        // 1000 / 224 = 4 and 700 / 224 = 3: 4×3 blocks averaged to 250×233, then the bilinear resize to 224².
        let shrunk = try image.boxShrunk(fx: 4, fy: 3)
        #expect(shrunk.width == 250 && shrunk.height == 233)
        let viaPNG = try model.caption(encoded: PNG.encode(image))
        #expect(viaPNG == (try model.caption(image: shrunk)))
        #expect(throws: ImageError.self) { try model.caption(encoded: PNG.encode(image), maxPixels: w * h - 1) }
        #expect(throws: ImageError.unsupportedFormat) { try model.caption(encoded: Array("GIF89a".utf8)) }
    }
}
