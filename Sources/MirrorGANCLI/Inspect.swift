import ArgumentParser
import Foundation
import MirrorGAN

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Verify a model directory and list its modules, parameters and checksums.")

    @Argument(help: "Model directory.") var directory: String = "Weights/synthbirds"

    func run() throws {
        let m: MirrorGANModel
        do { m = try MirrorGANModel(directory: directory) } catch let e as ModelLoadError {
            throw ValidationError("\(directory): \(e)")
        }
        let c = m.config
        print("model \(c.name): \(c.description)")
        print("  text encoder  bi-LSTM \(c.textEncoder.embeddingDim) → 2×\(c.textEncoder.hiddenDim / 2), vocabulary \(c.textEncoder.nWords)")
        print("  generator     ngf \(c.generator.ngf), z \(c.generator.zDim), condition \(c.generator.conditionDim), "
              + "R_NUM \(c.generator.rNum), \(c.generator.branchNum) stages, \(c.generator.glam ? "GLAM (MirrorGAN)" : "AttnGAN attention")")
        print("  backbone      \(c.backbone.name) at \(c.backbone.inputSize)², local block \(c.backbone.localBlock.map(String.init) ?? "-")")
        switch m.imageEncoder.codeHead {
        case .linear: print("  DAMSM code    linear (emb_cnn_code)")
        case let .localConv(width): print("  DAMSM code    local_conv, width \(width)")
        }
        if let s = c.stream {
            print("  STREAM        embed \(s.embedSize), hidden \(s.hiddenSize), max \(s.maxSeqLength) tokens, end token \(s.endToken)"
                  + (c.streamBackbone.map { ", own trunk \($0.name) at \($0.inputSize)²" } ?? ", on the shared backbone"))
        } else {
            print("  STREAM        none: no redescription, no captioning (generation and R-precision only)")
        }
        print("  caption bank  \(m.captionBank.count) captions; R-precision over \(c.rPrecision.candidates) candidates")
        print("  parameters    \(m.parameterCount)")
        print("files (sha256 verified against MANIFEST):")
        for (f, h) in m.checksums.sorted(by: { $0.key < $1.key }) { print("  \(h)  \(f)") }
    }
}
