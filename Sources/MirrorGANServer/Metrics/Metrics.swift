// Prometheus metrics (text exposition format 0.0.4). Counters and histograms live here; gauges are sampled
// when /metrics is rendered. Names follow docs/SERVER.md; label values are bounded (routes are templates).
import Foundation

final class Metrics: @unchecked Sendable {
    /// Seconds; from a fast route up to a deadline-length wait.
    static let latencyBuckets: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

    enum Kind: String { case counter, gauge, histogram }

    struct Family {
        let name: String
        let kind: Kind
        let help: String
    }

    /// Every family, in the order they are rendered.
    static let families: [Family] = [
        Family(name: "mirrorgan_http_requests_total", kind: .counter, help: "HTTP requests answered, by route and status code."),
        Family(name: "mirrorgan_http_request_duration_seconds", kind: .histogram, help: "Time from request arrival to response, by route."),
        Family(name: "mirrorgan_inflight_requests", kind: .gauge, help: "HTTP requests being handled now (queued and running included)."),
        Family(name: "mirrorgan_http_connections", kind: .gauge, help: "Open HTTP connections."),
        Family(name: "mirrorgan_queue_depth", kind: .gauge, help: "Inference requests waiting for a worker."),
        Family(name: "mirrorgan_queue_capacity", kind: .gauge, help: "Inference requests that may wait for a worker."),
        Family(name: "mirrorgan_queue_wait_seconds", kind: .histogram, help: "Time inference requests waited for a worker."),
        Family(name: "mirrorgan_inference_seconds", kind: .histogram, help: "Engine time per pipeline stage."),
        Family(name: "mirrorgan_rejected_total", kind: .counter, help: "Requests refused before inference, by reason."),
        Family(name: "mirrorgan_images_generated_total", kind: .counter, help: "Images generated."),
        Family(name: "mirrorgan_rprecision_hits_total", kind: .counter, help: "Generated images whose caption ranked first (R-precision hit)."),
        Family(name: "mirrorgan_rprecision_trials_total", kind: .counter, help: "Generated images scored for R-precision."),
        Family(name: "mirrorgan_model_ready", kind: .gauge, help: "1 when the model is loaded and the server is not draining."),
        Family(name: "mirrorgan_model_warm", kind: .gauge, help: "1 once the model's background warm-up (the R-precision caption bank) has finished."),
        Family(name: "mirrorgan_model_info", kind: .gauge, help: "The loaded model (always 1)."),
        Family(name: "mirrorgan_model_parameters", kind: .gauge, help: "Parameters of the loaded model."),
        Family(name: "mirrorgan_build_info", kind: .gauge, help: "Build of the server (always 1)."),
        Family(name: "process_resident_memory_bytes", kind: .gauge, help: "Resident memory size in bytes."),
        Family(name: "process_start_time_seconds", kind: .gauge, help: "Start time of the process since the Unix epoch in seconds."),
    ]

    /// Reasons of mirrorgan_rejected_total, pre-created at 0 so dashboards see them before the first event.
    static let rejectReasons = ["queue_full", "too_large", "timeout", "auth"]

    struct Sample {
        var labels: [(String, String)]
        var value: Double
    }

    private struct Histogram {
        var buckets: [UInt64]
        var sum: Double = 0
        var count: UInt64 = 0
    }

    private let lock = NSLock()
    private var counters: [String: [String: Double]] = [:]          // family -> rendered labels -> value
    private var histograms: [String: [String: Histogram]] = [:]
    private let startTime = Date().timeIntervalSince1970

    init() {
        for reason in Metrics.rejectReasons { increment("mirrorgan_rejected_total", [("reason", reason)], by: 0) }
        increment("mirrorgan_rprecision_hits_total", by: 0)
        increment("mirrorgan_rprecision_trials_total", by: 0)
        increment("mirrorgan_images_generated_total", by: 0)
    }

    func increment(_ family: String, _ labels: [(String, String)] = [], by amount: Double = 1) {
        let key = Metrics.render(labels: labels)
        lock.lock()
        counters[family, default: [:]][key, default: 0] += amount
        lock.unlock()
    }

    func observe(_ family: String, _ labels: [(String, String)] = [], _ value: Double) {
        guard value.isFinite else { return }
        let key = Metrics.render(labels: labels)
        let bucket = Metrics.latencyBuckets.firstIndex(where: { value <= $0 }) ?? Metrics.latencyBuckets.count
        lock.lock()
        var h = histograms[family]?[key] ?? Histogram(buckets: Array(repeating: 0, count: Metrics.latencyBuckets.count + 1))
        h.buckets[bucket] += 1
        h.sum += value
        h.count += 1
        histograms[family, default: [:]][key] = h
        lock.unlock()
    }

    /// Current value of a counter series (for tests).
    func counter(_ family: String, _ labels: [(String, String)] = []) -> Double {
        lock.lock()
        defer { lock.unlock() }
        return counters[family]?[Metrics.render(labels: labels)] ?? 0
    }

    /// The exposition text; `gauges` are sampled by the caller at render time.
    func render(gauges: [String: [Sample]]) -> String {
        lock.lock()
        let counters = self.counters
        let histograms = self.histograms
        lock.unlock()
        var gauges = gauges
        gauges["process_resident_memory_bytes"] = ProcessStats.residentMemoryBytes().map { [Sample(labels: [], value: Double($0))] }
        gauges["process_start_time_seconds"] = [Sample(labels: [], value: startTime)]

        var out = ""
        for family in Metrics.families {
            switch family.kind {
            case .counter:
                guard let series = counters[family.name] else { continue }
                header(&out, family)
                for (labels, v) in series.sorted(by: { $0.key < $1.key }) {
                    out += "\(family.name)\(labels) \(Metrics.format(v))\n"
                }
            case .gauge:
                guard let samples = gauges[family.name], !samples.isEmpty else { continue }
                header(&out, family)
                for s in samples { out += "\(family.name)\(Metrics.render(labels: s.labels)) \(Metrics.format(s.value))\n" }
            case .histogram:
                header(&out, family)
                guard let series = histograms[family.name] else { continue }
                for (labels, h) in series.sorted(by: { $0.key < $1.key }) {
                    var cumulative: UInt64 = 0
                    for (i, le) in Metrics.latencyBuckets.enumerated() {
                        cumulative += h.buckets[i]
                        out += "\(family.name)_bucket\(Metrics.merge(labels, "le", Metrics.format(le))) \(cumulative)\n"
                    }
                    out += "\(family.name)_bucket\(Metrics.merge(labels, "le", "+Inf")) \(h.count)\n"
                    out += "\(family.name)_sum\(labels) \(Metrics.format(h.sum))\n"
                    out += "\(family.name)_count\(labels) \(h.count)\n"
                }
            }
        }
        return out
    }

    private func header(_ out: inout String, _ f: Family) {
        out += "# HELP \(f.name) \(f.help)\n# TYPE \(f.name) \(f.kind.rawValue)\n"
    }

    static func render(labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    /// Adds one label to an already rendered label set.
    private static func merge(_ rendered: String, _ name: String, _ value: String) -> String {
        let extra = "\(name)=\"\(value)\""
        return rendered.isEmpty ? "{\(extra)}" : String(rendered.dropLast()) + ",\(extra)}"
    }

    static func escape(_ s: String) -> String {
        var r = ""
        for c in s {
            switch c {
            case "\\": r += "\\\\"
            case "\"": r += "\\\""
            case "\n": r += "\\n"
            default: r.append(c)
            }
        }
        return r
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}
