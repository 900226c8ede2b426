import ArgumentParser
import Foundation
import MirrorGAN

/// `mirrorgan bench`: per-stage latency of the Swift runtime alone (docs/PERFORMANCE.md).
///
/// `--config official-birds` builds a model directory with the official birds widths (ngf 32, R_NUM 2,
/// nef 256, n_words 5450) and random weights in a temporary directory (no files needed);
/// `--config default` loads `Weights/synthbirds`. `--weights DIR` loads DIR instead (this is how
/// `make bench` hands the Swift side exactly the weights PyTorch and ONNX Runtime use).
/// The inputs are fixed: caption token ids 1…18 (T = 18, as in the MAC counts) and seed 0.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time each inference stage (median over iterations); ends with generator_ms_median=<ms>.")

    @Option(help: "official-birds (random weights at the official widths) or default (Weights/synthbirds).")
    var config: String = "official-birds"
    @Option(help: "Model directory (overrides --config's weights).") var weights: String?
    @Option(help: "Compute threads (fixed at start).") var threads: Int = 2
    @Option(help: "Timed iterations (the median is reported).") var iterations: Int = 5
    @Option(help: "Untimed warm-up iterations.") var warmup: Int = 1
    @Option(help: "Caption length in tokens (ids 1…T).") var tokens: Int = 18
    @Flag(help: "Time the generator only (skip backbone, STREAM and R-precision).") var generatorOnly = false
    @Option(help: "Only write the random official-birds model directory to this path, then exit.") var saveModel: String?
    @Option(help: "Write the last pass's images (image64, image128, image256) to this safetensors file.") var dumpImages: String?
    @Flag(help: "Per-layer A/B instead: the reference kernels (upsample → im2col conv → GLU, …) against the fused ones, at the official shapes.")
    var layers = false

    func run() throws {
        guard iterations >= 1, warmup >= 0, (1...18).contains(tokens) else {
            throw ValidationError("need iterations ≥ 1, warmup ≥ 0, tokens 1…18")
        }
        Runtime.setThreads(threads)
        if let saveModel {
            let dir = try SyntheticModel.write(.officialBirds)
            try? FileManager.default.removeItem(atPath: saveModel)
            try FileManager.default.moveItem(atPath: dir, toPath: saveModel)
            print("wrote \(saveModel)")
            return
        }
        if layers { return try LayerBench.run(iterations: iterations, warmup: warmup) }
        var temp: String?
        let dir: String
        if let weights {
            dir = weights
        } else if config == "official-birds" {
            let t0 = Date()
            dir = try SyntheticModel.write(.officialBirds)
            temp = dir
            FileHandle.standardError.write("wrote random official-birds model to \(dir) in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s\n".data(using: .utf8)!)
        } else if config == "default" {
            dir = "Weights/synthbirds"
        } else {
            throw ValidationError("--config must be official-birds or default, got \(config)")
        }
        defer { if let temp { try? FileManager.default.removeItem(atPath: temp) } }
        let model: MirrorGANModel
        do { model = try MirrorGANModel(directory: dir) } catch let e as ModelLoadError {
            throw ValidationError("cannot load model \(dir): \(e)")
        }
        if !generatorOnly { try model.warmBankSentences() }  // steady state: `serve` warms them after start-up
        let c = model.config
        let n = c.textEncoder.nWords
        let ids = (0..<tokens).map { 1 + $0 % (n - 1) }
        let seed: UInt64 = 0
        let noise = MirrorRNG.noise(imageSeed: seed, zDim: c.generator.zDim, conditionDim: c.generator.conditionDim)
        let z = try Tensor(shape: [1, c.generator.zDim], data: noise.z)
        let eps = try Tensor(shape: [1, c.generator.conditionDim], data: noise.epsilon)

        var samples: [String: [Double]] = [:]
        let order = ["text_encoder", "generator_stage1", "generator_stage2", "generator_stage3", "generator",
                     "png_encode", "backbone", "stream_decoding", "r_precision", "request"]
        // Slots in `order` (a request's own bookkeeping must not allocate, or it would count as the model's).
        let slot = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        func at(_ k: String) -> Int { slot[k] ?? 0 }
        let stageSlots = [at("generator_stage1"), at("generator_stage2"), at("generator_stage3")]
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        func ms(_ a: UInt64, _ b: UInt64) -> Double { Double(b - a) / 1e6 }
        var checksum: Double = 0
        var lastImages: [Tensor] = []
        let allocationCount = AllocationCounter.load()
        let tracer = AllocationCounter.tracer()
        var allocations: [UInt64] = []
        var stageAllocations: [String: [UInt64]] = [:]
        var times = [Double](repeating: .nan, count: order.count)
        var allocs = [UInt64?](repeating: nil, count: order.count)
        var generatorCPU = 0.0
        for it in 0..<(warmup + iterations) {
            for i in times.indices { times[i] = .nan; allocs[i] = nil }
            let allocs0 = allocationCount?() ?? 0
            var allocsMark = allocs0
            // Heap allocations since the previous stage ended (with the LD_PRELOAD counter only).
            func countAllocations(_ stage: Int) {
                guard let allocationCount else { return }
                let c = allocationCount()
                allocs[stage] = c - allocsMark
                allocsMark = c
            }
            let trace = it == warmup + iterations - 1 ? tracer : nil
            trace?(true)
            let tReq = now()
            var t = now()
            let (words, sentence) = try model.textEncoder.encode([ids])
            times[at("text_encoder")] = ms(t, now())
            countAllocations(at("text_encoder"))
            let tGen = now()
            let cpuGen = Self.cpuNanoseconds()
            t = tGen
            let out = try model.generator.forward(z: z, sentence: sentence, words: words, lengths: [ids.count],
                                                  epsilon: eps) { stage in
                let e = now()
                if stage < stageSlots.count {
                    times[stageSlots[stage]] = ms(t, e)
                    countAllocations(stageSlots[stage])
                }
                t = e
            }
            times[at("generator")] = ms(tGen, now())
            generatorCPU = ms(cpuGen, Self.cpuNanoseconds())
            guard let image = out.images.last else { throw ValidationError("the generator produced no image") }
            if !generatorOnly {
                t = now()
                _ = try PNG.encode(image.reshaped(image.shape.droppingFirst()))
                times[at("png_encode")] = ms(t, now())
                countAllocations(at("png_encode"))
                t = now()
                let (_, global) = try model.backbone(image)
                times[at("backbone")] = ms(t, now())
                countAllocations(at("backbone"))
                t = now()
                _ = try model.captionDecoder.greedy(model.captionEncoder(global))
                times[at("stream_decoding")] = ms(t, now())
                countAllocations(at("stream_decoding"))
                t = now()
                _ = try model.rPrecision(imageCode: model.imageEncoder.code(global), sentence: sentence, query: ids,
                                         imageSeed: seed)
                times[at("r_precision")] = ms(t, now())
                countAllocations(at("r_precision"))
            }
            times[at("request")] = ms(tReq, now())
            let requestAllocations = (allocationCount?() ?? 0) - allocs0
            trace?(false)
            checksum = image.data.reduce(0) { $0 + Double($1) }
            lastImages = out.images
            if it >= warmup {
                for (i, k) in order.enumerated() where !times[i].isNaN { samples[k, default: []].append(times[i]) }
                samples["generator_cpu", default: []].append(generatorCPU)
                if allocationCount != nil { allocations.append(requestAllocations) }
                for (i, k) in order.enumerated() { if let v = allocs[i] { stageAllocations[k, default: []].append(v) } }
            }
        }

        func median(_ v: [Double]) -> Double {
            let s = v.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        print("mirrorgan bench: config=\(weights == nil ? config : "weights") model=\(dir) threads=\(threads) "
              + "iterations=\(iterations) warmup=\(warmup) tokens=\(tokens)")
        print("generator: ngf \(c.generator.ngf), R_NUM \(c.generator.rNum), nef \(c.textEncoder.hiddenDim), n_words \(n)")
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        print(pad("stage", 18) + ["median_ms", "min_ms", "max_ms"].map { lpad($0, 10) }.joined())
        for k in order {
            guard let v = samples[k] else { continue }
            print(pad(k, 18) + [median(v), v.min()!, v.max()!].map { lpad(String(format: "%.2f", $0), 10) }.joined())
        }
        if let cpu = samples["generator_cpu"] {
            print("generator process CPU time per pass (all threads): median \(String(format: "%.1f", median(cpu))) ms, "
                  + "min \(String(format: "%.1f", cpu.min()!)) ms")
        }
        for k in order {
            if let v = samples[k] { print("\(k)_ms_median=\(String(format: "%.3f", median(v)))") }
        }
        if let median = allocations.sorted().dropFirst(allocations.count / 2).first {
            print("heap allocations per \(generatorOnly ? "generator pass" : "request") in steady state (LD_PRELOAD counter): "
                  + "median \(median), min \(allocations.min() ?? 0), max \(allocations.max() ?? 0)")
            print("allocations_per_request=\(median)")
            let perStage = order.compactMap { k in
                stageAllocations[k].flatMap { $0.sorted().dropFirst($0.count / 2).first }.map { "\(k) \($0)" }
            }
            print("heap allocations per stage (median): " + perStage.joined(separator: ", "))
        }
        if !generatorOnly, let allocationCount {
            // The whole request as the server runs it (`MirrorGANModel.generate`: tokenizer, noise, the
            // passes above, PNG, redescription text, timings), in steady state.
            let caption = ids.map { model.vocabulary[$0] }.joined(separator: " ")
            var counts: [UInt64] = []
            for i in 0..<3 {
                let trace = i == 2 ? tracer : nil
                trace?(true)
                let before = allocationCount()
                _ = try model.generate(caption: caption, options: GenerationOptions(seed: seed))
                counts.append(allocationCount() - before)
                trace?(false)
            }
            print("heap allocations per MirrorGANModel.generate request (steady state): \(counts.last ?? 0)")
            print("generate_allocations_per_request=\(counts.last ?? 0)")
        }
        if !generatorOnly { try KernelRates.run(iterations: max(3, iterations)) }
        if let dumpImages {
            var named: [String: Tensor] = [:]
            for img in lastImages { named["image\(img.shape[2])"] = img }
            try SafeTensorsWriter.write(named, to: dumpImages)
        }
        print("output_checksum=\(String(format: "%.6f", checksum))")
        if let rss = Self.peakRSSKiB() { print("peak_rss_mib=\(String(format: "%.1f", Double(rss) / 1024))") }
        print("tensor_arena_mib=\(String(format: "%.1f", Double(Runtime.tensorArenaBytes()) / 1_048_576))")
        print("generator_ms_median=\(String(format: "%.3f", median(samples["generator"]!)))")
    }

    /// CPU time of the whole process (all threads), ns: robust to other load on the machine, unlike wall time.
    static func cpuNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// VmHWM of this process (peak resident set), in KiB.
    static func peakRSSKiB() -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }
}

/// A complete model directory (docs/MODEL_FORMAT.md) with random weights at given widths, written to a
/// temporary directory: every tensor the architecture names, with its exact shape.
enum SyntheticModel {
    struct Widths {
        var nWords = 5450, embeddingDim = 300, nef = 256, ngf = 32, zDim = 100, conditionDim = 100, rNum = 2
        var capEmbed = 256, capHidden = 512
        static let officialBirds = Widths()
    }

    static func write(_ w: Widths, seed: UInt64 = 1234) throws -> String {
        let dir = NSTemporaryDirectory() + "mirrorgan-bench-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var rng = MirrorRNG(seed: seed)
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
            g[p + "att.conv_sentence_vis.weight"] = weight([w.ngf, w.ngf, 1, 1])
            g[p + "att.linear.weight"] = weight([w.ngf, w.conditionDim])
            g[p + "att.linear.bias"] = small(w.ngf, 0, 0.1)
            for r in 0..<w.rNum {
                let q = p + "residual.\(r).block."
                g[q + "0.weight"] = weight([4 * w.ngf, 2 * w.ngf, 3, 3])
                bn(&g, q + "1", 4 * w.ngf)
                g[q + "3.weight"] = weight([2 * w.ngf, 2 * w.ngf, 3, 3])
                bn(&g, q + "4", 2 * w.ngf)
            }
            g[p + "upsample.1.weight"] = weight([2 * w.ngf, 2 * w.ngf, 3, 3])
            bn(&g, p + "upsample.2", 2 * w.ngf)
            g[p + "conv.weight"] = weight([2 * w.ngf, 3 * w.ngf, 1, 1])
        }
        try save(g, "generator.safetensors")

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

        // JSON files. STREAM without an end token: greedy decoding always runs max_seq_length steps.
        let vocab = ["<end>"] + (1..<w.nWords).map { "w\($0)" }
        try JSONSerialization.data(withJSONObject: ["ixtoword": vocab]).write(to: URL(fileURLWithPath: dir + "/vocab.json"))
        var captions = [[Int]]()
        for i in 0..<200 { captions.append((0..<(5 + i % 13)).map { 1 + Int(rng.nextUInt64() % UInt64(w.nWords - 1)) + 0 * $0 }) }
        try JSONSerialization.data(withJSONObject: ["captions": captions, "class_ids": (0..<200).map { $0 % 50 }])
            .write(to: URL(fileURLWithPath: dir + "/caption_bank.json"))
        let modelJSON: [String: Any] = [
            "format_version": 1, "name": "official-birds-random", "description": "random weights, official birds widths",
            "text_encoder": ["n_words": w.nWords, "embedding_dim": w.embeddingDim, "hidden_dim": w.nef, "words_num": 18],
            "generator": ["ngf": w.ngf, "z_dim": w.zDim, "condition_dim": w.conditionDim, "r_num": w.rNum,
                          "branch_num": 3, "base_size": 64, "glam": true],
            "backbone": ["name": "efficientnet-lite0", "input_size": 224, "resize": "bilinear", "align_corners": false,
                         "pixel_mean": 0.498, "pixel_std": 0.502, "local_block": 10, "local_channels": 112,
                         "global_channels": 1280],
            "stream": ["embed_size": w.capEmbed, "hidden_size": w.capHidden, "max_seq_length": 20, "end_token": false],
            "r_precision": ["candidates": 100, "feature": "damsm_global", "similarity": "cosine"],
            "output": ["mapping": "truncate"],
        ]
        try JSONSerialization.data(withJSONObject: modelJSON, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: dir + "/model.json"))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "MANIFEST" }.sorted()
        let lines = try files.map { "\(try ModelDirectory.sha256(path: dir + "/" + $0))  \($0)" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/MANIFEST", atomically: true, encoding: .utf8)
        return dir
    }
}

/// `mirrorgan bench --layers`: each fused generator layer against the unfused reference composition it
/// replaces (the kernels the runtime used before), on the official birds shapes, random data.
enum LayerBench {
    static func run(iterations: Int, warmup: Int) throws {
        var rng = MirrorRNG(seed: 7)
        func random(_ shape: [Int], _ scale: Float = 1) -> Tensor {
            let n = shape.reduce(1, *)
            return try! Tensor(shape: shape, data: (0..<n).map { _ in Float(rng.uniform() * 2 - 1) * scale })
        }
        func time(_ body: () throws -> Tensor) rethrows -> (ms: Double, cpu: Double, out: Tensor) {
            var wall = [Double](), cpu = [Double]()
            var out = Tensor(shape: [0])
            for it in 0..<(warmup + iterations) {
                let t0 = DispatchTime.now().uptimeNanoseconds, c0 = Bench.cpuNanoseconds()
                out = try body()
                let t1 = DispatchTime.now().uptimeNanoseconds, c1 = Bench.cpuNanoseconds()
                if it >= warmup { wall.append(Double(t1 - t0) / 1e6); cpu.append(Double(c1 - c0) / 1e6) }
            }
            return (wall.sorted()[wall.count / 2], cpu.sorted()[cpu.count / 2], out)
        }
        print("layer                                  ref ms  fused ms   ref cpu fused cpu  speed-up  GMAC ref→fused  max|diff|")
        func report(_ name: String, _ macRef: Double, _ macFused: Double, _ ref: () throws -> Tensor, _ fused: () throws -> Tensor) throws {
            let r = try time(ref), f = try time(fused)
            var diff: Float = 0
            for (a, b) in zip(r.out.data, f.out.data) { diff = max(diff, abs(a - b)) }
            let pad = { (s: String, n: Int) in s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
            print(pad(name, 36) + String(format: "%9.2f %9.2f %9.2f %9.2f %8.2fx   %5.3f → %5.3f  %.1e",
                                          r.ms, f.ms, r.cpu, f.cpu, r.cpu / f.cpu, macRef / 1e9, macFused / 1e9, diff))
        }
        let shapesUp: [(String, Int, Int, Int)] = [("h_net1.upsample1 512→512 @4²→8²", 512, 512, 4),
                                                    ("h_net1.upsample4 64→64 @32²→64²", 64, 64, 32),
                                                    ("h_net2.upsample 64→64 @64²→128²", 64, 64, 64),
                                                    ("h_net3.upsample 64→64 @128²→256²", 64, 64, 128)]
        for (name, c, o, h) in shapesUp {
            let x = random([1, c, h, h]), w = random([o, c, 3, 3], 0.05), b = random([o], 0.1)
            let fused = try UpsampleConv3x3(weight: w, bias: b)
            let mac = Double(o * c * 9 * 4 * h * h)
            let ref = { try glu(conv2d(upsampleNearest2x(x), weight: w, bias: b, padding: Padding2D(1))) }
            try report(name + " phases", mac, mac * 4 / 9, ref, { try fused(x, glu: true) })
            if c * o <= 128 * 128 {  // the Winograd variant's kernel transform is 16× the weights
                let wino = try Winograd4x3(upsampling: w, bias: b)
                try report(name + " F(4,3)", mac, mac / 4, ref, { try wino(x, epilogue: .glu) })
            }
        }
        for (stage, h) in [("h_net2", 64), ("h_net3", 128)] {
            let x = random([1, 64, h, h])
            let w1 = random([128, 64, 3, 3], 0.05), b1 = random([128], 0.1)
            let w2 = random([64, 64, 3, 3], 0.05), b2 = random([64], 0.1)
            let m1 = Double(128 * 64 * 9 * h * h), m2 = Double(64 * 64 * 9 * h * h)
            // F(2×2, 3×3) (what the residual blocks used before) and F(4×4, 3×3) (what they use now).
            let f1 = try Winograd3x3(weight: w1, bias: b1), f2 = try Winograd3x3(weight: w2, bias: b2)
            let g1 = try Winograd4x3(weight: w1, bias: b1), g2 = try Winograd4x3(weight: w2, bias: b2)
            let ref1 = { try glu(conv2d(x, weight: w1, bias: b1, padding: Padding2D(1))) }
            let ref2 = { try add(conv2d(x, weight: w2, bias: b2, padding: Padding2D(1)), x) }
            try report("\(stage).res conv1+GLU F(2,3) @\(h)²", m1, m1 * 4 / 9, ref1, { try f1(x, epilogue: .glu) })
            try report("\(stage).res conv1+GLU F(4,3) @\(h)²", m1, m1 / 4, ref1, { try g1(x, epilogue: .glu) })
            try report("\(stage).res conv2+add F(2,3) @\(h)²", m2, m2 * 4 / 9, ref2, { try f2(x, epilogue: .residual(x)) })
            try report("\(stage).res conv2+add F(4,3) @\(h)²", m2, m2 / 4, ref2, { try g2(x, epilogue: .residual(x)) })
        }
        let xh = random([1, 32, 256, 256]), wh = random([3, 32, 3, 3], 0.1)
        let head = try Winograd3x3(weight: wh, bias: nil)
        let mh = Double(3 * 32 * 9 * 256 * 256)
        try report("img_net3 conv 32→3 + tanh @256²", mh, mh * 4 / 9,
                   { MirrorGAN.tanh(try conv2d(xh, weight: wh, padding: Padding2D(1))) }, { try head(xh, epilogue: .tanh) })
    }
}


/// The rate of the generator's 3×3 convolutions against the large-square SGEMM rate, same process and
/// threads (issue #7's measure): every 3×3 convolution of the official birds generator, run at its shape by
/// the kernel the generator dispatches to (upBlocks with in·out ≤ 64·64 at ≥ 32²: F(4×4, 3×3) on the phases;
/// other upBlocks: 2×2 phase convolutions; residual blocks: F(4×4, 3×3); image heads: F(2×2, 3×3)), counted
/// in direct-convolution multiply-adds (O·C·9 per output pixel) per second. SGEMM: 1024³ through the same
/// `sgemm` the kernels use.
enum KernelRates {
    static func run(iterations: Int) throws {
        var rng = MirrorRNG(seed: 11)
        func random(_ shape: [Int], _ scale: Float = 1) -> Tensor {
            let n = shape.reduce(1, *)
            return try! Tensor(shape: shape, data: (0..<n).map { _ in Float(rng.uniform() * 2 - 1) * scale })
        }
        func best(_ body: () throws -> Void) rethrows -> Double {
            try body()
            var t = Double.infinity
            for _ in 0..<iterations {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try body()
                t = min(t, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            return t
        }
        let nSq = 1024
        let a = random([nSq, nSq]), b = random([nSq, nSq])
        let sgemmSeconds = try best { _ = try matmul(a, b) }
        let sgemmRate = Double(nSq * nSq * nSq) / sgemmSeconds / 1e9

        var macs = 0.0, seconds = 0.0
        // upBlocks: (in, conv out = 2·out, low-res size)
        for (c, o, h) in [(512, 512, 4), (256, 256, 8), (128, 128, 16), (64, 64, 32), (64, 64, 64), (64, 64, 128)] {
            let x = random([1, c, h, h]), w = random([o, c, 3, 3], 0.05), bias = random([o], 0.1)
            if c * (o / 2) <= 64 * 64 && h >= 32 {
                let k = try Winograd4x3(upsampling: w, bias: bias)
                seconds += try best { _ = try k(x, epilogue: .glu) }
            } else {
                let k = try UpsampleConv3x3(weight: w, bias: bias)
                seconds += try best { _ = try k(x, glu: true) }
            }
            macs += Double(o * c * 9 * 4 * h * h)
        }
        // residual blocks: two per stage, conv1 64 → 128 + GLU, conv2 64 → 64 + residual
        for h in [64, 128] {
            let x = random([1, 64, h, h])
            let k1 = try Winograd4x3(weight: random([128, 64, 3, 3], 0.05), bias: random([128], 0.1))
            let k2 = try Winograd4x3(weight: random([64, 64, 3, 3], 0.05), bias: random([64], 0.1))
            seconds += 2 * (try best { _ = try k1(x, epilogue: .glu) })
            seconds += 2 * (try best { _ = try k2(x, epilogue: .residual(x)) })
            macs += 2 * Double((128 + 64) * 64 * 9 * h * h)
        }
        // image heads 32 → 3 + tanh
        for h in [64, 128, 256] {
            let x = random([1, 32, h, h])
            let k = try Winograd3x3(weight: random([3, 32, 3, 3], 0.1), bias: nil)
            seconds += try best { _ = try k(x, epilogue: .tanh) }
            macs += Double(3 * 32 * 9 * h * h)
        }
        let convRate = macs / seconds / 1e9
        print(String(format: "kernel rates: SGEMM 1024³ %.1f GMAC/s; generator 3×3 convolutions %.2f direct GMAC in %.1f ms = %.1f GMAC/s (%.0f%% of SGEMM)",
                     sgemmRate, macs / 1e9, seconds * 1e3, convRate, 100 * convRate / sgemmRate))
        print(String(format: "sgemm_gmacs=%.2f", sgemmRate))
        print(String(format: "conv3x3_gmacs=%.2f", convRate))
    }
}


/// The allocation counter of `bench/alloccount.c`, when the process runs with it preloaded
/// (`LD_PRELOAD=.build/alloccount.so`, as `make bench` does); nil otherwise.
enum AllocationCounter {
    /// Turns the counter's call-stack tracing on or off (`MIRRORGAN_ALLOC_TRACE=1`; see bench/alloccount.c).
    /// The switch, when the counter is preloaded and tracing was asked for; looked up before the loop so
    /// that the lookup's own allocations are not traced.
    static func tracer() -> ((Bool) -> Void)? {
        guard ProcessInfo.processInfo.environment["MIRRORGAN_ALLOC_TRACE"] == "1",
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mirrorgan_alloc_trace") else { return nil }
        let function = unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Void).self)
        return { function($0 ? 1 : 0) }
    }

    static func load() -> (() -> UInt64)? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mirrorgan_alloc_count") else { return nil }
        let function = unsafeBitCast(symbol, to: (@convention(c) () -> UInt).self)
        return { UInt64(function()) }
    }
}
