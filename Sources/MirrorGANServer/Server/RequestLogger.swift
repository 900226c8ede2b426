// One JSON line per request: time, request_id, method, route, path, status, duration_ms, queue_ms, peer.
// Never logs bodies, captions, or the Authorization header.
import Foundation

final class RequestLogger: @unchecked Sendable {
    private let sink: @Sendable (String) -> Void

    init(sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
    }

    /// Writes the line with one write(2) so lines from different threads do not interleave.
    static let stderr: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n = write(STDERR_FILENO, base + offset, raw.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }

    func log(_ ctx: RequestContext, status: Int, seconds: Double) {
        let r = ctx.request
        var fields: [(String, JSONValue)] = [
            ("time", .string(RequestLogger.timestamp())),
            ("level", .string(status >= 500 ? "error" : "info")),
            ("msg", .string("request")),
            ("request_id", .string(ctx.requestID)),
            ("method", .string(String(r.method.prefix(16)))),
            ("route", .string(ctx.route)),
            ("path", .string(String(r.path.prefix(256)))),
            ("status", .int(status)),
            ("duration_ms", .double(RequestLogger.round(seconds * 1000))),
        ]
        fields.append(("queue_ms", ctx.queueSeconds.map { .double(RequestLogger.round($0 * 1000)) } ?? .null))
        fields.append(("peer", .string(r.peer)))
        sink(String(decoding: JSONWriter.object(fields), as: UTF8.self))
    }

    static func event(_ message: String, _ extra: [(String, JSONValue)] = [], level: String = "info") -> String {
        let fields: [(String, JSONValue)] = [("time", .string(timestamp())), ("level", .string(level)), ("msg", .string(message))]
        return String(decoding: JSONWriter.object(fields + extra), as: UTF8.self)
    }

    private static func round(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(ts.tv_nsec / 1_000_000))
    }
}
