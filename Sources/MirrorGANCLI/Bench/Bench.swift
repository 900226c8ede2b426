import ArgumentParser
import Foundation
import MirrorGAN

/// `mirrorgan bench`: per-stage latency of the Swift runtime alone (docs/PERFORMANCE.md).
///
/// `--config official-birds` builds a model directory with the official birds widths (ngf 32, R_NUM 2,
/// nef 256, n_words 5450) and random weights in a temporary directory (no files needed);
/// `--config converted-birds` / `converted-coco` build the layout `make convert` writes (Inception-v3 DAMSM trunk;
/// birds: MirrorGAN GLAM at the official birds widths with STREAM on ResNet-152; COCO: the AttnGAN COCO release's
/// widths, ngf 48, R_NUM 3, 27,297 words, without STREAM), random weights;
/// `--config default` loads `Weights/synthbirds`. `--weights DIR` loads DIR instead (this is how
/// `make bench` hands the Swift side exactly the weights PyTorch and ONNX Runtime use).
/// The inputs are fixed: caption token ids 1…18 (T = 18, as in the MAC counts) and seed 0.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time each inference stage (median over iterations); ends with generator_ms_median=<ms>.")

    @Option(help: "official-birds (random weights at the official widths), converted-birds, converted-coco (the converter's layout: Inception-v3 / ResNet-152 trunks) or default (Weights/synthbirds).")
    var config: String = "official-birds"
    @Option(help: "Model directory (overrides --config's weights).") var weights: String?
    @Option(help: "Compute threads (fixed at start).") var threads: Int = 2
    @Option(help: "Timed iterations (the median is reported).") var iterations: Int = 5
    @Option(help: "Untimed warm-up iterations.") var warmup: Int = 1
    @Option(help: "Caption length in tokens (ids 1…T).") var tokens: Int = 18
    @Flag(help: "Time the generator only (skip backbone, STREAM and R-precision).") var generatorOnly = false
    @Option(help: "Only write the random --config model directory to this path, then exit.") var saveModel: String?
    @Option(help: "Write the last pass's images (image64, image128, image256) to this safetensors file.") var dumpImages: String?
    @Flag(help: "Per-layer A/B instead: the reference kernels (upsample → im2col conv → GLU, …) against the fused ones, at the official shapes.")
    var layers = false

    /// The random-weight configurations `--config` names.
    static let synthetic: [String: SyntheticModel.Widths] = [
        "official-birds": .officialBirds, "converted-birds": .convertedBirds, "converted-coco": .convertedCOCO]

    func run() throws {
        guard iterations >= 1, warmup >= 0, (1...18).contains(tokens) else {
            throw ValidationError("need iterations ≥ 1, warmup ≥ 0, tokens 1…18")
        }
        Runtime.setThreads(threads)
        if let saveModel {
            guard let widths = Self.synthetic[config] else { throw ValidationError("--save-model needs a random-weight --config") }
            let dir = try SyntheticModel.write(widths)
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
        } else if let widths = Self.synthetic[config] {
            let t0 = Date()
            dir = try SyntheticModel.write(widths)
            temp = dir
            FileHandle.standardError.write("wrote random \(config) model to \(dir) in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s\n".data(using: .utf8)!)
        } else if config == "default" {
            dir = "Weights/synthbirds"
        } else {
            throw ValidationError("--config must be official-birds, converted-birds, converted-coco or default, got \(config)")
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
        // The request path's options for this image (serving's defaults: greedy redescription, bank candidates).
        let passOptions = GenerationOptions(seed: seed)
        let generatorStages = c.generator.branchNum

        var samples: [String: [Double]] = [:]
        let order = ["text_encoder", "generator_stage1", "generator_stage2", "generator_stage3", "generator",
                     "png_encode", "backbone", "stream_decoding", "r_precision", "request"]
        // Slots in `order` (a request's own bookkeeping must not allocate, or it would count as the model's).
        let slot = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        func at(_ k: String) -> Int { slot[k] ?? 0 }
        let stageSlots = [at("generator_stage1"), at("generator_stage2"), at("generator_stage3")]
        func ms(_ a: UInt64, _ b: UInt64) -> Double { Double(b - a) / 1e6 }
        var checksum: Double = 0
        var lastImages: [Tensor] = []
        let allocationCount = AllocationCounter.load()
        let tracer = AllocationCounter.tracer()
        var allocations: [UInt64] = []
        var stageAllocations: [String: [UInt64]] = [:]
        // Per-stage times and allocations, reset in place each iteration (no allocation of its own).
        var timer = StageTimer(slots: order.count, allocationCount: allocationCount)
        var generatorCPU = 0.0
        let generatorSlot = at("generator")
        for it in 0..<(warmup + iterations) {
            let trace = it == warmup + iterations - 1 ? tracer : nil
            trace?(true)
            timer.begin()
            let (words, sentence) = try model.textEncoder.encode([ids])
            timer.ended(at("text_encoder"))
            let cpuGen = Self.cpuNanoseconds()
            let genStart = timer.lastEnd
            let images: [Tensor]
            if generatorOnly {
                let noise = MirrorRNG.noiseTensors(imageSeed: seed, zDim: c.generator.zDim, conditionDim: c.generator.conditionDim)
                images = try model.generator.forward(z: noise.z, sentence: sentence, words: words, lengths: [ids.count],
                                                     epsilon: noise.epsilon) { k in
                    if k < stageSlots.count { timer.ended(stageSlots[k]) }
                    if k + 1 == generatorStages {
                        timer.record(generatorSlot, since: genStart)
                        generatorCPU = ms(cpuGen, Self.cpuNanoseconds())
                    }
                }.images
            } else {
                // The request path itself: what `generate` runs for each image, reported stage by stage.
                let pass = try model.imagePass(words: words, sentence: sentence, ids: ids, imageSeed: seed,
                                               options: passOptions) { stage in
                    switch stage {
                    case let .generatorStage(k):
                        if k - 1 < stageSlots.count { timer.ended(stageSlots[k - 1]) }
                        if k == generatorStages {
                            timer.record(generatorSlot, since: genStart)
                            generatorCPU = ms(cpuGen, Self.cpuNanoseconds())
                        }
                    case .encode: timer.ended(at("png_encode"))
                    case .backbone: timer.ended(at("backbone"))
                    case .captioner: timer.ended(at("stream_decoding"))
                    case .rprecision: timer.ended(at("r_precision"))
                    }
                }
                images = pass.generated.images
            }
            guard let image = images.last else { throw ValidationError("the generator produced no image") }
            timer.record(at("request"), since: timer.start)
            let requestAllocations = (allocationCount?() ?? 0) - timer.allocationsAtStart
            trace?(false)
            checksum = image.data.reduce(0) { $0 + Double($1) }
            lastImages = images
            if it >= warmup {
                for (i, k) in order.enumerated() where !timer.times[i].isNaN { samples[k, default: []].append(timer.times[i]) }
                samples["generator_cpu", default: []].append(generatorCPU)
                if allocationCount != nil { allocations.append(requestAllocations) }
                for (i, k) in order.enumerated() {
                    if let v = timer.allocations[i] { stageAllocations[k, default: []].append(v) }
                }
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

/// The bench's stage clock: each stage's wall time since the previous stage ended and, with the LD_PRELOAD counter,
/// its heap allocations. A value kept across iterations and reset in place, and mutated only from non-escaping
/// closures, so that the bookkeeping itself never allocates (it would count as the request's).
private struct StageTimer {
    private(set) var times: [Double]
    private(set) var allocations: [UInt64?]
    private let allocationCount: (() -> UInt64)?
    private(set) var start: UInt64 = 0
    private(set) var lastEnd: UInt64 = 0
    private(set) var allocationsAtStart: UInt64 = 0
    private var allocationMark: UInt64 = 0

    init(slots: Int, allocationCount: (() -> UInt64)?) {
        times = [Double](repeating: .nan, count: slots)
        allocations = [UInt64?](repeating: nil, count: slots)
        self.allocationCount = allocationCount
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// A new request: every slot cleared, the clock and the allocation count taken.
    mutating func begin() {
        for i in times.indices {
            times[i] = .nan
            allocations[i] = nil
        }
        allocationsAtStart = allocationCount?() ?? 0
        allocationMark = allocationsAtStart
        start = Self.now()
        lastEnd = start
    }

    /// The stage in `slot` ended now: its time since the previous end, and the allocations since then.
    mutating func ended(_ slot: Int) {
        let e = Self.now()
        times[slot] = Double(e - lastEnd) / 1e6
        lastEnd = e
        if let allocationCount {
            let c = allocationCount()
            allocations[slot] = c - allocationMark
            allocationMark = c
        }
    }

    /// A span that is not a stage of its own (the generator's three stages together, the whole request).
    mutating func record(_ slot: Int, since t0: UInt64) { times[slot] = Double(Self.now() - t0) / 1e6 }
}
