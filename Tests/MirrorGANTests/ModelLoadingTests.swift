import Foundation
import Testing
@testable import MirrorGAN

/// A complete model directory in a temp folder: the tiny parity model plus the shipped Lite0 backbone,
/// with a fresh MANIFEST, so loading, verification and the whole pipeline can be exercised quickly.
struct TempModel {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "mirrorgan-model-" + UUID().uuidString
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in try fm.contentsOfDirectory(atPath: Parity.tinyDir) where f != "MANIFEST" {
            try fm.copyItem(atPath: Parity.tinyDir + "/" + f, toPath: dir + "/" + f)
        }
        let backbone = Parity.repoRoot.appendingPathComponent("Weights/synthbirds/backbone.safetensors").path
        try fm.copyItem(atPath: backbone, toPath: dir + "/backbone.safetensors")
        try writeManifest()
    }

    func writeManifest() throws { try ModelDirectory.writeManifest(dir) }

    func path(_ f: String) -> String { dir + "/" + f }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

@Suite("Model directory loading and faults")
struct ModelLoadingTests {
    @Test func loadsAndVerifiesEveryFile() throws {
        let m = try TempModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        #expect(model.checksums.count == ModelDirectory.requiredFiles.count + 2)  // + STREAM's two files
        #expect(model.vocabulary.first == "<end>")
        #expect(model.parameterCount > 3_000_000)  // Lite0 trunk alone is 3.37 M
    }

    @Test func flippedByteIsACheckSumErrorNamingTheFile() throws {
        let m = try TempModel()
        defer { m.remove() }
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: m.path("generator.safetensors"))))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: m.path("generator.safetensors")))
        #expect {
            try MirrorGANModel(directory: m.dir)
        } throws: { error in
            guard case let .checksumMismatch(file, _, _) = error as? ModelLoadError else { return false }
            return file == "generator.safetensors"
        }
    }

    @Test func truncatedFileIsRejectedEvenWithAMatchingManifest() throws {
        let m = try TempModel()
        defer { m.remove() }
        let url = URL(fileURLWithPath: m.path("text_encoder.safetensors"))
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count - 100).write(to: url)
        try m.writeManifest()
        #expect {
            try MirrorGANModel(directory: m.dir)
        } throws: { error in
            (error as? ModelLoadError)?.description.contains("text_encoder.safetensors") == true
        }
    }

    func rewrite(_ m: TempModel, _ file: String, _ edit: (inout [String: Tensor]) -> Void) throws {
        var tensors = try SafeTensorsFile(path: m.path(file)).loadAll()
        edit(&tensors)
        try SafeTensorsWriter.write(tensors, to: m.path(file))
        try m.writeManifest()
    }

    @Test func missingTensorIsNamed() throws {
        let m = try TempModel()
        defer { m.remove() }
        try rewrite(m, "generator.safetensors") { $0["h_net3.att.linear.weight"] = nil }
        #expect(throws: ModelLoadError.missingTensor(file: "generator.safetensors", tensor: "h_net3.att.linear.weight")) {
            try MirrorGANModel(directory: m.dir)
        }
    }

    @Test func wrongShapeIsNamed() throws {
        let m = try TempModel()
        defer { m.remove() }
        try rewrite(m, "stream_decoder.safetensors") { $0["linear.bias"] = Tensor(shape: [7]) }
        #expect {
            try MirrorGANModel(directory: m.dir)
        } throws: { error in
            guard case let .shapeMismatch(file, tensor, _, actual) = error as? ModelLoadError else { return false }
            return file == "stream_decoder.safetensors" && tensor == "linear.bias" && actual == [7]
        }
    }

    @Test func extraTensorIsRejected() throws {
        let m = try TempModel()
        defer { m.remove() }
        try rewrite(m, "image_encoder.safetensors") { $0["surprise"] = Tensor(shape: [2]) }
        #expect(throws: ModelLoadError.unexpectedTensors(file: "image_encoder.safetensors", tensors: ["surprise"])) {
            try MirrorGANModel(directory: m.dir)
        }
    }

    @Test func nonFiniteWeightsAreRejected() throws {
        let m = try TempModel()
        defer { m.remove() }
        try rewrite(m, "text_encoder.safetensors") { t in
            var w = t["encoder.weight"]!
            w[0, 0] = .nan
            t["encoder.weight"] = w
        }
        #expect(throws: ModelLoadError.invalidTensor(file: "text_encoder.safetensors", tensor: "encoder.weight",
                                                     message: "contains NaN or infinity")) {
            try MirrorGANModel(directory: m.dir)
        }
    }

    @Test func missingManifestEntryAndMissingFile() throws {
        let m = try TempModel()
        defer { m.remove() }
        try FileManager.default.removeItem(atPath: m.path("vocab.json"))
        try m.writeManifest()
        #expect(throws: ModelLoadError.manifestMissingEntry(file: "vocab.json")) { try MirrorGANModel(directory: m.dir) }
    }
}
