import ArgumentParser
import Foundation
import MirrorGAN

/// R-precision over the test captions of the caption bank with the protocol of docs/EVALUATION.md, the same as
/// `python -m mirrorgan_train.evaluate` (`RPrecisionEvaluation` spells it out): image i comes from bank caption
/// i·10 + (i mod 10) with seed i, through the model's own request path (`generate`, as the server runs it) with the
/// evaluation's candidate picker (99 captions of other classes); a hit is a strict first place; the hits are
/// shuffled by numpy's generator and folded into 10.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "R-precision of generated images over the test captions.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Number of generated images.") var images: Int = 1000
    @Option(help: "Seed of the fold shuffle (evaluate.py's --seed).") var seed: UInt64 = 0
    @Option(help: "Write per-image ranks and the summary as JSON.") var json: String?

    func run() throws {
        let m = try model.load()
        guard let classes = m.captionClasses else {
            throw ValidationError("\(model.weights)/caption_bank.json has no class_ids: the evaluation draws candidates of other classes")
        }
        let count = min(images, m.captionBank.count / RPrecisionEvaluation.captionsPerImage)
        let progress = Progress(total: count, label: "eval")
        var ranks = [Int](), hits = [Bool]()
        for i in 0..<count {
            let q = RPrecisionEvaluation.query(image: i)
            let ids = m.captionBank[q]
            // The bank caption as ids, whole (as evaluate.py feeds it), through the request path.
            let caption = TokenizedCaption(ids: ids, tokens: m.words(ids), unknownWords: [], truncated: false)
            let result = try m.generate(tokenized: caption, options: GenerationOptions(
                seed: UInt64(i), candidates: .otherClasses(classes: classes, query: q)))
            guard let r = result.images.first?.rPrecision else { throw ValidationError("image \(i): no result") }
            ranks.append(r.rank)
            hits.append(RPrecisionEvaluation.isHit(r))
            if i % 10 == 9 || i == count - 1 {
                progress.update(i + 1, extra: String(format: "R@1 %.3f", Double(hits.filter { $0 }.count) / Double(hits.count)))
            }
        }
        let stats = RPrecisionEvaluation.foldStatistics(hits: hits, seed: seed)
        print(String(format: "R-precision (top-1 of %d): %.2f%% ± %.2f over %d generated images (%d folds)",
                     m.config.rPrecision.candidates, stats.mean * 100, stats.std * 100, count, stats.foldMeans.count))
        if let json {
            let obj: [String: Any] = ["images": count, "r_precision_mean": stats.mean, "r_precision_std": stats.std,
                                      "folds": stats.foldMeans, "fold_seed": seed, "ranks": ranks,
                                      "hits": hits.map { $0 ? 1 : 0 }]
            try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
    }
}
