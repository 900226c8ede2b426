import Foundation
import Testing
@testable import MirrorGAN

/// The DAMSM image encoder's optional local_conv code head (model.json `"image_encoder": {"code_head": "local_conv",
/// "width": W}`): PyTorch parity, a from-scratch reference, model.json checks and weight-file faults.
@Suite("DAMSM image encoder: local_conv code head")
struct ImageEncoderCodeHeadTests {
    static var localConvDir: String { Parity.root.appendingPathComponent("tiny_local_conv").path }

    // MARK: Parity and reference

    @Test func localConvCodeMatchesPyTorch() throws {
        let io = try Parity.io()
        let nef = try Parity.config().textEncoder.hiddenDim
        let config = try Parity.config(Self.localConvDir)
        try config.validate(file: "model.json")
        let head = try config.codeHead(file: "model.json")
        #expect(head == .localConv(width: 16))
        let r = try Parity.reader("image_encoder.safetensors", dir: Self.localConvDir)
        let enc = try ImageEncoder(r, nef: nef, localChannels: 112, globalChannels: 1280, codeHead: head)
        try r.finish()
        #expect(enc.codeHead == .localConv(width: 16))
        let local = try #require(io["damsm.local"]), global = try #require(io["damsm.global"])
        let expected = try #require(io["damsm_conv.code"])
        expectClose(try enc.code(local: local, global: global), expected, tolerance: 1e-4, "local_conv global code")
    }

    /// The head spelled out from unfolded parts (a direct convolution in Double, BatchNorm as its own kernel, the
    /// mean and concatenation by hand): BN folding, stride-2 padding on odd and even sizes, and a width of 1 (whose
    /// second convolution `conv2d` runs as a depthwise one).
    @Test(arguments: [1, 3, 5])
    func localConvCodeMatchesAReferenceForm(width: Int) throws {
        let (nef, cl, cg, batch) = (6, 5, 7, 2)
        let (height, widthPixels) = [1: (14, 14), 3: (7, 7), 5: (6, 9)][width]!
        var rng = TestRandom(seed: UInt64(width * 1000 + height * 10 + widthPixels))
        let r = WeightReader(generating: { name, shape in
            name.hasSuffix("running_var") ? rng.tensor(shape, 0.3, 2) : rng.tensor(shape, -0.6, 0.6)
        }, displayName: "image_encoder.safetensors")
        let enc = try ImageEncoder(r, nef: nef, localChannels: cl, globalChannels: cg, codeHead: .localConv(width: width))
        let w = r.generated
        let local = rng.tensor([batch, cl, height, widthPixels]), global = rng.tensor([batch, cg])

        func bn(_ name: String) throws -> BatchNormParameters {
            try BatchNormParameters(weight: w[name + ".weight"]!, bias: w[name + ".bias"]!, runningMean: w[name + ".running_mean"]!,
                                    runningVar: w[name + ".running_var"]!, eps: 1e-5)
        }
        let naive = ConvTests()
        let relu = { (t: Tensor) in mapElements(t) { max($0, 0) } }
        let h1 = relu(try batchNorm(naive.naiveConv(local, w["code_conv1.weight"]!, w["code_conv1.bias"]!, stride: (1, 1),
                                                    pad: Padding2D(1), groups: 1), bn("code_bn1")))
        let h2 = relu(try batchNorm(naive.naiveConv(h1, w["code_conv2.weight"]!, w["code_conv2.bias"]!, stride: (2, 2),
                                                    pad: Padding2D(1), groups: 1), bn("code_bn2")))
        #expect(h2.shape == [batch, width, (height + 1) / 2, (widthPixels + 1) / 2])
        let linearCode = relu(try linear(global, weight: w["emb_cnn_code.weight"]!, bias: w["emb_cnn_code.bias"]!))
        var joined = Tensor(shape: [batch, width + nef])
        let plane = h2.shape[2] * h2.shape[3]
        for i in 0..<batch {
            for c in 0..<width {
                var s = 0.0
                for k in 0..<plane { s += Double(h2.data[(i * width + c) * plane + k]) }
                joined[i, c] = Float(s / Double(plane))
            }
            for j in 0..<nef { joined[i, width + j] = linearCode[i, j] }
        }
        let expected = try linear(joined, weight: w["code_out.weight"]!, bias: w["code_out.bias"]!)
        expectClose(try enc.code(local: local, global: global), expected, tolerance: 1e-5, relative: 1e-5, "code, width \(width)")
        // The linear head reads only the global feature.
        let plain = try ImageEncoder(WeightReader(generating: { name, _ in w[name]! }, displayName: "image_encoder.safetensors"),
                                     nef: nef, localChannels: cl, globalChannels: cg)
        expectClose(try plain.code(local: local, global: global), try linear(global, weight: w["emb_cnn_code.weight"]!,
                                                                             bias: w["emb_cnn_code.bias"]!), tolerance: 0, "linear code")
    }

    @Test func codeRejectsMismatchedBatches() throws {
        var rng = TestRandom(seed: 3)
        let r = WeightReader(generating: { _, shape in rng.tensor(shape, 0.1, 1) }, displayName: "image_encoder.safetensors")
        let enc = try ImageEncoder(r, nef: 4, localChannels: 3, globalChannels: 5, codeHead: .localConv(width: 2))
        #expect(throws: TensorError.self) { try enc.code(local: rng.tensor([2, 3, 4, 4]), global: rng.tensor([1, 5])) }
    }

    // MARK: model.json

    /// The tiny model's model.json with `image_encoder` set to `value` (nil: no key), decoded.
    static func config(imageEncoder value: Any?) throws -> ModelConfig {
        let url = URL(fileURLWithPath: Parity.tinyDir + "/model.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        json["image_encoder"] = value
        return try JSONDecoder().decode(ModelConfig.self, from: JSONSerialization.data(withJSONObject: json))
    }

    @Test func absentOrLinearIsTheLinearHead() throws {
        let absent = try Self.config(imageEncoder: nil)
        #expect(absent.imageEncoder == nil)
        try absent.validate(file: "model.json")
        #expect(try absent.codeHead(file: "model.json") == .linear)
        let linear = try Self.config(imageEncoder: ["code_head": "linear"])
        #expect(linear.imageEncoder == ModelConfig.ImageEncoder(codeHead: "linear"))
        try linear.validate(file: "model.json")
        #expect(try linear.codeHead(file: "model.json") == .linear)
        let conv = try Self.config(imageEncoder: ["code_head": "local_conv", "width": 16])
        try conv.validate(file: "model.json")
        #expect(try conv.codeHead(file: "model.json") == .localConv(width: 16))
        // Encoding a config without the key writes none (official and converted models stay as they are).
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(absent)) as? [String: Any]
        #expect(encoded?["image_encoder"] == nil)
    }

    @Test func badCodeHeadsAreConfigErrorsNamingTheField() throws {
        func copy(_ value: Any) throws -> String {
            try ConvertedLoadingTests.copy("tiny") { $0["image_encoder"] = value }
        }
        ConvertedLoadingTests.expectConfigError(try copy(["code_head": "local_conv"]),
                                                "image_encoder.width must be a positive integer for code_head \"local_conv\", it is missing")
        ConvertedLoadingTests.expectConfigError(try copy(["code_head": "local_conv", "width": 0]),
                                                "image_encoder.width must be a positive integer for code_head \"local_conv\", got 0")
        ConvertedLoadingTests.expectConfigError(try copy(["code_head": "local_conv", "width": -4]), "image_encoder.width")
        ConvertedLoadingTests.expectConfigError(try copy(["code_head": "attention", "width": 16]),
                                                "image_encoder.code_head \"attention\" is not supported")
        ConvertedLoadingTests.expectConfigError(try copy(["code_head": "linear", "width": 16]),
                                                "image_encoder.width is only for code_head \"local_conv\"")
        // Not decodable at all (no code_head; a width that is not an integer): still model.json and the field.
        ConvertedLoadingTests.expectConfigError(try copy(["width": 16]), "code_head")
        ConvertedLoadingTests.expectConfigError(try copy(["code_head": "local_conv", "width": "16"]), "width")
    }

    // MARK: Weight files

    /// The tiny model (TempModel) with the local_conv fixture's model.json and image_encoder.safetensors.
    static func localConvModel() throws -> TempModel {
        let m = try TempModel()
        let fm = FileManager.default
        for f in ["model.json", "image_encoder.safetensors"] {
            try fm.removeItem(atPath: m.path(f))
            try fm.copyItem(atPath: localConvDir + "/" + f, toPath: m.path(f))
        }
        try m.writeManifest()
        return m
    }

    @Test func localConvModelLoadsAndScoresWithItsHead() throws {
        let m = try Self.localConvModel()
        defer { m.remove() }
        let model = try MirrorGANModel(directory: m.dir)
        #expect(model.imageEncoder.codeHead == .localConv(width: 16))
        let r = try model.generate(caption: "w3 w5 w7 w9", options: GenerationOptions(seed: 5))
        let image = try #require(r.images.first)
        // R-precision's cosine is the local_conv code's, from the trunk's region map and global feature.
        let (local, global) = try model.backbone(image.image)
        let code = try model.imageEncoder.code(local: #require(local), global: global).data
        let sentence = try model.textEncoder.encode([r.caption.ids]).sentence.data
        let dot = zip(code, sentence).reduce(0) { $0 + $1.0 * $1.1 }
        let norms = sqrt(code.reduce(0) { $0 + $1 * $1 }) * sqrt(sentence.reduce(0) { $0 + $1 * $1 })
        #expect(abs(image.rPrecision.cosine - dot / norms) < 1e-4)
    }

    @Test func aMissingOrMisshapenHeadTensorIsNamedWithItsFile() throws {
        let loading = ModelLoadingTests()
        let m = try Self.localConvModel()
        defer { m.remove() }
        let nef = try Parity.config().textEncoder.hiddenDim
        try loading.rewrite(m, "image_encoder.safetensors") { $0["code_bn2.running_var"] = nil }
        #expect(throws: ModelLoadError.missingTensor(file: "image_encoder.safetensors", tensor: "code_bn2.running_var")) {
            try MirrorGANModel(directory: m.dir)
        }

        let n = try Self.localConvModel()
        defer { n.remove() }
        try loading.rewrite(n, "image_encoder.safetensors") { $0["code_out.weight"] = Tensor(shape: [nef, 16]) }
        #expect(throws: ModelLoadError.shapeMismatch(file: "image_encoder.safetensors", tensor: "code_out.weight",
                                                     expected: [nef, 16 + nef], actual: [nef, 16])) {
            try MirrorGANModel(directory: n.dir)
        }
    }

    @Test func aCheckpointOfTheOtherHeadDoesNotLoad() throws {
        // local_conv model.json, linear weights: the first head tensor is missing.
        let m = try Self.localConvModel()
        defer { m.remove() }
        try FileManager.default.removeItem(atPath: m.path("image_encoder.safetensors"))
        try FileManager.default.copyItem(atPath: Parity.tinyDir + "/image_encoder.safetensors", toPath: m.path("image_encoder.safetensors"))
        try m.writeManifest()
        #expect(throws: ModelLoadError.missingTensor(file: "image_encoder.safetensors", tensor: "code_conv1.weight")) {
            try MirrorGANModel(directory: m.dir)
        }

        // linear model.json (no image_encoder key), local_conv weights: the head's tensors are left over.
        let n = try TempModel()
        defer { n.remove() }
        try FileManager.default.removeItem(atPath: n.path("image_encoder.safetensors"))
        try FileManager.default.copyItem(atPath: Self.localConvDir + "/image_encoder.safetensors", toPath: n.path("image_encoder.safetensors"))
        try n.writeManifest()
        #expect {
            try MirrorGANModel(directory: n.dir)
        } throws: { error in
            guard case let .unexpectedTensors(file, tensors) = error as? ModelLoadError else { return false }
            return file == "image_encoder.safetensors" && tensors.contains("code_conv1.weight")
                && tensors.contains("code_out.bias") && tensors.allSatisfy { $0.hasPrefix("code_") }
        }
    }
}
