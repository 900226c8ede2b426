// SyntheticModel (what `mirrorgan bench --config official-birds` times) writes a model directory the loader
// accepts as it accepts a converted checkpoint: every tensor named and shaped, a valid MANIFEST.
import Foundation
import Testing
@testable import MirrorGAN

@Suite("SyntheticModel: a loadable model directory at any widths")
struct SyntheticModelTests {
    @Test func smallWidthsLoadVerifyAndGenerate() throws {
        var w = SyntheticModel.Widths()
        (w.nWords, w.embeddingDim, w.nef, w.ngf, w.zDim, w.conditionDim, w.rNum) = (60, 16, 32, 4, 8, 8, 1)
        (w.capEmbed, w.capHidden) = (16, 16)
        let dir = try SyntheticModel.write(w, seed: 3)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try MirrorGANModel(directory: dir)  // MANIFEST sha256 + every tensor's name and shape
        #expect(model.checksums.count == ModelDirectory.requiredFiles.count + 2)  // + STREAM's two files
        #expect(model.config.generator.ngf == 4 && model.config.textEncoder.nWords == 60)
        #expect(model.captionClasses?.count == model.captionBank.count)
        let r = try model.generate(caption: "w1 w2 w3", options: GenerationOptions(seed: 1))
        #expect(r.images[0].image.shape == [1, 3, 256, 256])
        #expect(r.images[0].rPrecision.candidates == 100)
        // The same seed writes the same files.
        let again = try SyntheticModel.write(w, seed: 3)
        defer { try? FileManager.default.removeItem(atPath: again) }
        #expect(try ModelDirectory.readManifest(again) == ModelDirectory.readManifest(dir))
    }
}
