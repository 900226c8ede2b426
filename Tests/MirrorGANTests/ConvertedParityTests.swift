import Foundation
import Testing
@testable import MirrorGAN

/// Converted-layout models (issue 18) against PyTorch: the Inception-v3 and ResNet-152 trunks module by module, and
/// whole requests (tokens, greedy redescription, R-precision rank) of a converted birds model (GLAM, STREAM on
/// ResNet-152) and a COCO-config one without STREAM. Fixtures: Tests/Fixtures/parity/converted_* (written by
/// training/mirrorgan_train/fixtures_converted.py); the trunks' weights are made from seeds on both sides
/// (`SyntheticTrunk` and its Python twin), so no 300 MB of weights is committed.
@Suite("Converted models: Inception-v3 / ResNet-152 parity with PyTorch", .serialized)
struct ConvertedParityTests {
    struct Requests: Decodable {
        struct Entry: Decodable {
            let caption: String
            let seed: UInt64
            let image_seed: UInt64
            let tokens: [Int]
            let redescription_ids: [Int]?
            let rank: Int
            let cosine: Float
            let code: [Float]
        }
        let inception_seed: UInt64
        let resnet_seed: UInt64
        let models: [String: [Entry]]
    }

    static func requests() throws -> Requests {
        let data = try Data(contentsOf: Parity.root.appendingPathComponent("converted_requests.json"))
        return try JSONDecoder().decode(Requests.self, from: data)
    }

    static func io() throws -> [String: Tensor] {
        try SafeTensorsFile(path: Parity.root.appendingPathComponent("converted_io.safetensors").path).loadAll()
    }

    static let inception = ModelConfig.Backbone(name: "inception_v3", inputSize: 299, alignCorners: true, pixelMean: 0.5,
                                                pixelStd: 0.5, localBlock: 12, localChannels: 768, globalChannels: 2048,
                                                bnEps: 0.001)
    static func resnet(imagenet: Bool) -> ModelConfig.Backbone {
        ModelConfig.Backbone(name: "resnet152", inputSize: 224, alignCorners: false,
                             pixelMean: imagenet ? [0.485, 0.456, 0.406] : 0.5, pixelStd: imagenet ? [0.229, 0.224, 0.225] : 0.5,
                             localBlock: nil, localChannels: nil, globalChannels: 2048, bnEps: 1e-5)
    }

    /// A trunk built from the seed's weights, through the ordinary loader (a safetensors file in a temporary folder).
    static func trunk(_ config: ModelConfig.Backbone, seed: UInt64) throws -> ImageTrunk {
        let path = NSTemporaryDirectory() + "mirrorgan-trunk-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SyntheticTrunk.write(config, seed: seed, to: path)
        let r = try WeightReader(path: path, displayName: "backbone.safetensors")
        let t = try ImageTrunk(r, config: config)
        try r.finish()
        return t
    }

    @Test func inceptionV3Trunk() throws {
        let fx = try Self.io(), seeds = try Self.requests()
        let trunk = try Self.trunk(Self.inception, seed: seeds.inception_seed)
        let (local, global) = try trunk(try fx.require("input"))
        let l = try #require(local)
        #expect(l.shape == [1, 768, 17, 17])
        // The first 32 channels in full, and every channel's sum over its 17 × 17 plane.
        let head = try Tensor(shape: [1, 32, 17, 17], data: Array(l.data[0..<(32 * 289)]))
        expectClose(head, try fx.require("inception.local_head"), tolerance: 1e-4, "Mixed_6e (first 32 channels)")
        let sums = try Tensor(shape: [1, 768], data: (0..<768).map { c in l.data[(c * 289)..<((c + 1) * 289)].reduce(0, +) })
        expectClose(sums, try fx.require("inception.local_channel_sum"), tolerance: 1e-4, relative: 1e-6,
                    "Mixed_6e channel sums")
        expectClose(global, try fx.require("inception.global"), tolerance: 1e-4, "Mixed_7c spatial mean")
    }

    @Test(arguments: [false, true])
    func resNet152Trunk(imagenet: Bool) throws {
        let fx = try Self.io(), seeds = try Self.requests()
        let trunk = try Self.trunk(Self.resnet(imagenet: imagenet), seed: seeds.resnet_seed)
        let (local, global) = try trunk(try fx.require("input"))
        #expect(local == nil)
        expectClose(global, try fx.require(imagenet ? "resnet_imagenet.global" : "resnet.global"), tolerance: 1e-4,
                    "layer4 spatial mean (\(imagenet ? "ImageNet" : "raw") input)")
    }

    /// The kernels split work only where the result does not depend on the split: bit-identical at 1 and 2 threads.
    @Test func trunksAreIdenticalAtOneAndTwoThreads() throws {
        let fx = try Self.io(), seeds = try Self.requests()
        let input = try fx.require("input")
        let inception = try Self.trunk(Self.inception, seed: seeds.inception_seed)
        let resnet = try Self.trunk(Self.resnet(imagenet: false), seed: seeds.resnet_seed)
        let a = try atOneAndTwoThreads { try inception(input) }
        let b = try atOneAndTwoThreads { try resnet(input).global }
        Runtime.setThreads(1)
        #expect(a.one.local == a.two.local && a.one.global == a.two.global)
        #expect(b.one == b.two)
    }

    /// A loadable copy of a fixture directory: the trunks made from the seeds, and a MANIFEST.
    static func completeDirectory(_ name: String) throws -> String {
        let seeds = try requests()
        let dir = NSTemporaryDirectory() + "mirrorgan-\(name)-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Parity.root.appendingPathComponent(name).path, toPath: dir)
        let config = try Parity.config(dir)
        try SyntheticTrunk.write(config.backbone, seed: seeds.inception_seed, to: dir + "/backbone.safetensors")
        if let s = config.streamBackbone {
            try SyntheticTrunk.write(s, seed: seeds.resnet_seed, to: dir + "/stream_backbone.safetensors")
        }
        try ModelDirectory.writeManifest(dir)
        return dir
    }

    @Test(arguments: ["converted_birds", "converted_coco_nostream"])
    func wholeRequests(model name: String) throws {
        let dir = try Self.completeDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try MirrorGANModel(directory: dir)
        let entries = try #require(try Self.requests().models[name])
        #expect(model.captioner == nil ? entries.allSatisfy { $0.redescription_ids == nil } : true)
        for caption in Set(entries.map(\.caption)) {
            let expected = entries.filter { $0.caption == caption }
            let r = try model.generate(caption: caption, options: GenerationOptions(seed: expected[0].seed, n: expected.count))
            for (image, e) in zip(r.images, expected) {
                #expect(r.caption.ids == e.tokens)
                #expect(image.seed == e.image_seed)
                #expect(image.redescription?.ids == e.redescription_ids, "greedy tokens, image seed \(e.image_seed)")
                #expect(image.rPrecision.rank == e.rank, "R-precision rank, image seed \(e.image_seed)")
                #expect(abs(image.rPrecision.cosine - e.cosine) < 1e-4, "cosine \(image.rPrecision.cosine) vs \(e.cosine)")
                let (local, global) = try model.backbone(image.image)
                let code = try model.imageEncoder.code(local: #require(local), global: global)
                expectClose(code, try Tensor(shape: [1, e.code.count], data: e.code), tolerance: 1e-4, "DAMSM image code")
            }
        }
        if model.captioner == nil {
            #expect(throws: PipelineError.noCaptioner(model: model.config.name)) {
                try model.caption(image: RGBImage(width: 8, height: 8, rgb: [UInt8](repeating: 128, count: 192)))
            }
        }
    }
}

/// `SyntheticTrunk` and its Python twin (training/mirrorgan_train/synthetic_trunk.py) give the same bits: values
/// printed by the twin (`value(name, shape, 18002)`, as float.hex) for each of the rule's cases.
@Suite struct SyntheticTrunkTwinTests {
    @Test func valuesMatchThePythonTwinBitForBit() {
        #expect(SyntheticTrunk.fnv1a64("layer1.0.bn3.weight") == 0x2EC3_C5C9_DC4C_ECE2)
        let cases: [(String, [Int], [Float])] = [
            ("conv1.weight", [2, 3], [0x1.3c0bb0p-3, -0x1.099284p+0, -0x1.70857ap-5, -0x1.d6532ep-2, 0x1.67e5fap-2,
                                      0x1.65e15ap-5]),
            ("layer1.0.bn3.weight", [3], [0x1.8c5ba4p-3, 0x1.870cb4p-3, 0x1.d1b320p-3]),
            ("bn1.running_var", [3], [0x1.cf476cp-1, 0x1.93c8ccp-1, 0x1.871510p-1]),
            ("Mixed_5b.branch1x1.bn.bias", [2], [0x1.9fb6bap-5, -0x1.29df90p-4]),
        ]
        for (name, shape, expected) in cases {
            #expect(Array(SyntheticTrunk.value(name, shape, seed: 18002).data) == expected, "\(name)")
        }
    }
}
