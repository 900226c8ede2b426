import Foundation

/// A complete model directory (docs/MODEL_FORMAT.md) with random weights at given widths, written to a
/// temporary directory: every tensor the architecture names, with its exact shape, and a MANIFEST.
/// `mirrorgan bench --config official-birds` times the runtime on it (`converted-birds`, `converted-coco`: the
/// layout the converter writes, Inception-v3 and ResNet-152 trunks from `SyntheticTrunk`); the caller removes the
/// directory.
public enum SyntheticModel {
    public struct Widths: Sendable {
        public var nWords = 5450, embeddingDim = 300, nef = 256, ngf = 32, zDim = 100, conditionDim = 100, rNum = 2
        public var capEmbed = 256, capHidden = 512
        public var wordsNum = 18
        /// MirrorGAN's GLAM generator; false: AttnGAN's (no sentence attention, no fusion conv).
        public var glam = true
        /// With STREAM (false: `"stream": null`, no STREAM files).
        public var stream = true
        /// The converter's layout: Inception-v3 DAMSM trunk and, with STREAM, a ResNet-152 STREAM trunk (instead of
        /// one shared EfficientNet-Lite0).
        public var converted = false
        public static let officialBirds = Widths()
        /// A converted MirrorGAN birds model: official birds widths, GLAM, STREAM on ResNet-152.
        public static var convertedBirds: Widths { var w = Widths(); w.converted = true; return w }
        /// A converted AttnGAN COCO release: COCO widths (ngf 48, R_NUM 3, 27,297 words, WORDS_NUM 12), no STREAM.
        public static var convertedCOCO: Widths {
            var w = Widths()
            (w.nWords, w.ngf, w.rNum, w.wordsNum, w.glam, w.stream, w.converted) = (27297, 48, 3, 12, false, false, true)
            return w
        }
        public init() {}
    }

    public static func write(_ w: Widths, seed: UInt64 = 1234) throws -> String {
        let dir = NSTemporaryDirectory() + "mirrorgan-bench-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var rng = MirrorRNG(seed: seed)
        // The `try!`s below cannot fail: each tensor's data is built with exactly its shape's element count.
        // Uniform with variance 1/fan_in (activations stay O(1) through the GLU stacks).
        func weight(_ shape: [Int]) -> Tensor {
            let fanIn = max(1, shape.dropFirst().reduce(1, *))
            let a = (3.0 / Double(fanIn)).squareRoot()
            let n = shape.reduce(1, *)
            return try! Tensor(shape: shape, data: (0..<n).map { _ in Float((rng.uniform() * 2 - 1) * a) })
        }
        func small(_ n: Int, _ center: Double, _ spread: Double) -> Tensor {
            try! Tensor(shape: [n], data: (0..<n).map { _ in Float(center + (rng.uniform() * 2 - 1) * spread) })
        }
        func bn(_ t: inout [String: Tensor], _ name: String, _ n: Int) {
            t[name + ".weight"] = small(n, 1, 0.1)
            t[name + ".bias"] = small(n, 0, 0.1)
            t[name + ".running_mean"] = small(n, 0, 0.1)
            t[name + ".running_var"] = small(n, 1, 0.25)
        }
        func save(_ t: [String: Tensor], _ file: String) throws {
            try SafeTensorsWriter.write(t, to: dir + "/" + file)
        }

        // STEM
        let hid = w.nef / 2
        var text: [String: Tensor] = ["encoder.weight": weight([w.nWords, w.embeddingDim])]
        for s in ["", "_reverse"] {
            text["rnn.weight_ih_l0" + s] = weight([4 * hid, w.embeddingDim])
            text["rnn.weight_hh_l0" + s] = weight([4 * hid, hid])
            text["rnn.bias_ih_l0" + s] = small(4 * hid, 0, 0.1)
            text["rnn.bias_hh_l0" + s] = small(4 * hid, 0, 0.1)
        }
        try save(text, "text_encoder.safetensors")

        // G_NET
        var g: [String: Tensor] = [:]
        let ngf16 = 16 * w.ngf
        g["ca_net.fc.weight"] = weight([4 * w.conditionDim, w.nef])
        g["ca_net.fc.bias"] = small(4 * w.conditionDim, 0, 0.1)
        g["h_net1.fc.0.weight"] = weight([ngf16 * 32, w.zDim + w.conditionDim])
        bn(&g, "h_net1.fc.1", ngf16 * 32)
        for i in 1...4 {
            let (cin, cout) = (ngf16 >> (i - 1), ngf16 >> i)
            g["h_net1.upsample\(i).1.weight"] = weight([2 * cout, cin, 3, 3])
            bn(&g, "h_net1.upsample\(i).2", 2 * cout)
        }
        for s in 1...3 { g["img_net\(s).img.0.weight"] = weight([3, w.ngf, 3, 3]) }
        for s in 2...3 {
            let p = "h_net\(s)."
            g[p + "att.conv_context.weight"] = weight([w.ngf, w.nef, 1, 1])
            if w.glam {
                g[p + "att.conv_sentence_vis.weight"] = weight([w.ngf, w.ngf, 1, 1])
                g[p + "att.linear.weight"] = weight([w.ngf, w.conditionDim])
                g[p + "att.linear.bias"] = small(w.ngf, 0, 0.1)
            }
            for r in 0..<w.rNum {
                let q = p + "residual.\(r).block."
                g[q + "0.weight"] = weight([4 * w.ngf, 2 * w.ngf, 3, 3])
                bn(&g, q + "1", 4 * w.ngf)
                g[q + "3.weight"] = weight([2 * w.ngf, 2 * w.ngf, 3, 3])
                bn(&g, q + "4", 2 * w.ngf)
            }
            g[p + "upsample.1.weight"] = weight([2 * w.ngf, 2 * w.ngf, 3, 3])
            bn(&g, p + "upsample.2", 2 * w.ngf)
            if w.glam { g[p + "conv.weight"] = weight([2 * w.ngf, 3 * w.ngf, 1, 1]) }
        }
        try save(g, "generator.safetensors")

        if w.converted { return try writeConvertedRest(w, dir: dir, rng: &rng) }

        // EfficientNet-Lite0 trunk (stage table of EfficientNetLite0.stages).
        let stages: [(repeats: Int, kernel: Int, expand: Int, input: Int, output: Int)] = [
            (1, 3, 1, 32, 16), (2, 3, 6, 16, 24), (2, 5, 6, 24, 40), (3, 3, 6, 40, 80),
            (3, 5, 6, 80, 112), (4, 5, 6, 112, 192), (1, 3, 6, 192, 320)]
        var b: [String: Tensor] = ["_conv_stem.weight": weight([32, 3, 3, 3])]
        bn(&b, "_bn0", 32)
        var index = 0
        for s in stages {
            for r in 0..<s.repeats {
                let input = r == 0 ? s.input : s.output
                let hidden = input * s.expand
                let p = "_blocks.\(index)."
                if s.expand != 1 {
                    b[p + "_expand_conv.weight"] = weight([hidden, input, 1, 1])
                    bn(&b, p + "_bn0", hidden)
                }
                b[p + "_depthwise_conv.weight"] = weight([hidden, 1, s.kernel, s.kernel])
                bn(&b, p + "_bn1", hidden)
                b[p + "_project_conv.weight"] = weight([s.output, hidden, 1, 1])
                bn(&b, p + "_bn2", s.output)
                index += 1
            }
        }
        b["_conv_head.weight"] = weight([1280, 320, 1, 1])
        bn(&b, "_bn1", 1280)
        try save(b, "backbone.safetensors")

        try save(["emb_features.weight": weight([w.nef, 112, 1, 1]), "emb_cnn_code.weight": weight([w.nef, 1280]),
                  "emb_cnn_code.bias": small(w.nef, 0, 0.1)], "image_encoder.safetensors")
        var se: [String: Tensor] = ["linear.weight": weight([w.capEmbed, 1280]), "linear.bias": small(w.capEmbed, 0, 0.1)]
        bn(&se, "bn", w.capEmbed)
        try save(se, "stream_encoder.safetensors")
        try save(["embed.weight": weight([w.nWords, w.capEmbed]),
                  "lstm.weight_ih_l0": weight([4 * w.capHidden, w.capEmbed]),
                  "lstm.weight_hh_l0": weight([4 * w.capHidden, w.capHidden]),
                  "lstm.bias_ih_l0": small(4 * w.capHidden, 0, 0.1), "lstm.bias_hh_l0": small(4 * w.capHidden, 0, 0.1),
                  "linear.weight": weight([w.nWords, w.capHidden]), "linear.bias": small(w.nWords, 0, 0.1)],
                 "stream_decoder.safetensors")

        try writeJSON(w, dir: dir, rng: &rng, backbone: [
            "name": "efficientnet-lite0", "input_size": 224, "resize": "bilinear", "align_corners": false,
            "pixel_mean": 0.498, "pixel_std": 0.502, "local_block": 10, "local_channels": 112, "global_channels": 1280],
            streamBackbone: nil)
        return dir
    }

    /// The converted layout's trunks and heads (as `mirrorgan_train.convert` writes them), then the JSON files.
    private static func writeConvertedRest(_ w: Widths, dir: String, rng: inout MirrorRNG) throws -> String {
        func weight(_ shape: [Int]) -> Tensor {
            let a = (3.0 / Double(max(1, shape.dropFirst().reduce(1, *)))).squareRoot()
            return try! Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float((rng.uniform() * 2 - 1) * a) })
        }
        func small(_ n: Int, _ center: Double, _ spread: Double) -> Tensor {
            try! Tensor(shape: [n], data: (0..<n).map { _ in Float(center + (rng.uniform() * 2 - 1) * spread) })
        }
        let inception = ModelConfig.Backbone(name: ModelConfig.Backbone.inceptionV3, inputSize: 299, alignCorners: true,
                                             pixelMean: 0.5, pixelStd: 0.5, localBlock: 12, localChannels: 768,
                                             globalChannels: 2048, bnEps: 0.001)
        try SyntheticTrunk.write(inception, seed: 18001, to: dir + "/backbone.safetensors")
        try SafeTensorsWriter.write(["emb_features.weight": weight([w.nef, 768, 1, 1]), "emb_cnn_code.weight": weight([w.nef, 2048]),
                                     "emb_cnn_code.bias": small(w.nef, 0, 0.1)], to: dir + "/image_encoder.safetensors")
        var streamBackbone: [String: Any]?
        if w.stream {
            let resnet = ModelConfig.Backbone(name: ModelConfig.Backbone.resNet152, inputSize: 224, alignCorners: false,
                                              pixelMean: 0.5, pixelStd: 0.5, localBlock: nil, localChannels: nil,
                                              globalChannels: 2048, bnEps: 1e-5)
            try SyntheticTrunk.write(resnet, seed: 18002, to: dir + "/stream_backbone.safetensors")
            var se: [String: Tensor] = ["linear.weight": weight([w.capEmbed, 2048]), "linear.bias": small(w.capEmbed, 0, 0.1)]
            se["bn.weight"] = small(w.capEmbed, 1, 0.1)
            se["bn.bias"] = small(w.capEmbed, 0, 0.1)
            se["bn.running_mean"] = small(w.capEmbed, 0, 0.1)
            se["bn.running_var"] = small(w.capEmbed, 1, 0.25)
            try SafeTensorsWriter.write(se, to: dir + "/stream_encoder.safetensors")
            try writeStreamDecoder(w, dir: dir, weight: weight, small: small)
            streamBackbone = ["name": "resnet152", "input_size": 224, "resize": "bilinear", "align_corners": false,
                              "pixel_mean": 0.5, "pixel_std": 0.5, "bn_eps": 1e-5, "global_channels": 2048]
        }
        try writeJSON(w, dir: dir, rng: &rng, backbone: [
            "name": "inception_v3", "input_size": 299, "resize": "bilinear", "align_corners": true, "pixel_mean": 0.5,
            "pixel_std": 0.5, "bn_eps": 0.001, "local_layer": "Mixed_6e", "local_block": 12, "local_channels": 768,
            "global_channels": 2048], streamBackbone: streamBackbone)
        return dir
    }

    private static func writeStreamDecoder(_ w: Widths, dir: String, weight: ([Int]) -> Tensor,
                                           small: (Int, Double, Double) -> Tensor) throws {
        try SafeTensorsWriter.write(["embed.weight": weight([w.nWords, w.capEmbed]),
                                     "lstm.weight_ih_l0": weight([4 * w.capHidden, w.capEmbed]),
                                     "lstm.weight_hh_l0": weight([4 * w.capHidden, w.capHidden]),
                                     "lstm.bias_ih_l0": small(4 * w.capHidden, 0, 0.1),
                                     "lstm.bias_hh_l0": small(4 * w.capHidden, 0, 0.1),
                                     "linear.weight": weight([w.nWords, w.capHidden]), "linear.bias": small(w.nWords, 0, 0.1)],
                                    to: dir + "/stream_decoder.safetensors")
    }

    /// vocab.json, caption_bank.json, model.json and the MANIFEST.
    private static func writeJSON(_ w: Widths, dir: String, rng: inout MirrorRNG, backbone: [String: Any],
                                  streamBackbone: [String: Any]?) throws {
        // JSON files. STREAM without an end token: greedy decoding always runs max_seq_length steps.
        let vocab = ["<end>"] + (1..<w.nWords).map { "w\($0)" }
        try JSONSerialization.data(withJSONObject: ["ixtoword": vocab], options: .sortedKeys).write(to: URL(fileURLWithPath: dir + "/vocab.json"))
        var captions = [[Int]]()
        for i in 0..<200 { captions.append((0..<(5 + i % 13)).map { 1 + Int(rng.nextUInt64() % UInt64(w.nWords - 1)) + 0 * $0 }) }
        // Sorted keys: a dictionary's order is not fixed from one write to the next, and the MANIFEST hashes the bytes
        // (the same seed must write the same files; SyntheticModelTests failed once on this in a full run).
        try JSONSerialization.data(withJSONObject: ["captions": captions, "class_ids": (0..<200).map { $0 % 50 }],
                                   options: .sortedKeys)
            .write(to: URL(fileURLWithPath: dir + "/caption_bank.json"))
        var modelJSON: [String: Any] = [
            "format_version": 1, "name": "official-birds-random", "description": "random weights, official birds widths",
            "text_encoder": ["n_words": w.nWords, "embedding_dim": w.embeddingDim, "hidden_dim": w.nef, "words_num": w.wordsNum],
            "generator": ["ngf": w.ngf, "z_dim": w.zDim, "condition_dim": w.conditionDim, "r_num": w.rNum,
                          "branch_num": 3, "base_size": 64, "glam": w.glam],
            "backbone": backbone,
            "stream": w.stream ? ["embed_size": w.capEmbed, "hidden_size": w.capHidden, "max_seq_length": 20,
                                  "end_token": false] as Any : NSNull(),
            "r_precision": ["candidates": 100, "feature": "damsm_global", "similarity": "cosine"],
            "output": ["mapping": "truncate"],
        ]
        try JSONSerialization.data(withJSONObject: modelJSON, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: dir + "/model.json"))
        if let streamBackbone { modelJSON["stream_backbone"] = streamBackbone }
        try JSONSerialization.data(withJSONObject: modelJSON, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: dir + "/model.json"))
        try ModelDirectory.writeManifest(dir)
    }
}
