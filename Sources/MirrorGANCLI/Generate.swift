import ArgumentParser
import Foundation
import MirrorGAN

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate 256×256 images from a caption; print each image's redescription and R-precision.")

    @OptionGroup var model: ModelOptions
    @Option(help: "The caption.") var caption: String
    @Option(help: "Seed of the first image (image i uses seed + i).") var seed: UInt64 = 0
    @Option(help: "Number of images (1-8).") var n: Int = 1
    @Option(help: "Output PNG; with n > 1, -i is inserted before .png.") var output: String = "out.png"
    @Flag(help: "Mean-only conditioning (c = mu) instead of the official sampled CA.") var meanOnly = false
    @Option(help: "Beam width of the redescription (1 = greedy).") var beamSize: Int = 1
    @Flag(help: "Also write the 64 and 128 px images.") var intermediates = false

    func run() throws {
        let m = try model.load()
        let result: GenerationResult
        do {
            result = try m.generate(caption: caption, options: GenerationOptions(
                seed: seed, n: n, meanOnly: meanOnly, returnIntermediates: intermediates, beamSize: beamSize))
        } catch let e as CaptionError {
            throw ValidationError("caption rejected (\(e.code)): \(e)")
        } catch let e as PipelineError {
            throw ValidationError("\(e)")
        }
        if !result.caption.unknownWords.isEmpty {
            print("unknown words (dropped): \(result.caption.unknownWords.joined(separator: " "))")
        }
        if result.caption.truncated { print("caption truncated to \(Tokenizer.maxWords) words") }
        print("tokens: \(result.caption.tokens.joined(separator: " "))")
        for (i, img) in result.images.enumerated() {
            let path = n == 1 ? output : output.replacingOccurrences(of: ".png", with: "-\(i).png")
            try Data(img.png).write(to: URL(fileURLWithPath: path))
            if intermediates, let a = img.image64, let b = img.image128 {
                try Data(PNG.encode(a)).write(to: URL(fileURLWithPath: path.replacingOccurrences(of: ".png", with: "-64.png")))
                try Data(PNG.encode(b)).write(to: URL(fileURLWithPath: path.replacingOccurrences(of: ".png", with: "-128.png")))
            }
            let r = img.rPrecision
            print("\(path)  seed=\(img.seed)  redescription=\(img.redescription.map { "\"\($0.text)\"" } ?? "none (no STREAM)")  "
                  + "r_precision: rank \(r.rank)/\(r.candidates) hit=\(r.hit) cosine=\(String(format: "%.4f", r.cosine))")
        }
        let t = result.timings.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.3f", $0.value))s" }
        print("timings: \(t.joined(separator: " "))")
    }
}
