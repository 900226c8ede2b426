import Foundation
import Testing
@testable import MirrorGAN

/// Converted-layout directories that must not load, and why: model.json's trunk entries checked against the trunks
/// the runtime has, STREAM's files required exactly when model.json has STREAM, and a bad trunk tensor named with
/// its file.
@Suite("Converted models: loading faults")
struct ConvertedLoadingTests {
    /// A copy of a converted fixture directory, model.json edited, a placeholder for each absent trunk file (the
    /// checks under test run before any weight is read), and a fresh MANIFEST.
    static func copy(_ name: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let dir = NSTemporaryDirectory() + "mirrorgan-\(name)-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Parity.root.appendingPathComponent(name).path, toPath: dir)
        let url = URL(fileURLWithPath: dir + "/model.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        try Data([0]).write(to: URL(fileURLWithPath: dir + "/backbone.safetensors"))
        try ModelDirectory.writeManifest(dir)
        return dir
    }

    static func expectConfigError(_ dir: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(sourceLocation: sourceLocation) { try MirrorGANModel(directory: dir) } throws: { error in
            guard case let .invalidConfig(file, message) = error as? ModelLoadError else { return false }
            return file == "model.json" && message.contains(fragment)
        }
    }

    @Test func trunkEntriesAreCheckedAgainstTheArchitecture() throws {
        func backbone(_ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
            { json in
                var b = json["backbone"] as? [String: Any] ?? [:]
                b[key] = value
                json["backbone"] = b
            }
        }
        Self.expectConfigError(try Self.copy("converted_coco_nostream", edit: backbone("input_size", 224)),
                               "backbone.input_size must be 299 for inception_v3")
        Self.expectConfigError(try Self.copy("converted_coco_nostream", edit: backbone("global_channels", 1280)),
                               "global_channels must be 2048")
        Self.expectConfigError(try Self.copy("converted_coco_nostream", edit: backbone("pixel_mean", [0.5, 0.5])),
                               "a number or a list of 3")
        Self.expectConfigError(try Self.copy("converted_coco_nostream", edit: backbone("name", "resnet152")),
                               "resnet152 gives no region features")
        Self.expectConfigError(try Self.copy("converted_coco_nostream", edit: backbone("name", "vgg16")),
                               "backbone vgg16 is not supported")
        Self.expectConfigError(try Self.copy("converted_birds") { json in
            var s = json["stream_backbone"] as? [String: Any] ?? [:]
            s["name"] = "inception_v4"
            json["stream_backbone"] = s
        }, "stream_backbone inception_v4 is not supported")
        Self.expectConfigError(try Self.copy("converted_birds") { $0["stream"] = NSNull() },
                               "stream_backbone is given but stream is null")
    }

    @Test func streamFilesAreRequiredExactlyWhenModelJSONHasStream() throws {
        let dir = try Self.copy("converted_birds")  // no stream_backbone.safetensors
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: ModelLoadError.manifestMissingEntry(file: "stream_backbone.safetensors")) {
            try MirrorGANModel(directory: dir)
        }
        // Without STREAM, STREAM's files are not asked for (the coco fixture has none; it then fails on the
        // placeholder backbone file, past the MANIFEST).
        let none = try Self.copy("converted_coco_nostream")
        defer { try? FileManager.default.removeItem(atPath: none) }
        #expect { try MirrorGANModel(directory: none) } throws: { error in
            guard case let .unreadableFile(file, _) = error as? ModelLoadError else { return false }
            return file == "backbone.safetensors"
        }
    }

    @Test func badTrunkTensorsAreNamedWithTheirFile() throws {
        let dir = try ConvertedParityTests.completeDirectory("converted_birds")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try Parity.config(dir)
        var inception = try SyntheticTrunk.weights(config.backbone, seed: 1)
        inception["Mixed_6e.branch7x7_2.conv.weight"] = Tensor(shape: [192, 192, 7, 1])
        try SafeTensorsWriter.write(inception, to: dir + "/backbone.safetensors")
        try ModelDirectory.writeManifest(dir)
        #expect(throws: ModelLoadError.shapeMismatch(file: "backbone.safetensors", tensor: "Mixed_6e.branch7x7_2.conv.weight",
                                                     expected: [192, 192, 1, 7], actual: [192, 192, 7, 1])) {
            try MirrorGANModel(directory: dir)
        }
        inception["Mixed_6e.branch7x7_2.conv.weight"] = nil
        try SafeTensorsWriter.write(try SyntheticTrunk.weights(config.backbone, seed: 1), to: dir + "/backbone.safetensors")
        var resnet = try SyntheticTrunk.weights(try #require(config.streamBackbone), seed: 2)
        resnet["layer3.35.bn3.running_var"] = nil
        try SafeTensorsWriter.write(resnet, to: dir + "/stream_backbone.safetensors")
        try ModelDirectory.writeManifest(dir)
        #expect(throws: ModelLoadError.missingTensor(file: "stream_backbone.safetensors", tensor: "layer3.35.bn3.running_var")) {
            try MirrorGANModel(directory: dir)
        }
    }
}
