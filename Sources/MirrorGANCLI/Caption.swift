import ArgumentParser
import Foundation
import MirrorGAN

struct CaptionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "caption", abstract: "Caption a PNG, JPEG or WebP image with STREAM.")

    @OptionGroup var model: ModelOptions
    @Argument(help: "PNG, JPEG or WebP file.") var image: String
    @Option(help: "Beam width (1 = greedy).") var beamSize: Int = 1

    func run() throws {
        guard let data = FileManager.default.contents(atPath: image) else { throw ValidationError("cannot read \(image)") }
        let m = try model.load()
        let r: Redescription
        do {
            r = try m.caption(encoded: Array(data), beamSize: beamSize)
        } catch let e as ImageError {
            throw ValidationError("\(image): \(e)")
        }
        print(r.text)
        print("log_probs: " + r.logProbs.map { String(format: "%.3f", $0) }.joined(separator: " ")
              + String(format: "  (total %.3f)", r.logProb))
    }
}
