import Foundation
import Testing
@testable import MirrorGAN

/// The shipped model (Weights/synthbirds) against PyTorch on the same caption and seed
/// (Tests/Fixtures/reference, written by `python -m mirrorgan_train.fixtures --weights Weights/synthbirds`).
@Suite("Shipped weights reproduce the PyTorch reference")
struct ReferenceImageTests {
    struct Entry: Decodable {
        let caption: String
        let seed: UInt64
        let index: Int
        let image_seed: UInt64
        let png: String
        let tokens: [Int]
        let unknown_words: [String]
        let redescription: String
        let redescription_ids: [Int]
        let rank: Int
        let cosine: Double
    }
    struct Reference: Decodable { let entries: [Entry] }

    static let referenceDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/reference")

    @Test func pngRedescriptionAndRankMatchPyTorch() throws {
        let model = try MirrorGANModel(directory: Parity.repoRoot.appendingPathComponent("Weights/synthbirds").path)
        let data = try Data(contentsOf: Self.referenceDir.appendingPathComponent("reference.json"))
        let reference = try JSONDecoder().decode(Reference.self, from: data)
        #expect(!reference.entries.isEmpty)
        for group in Dictionary(grouping: reference.entries, by: { "\($0.caption)|\($0.seed)" }).values {
            let first = try #require(group.first)
            let result = try model.generate(caption: first.caption, options: GenerationOptions(seed: first.seed, n: group.count))
            #expect(result.caption.ids == first.tokens)
            #expect(result.caption.unknownWords == first.unknown_words)
            for e in group {
                let img = result.images[e.index]
                #expect(img.seed == e.image_seed)
                let mine = try PNG.decode(img.png)
                let theirs = try PNG.decode([UInt8](Data(contentsOf: Self.referenceDir.appendingPathComponent(e.png))))
                #expect(mine.width == theirs.width && mine.height == theirs.height)
                let close = zip(mine.rgb, theirs.rgb).filter { abs(Int($0) - Int($1)) <= 1 }.count
                let share = Double(close) / Double(theirs.rgb.count)
                #expect(share >= 0.999, "only \(share * 100)% of values within 1 grey level of PyTorch (\(e.png))")
                #expect(img.redescription?.ids == e.redescription_ids, "redescription of \(e.png)")
                #expect(img.rPrecision.rank == e.rank, "R-precision rank of \(e.png)")
                #expect(abs(Double(img.rPrecision.cosine) - e.cosine) < 1e-4, "cosine of \(e.png)")
            }
        }
    }
}
