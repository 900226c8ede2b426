import ArgumentParser
import Foundation
import MirrorGAN

/// R-precision over the test captions of the caption bank, with the protocol of docs/EVALUATION.md
/// (the same as `python -m mirrorgan_train.evaluate`): image i is generated from bank caption
/// i·10 + (i mod 10) (test image i, caption i mod 10) with seed i; its 99 candidates are bank captions of
/// other classes drawn by MirrorRNG(i XOR 0x5DEECE66D); a hit is rank 1 by cosine of DAMSM features;
/// folds are i mod 10.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "R-precision of generated images over the test captions.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Number of generated images.") var images: Int = 1000
    @Option(help: "Write per-image ranks and the summary as JSON.") var json: String?

    func run() throws {
        let m = try model.load()
        struct Bank: Decodable { let captions: [[Int]]; let class_ids: [Int] }
        guard let data = FileManager.default.contents(atPath: model.weights + "/caption_bank.json"),
              let bank = try? JSONDecoder().decode(Bank.self, from: data), bank.class_ids.count == bank.captions.count
        else { throw ValidationError("caption_bank.json needs captions and class_ids of equal length") }
        let count = min(images, bank.captions.count / 10)
        let progress = Progress(total: count, label: "eval")
        var ranks = [Int](), hits = [Bool]()
        var start = Date()
        for i in 0..<count {
            let q = i * 10 + (i % 10)
            let ids = bank.captions[q]
            let (words, sentence) = try m.textEncoder.encode([ids])
            let g = m.config.generator
            let noise = MirrorRNG.noise(imageSeed: UInt64(i), zDim: g.zDim, conditionDim: g.conditionDim)
            let out = try m.generator(z: Tensor(shape: [1, g.zDim], data: noise.z), sentence: sentence, words: words,
                                      lengths: [ids.count], epsilon: Tensor(shape: [1, g.conditionDim], data: noise.epsilon))
            let (_, global) = try m.backbone(out.images[2])
            let code = try m.imageEncoder.code(global)
            let picks = Self.candidates(index: i, query: q, classes: bank.class_ids, k: m.config.rPrecision.candidates - 1)
            let cand = try m.textEncoder.encode(picks.map { bank.captions[$0] }).sentence
            let trueCos = cosineSimilarity(code.data, sentence.data)
            let nef = sentence.shape[1]
            var better = 0
            for r in 0..<picks.count where cosineSimilarity(code.data, Array(cand.data[(r * nef)..<((r + 1) * nef)])) > trueCos { better += 1 }
            ranks.append(1 + better)
            hits.append(better == 0)
            if i % 10 == 9 || i == count - 1 {
                progress.update(i + 1, extra: String(format: "R@1 %.3f", Double(hits.filter { $0 }.count) / Double(hits.count)))
            }
        }
        _ = start
        start = Date()
        let folds = (0..<10).map { f -> Double in
            let sel = hits.enumerated().filter { $0.offset % 10 == f }.map(\.element)
            return sel.isEmpty ? 0 : Double(sel.filter { $0 }.count) / Double(sel.count)
        }
        let mean = folds.reduce(0, +) / 10
        let std = (folds.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 10).squareRoot()
        print(String(format: "R-precision (top-1 of %d): %.2f%% ± %.2f over %d generated images (10 folds)",
                     m.config.rPrecision.candidates, mean * 100, std * 100, count))
        if let json {
            let obj: [String: Any] = ["images": count, "r_precision_mean": mean, "r_precision_std": std, "folds": folds, "ranks": ranks]
            try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
    }

    /// 99 bank indices of captions whose class differs from the query's, drawn by MirrorRNG(i ^ 0x5DEECE66D).
    static func candidates(index: Int, query: Int, classes: [Int], k: Int) -> [Int] {
        var rng = MirrorRNG(seed: UInt64(index) ^ MirrorRNG.candidateSeedMask)
        let eligible = classes.indices.filter { classes[$0] != classes[query] }
        if eligible.count <= k { return eligible }
        var taken = Set<Int>(), out = [Int]()
        while out.count < k {
            let j = Int(rng.nextUInt64() % UInt64(classes.count))
            if classes[j] == classes[query] || taken.contains(j) { continue }
            taken.insert(j)
            out.append(j)
        }
        return out
    }
}
