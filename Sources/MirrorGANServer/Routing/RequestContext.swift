// Per-request bookkeeping carried from arrival to the response: id, route, queue wait and stage timings.
import Dispatch

final class RequestContext: @unchecked Sendable {
    let request: HTTPRequest
    let requestID: String
    /// Route template used as the metrics label ("unmatched" for 404s).
    var route: String = "unmatched"
    /// Seconds spent waiting for an inference worker (nil if the request never queued).
    var queueSeconds: Double?
    /// Stage name -> seconds, for Server-Timing.
    var stages: [(String, Double)] = []

    init(request: HTTPRequest) {
        self.request = request
        requestID = RequestID.accept(request.headers["X-Request-ID"]) ?? RequestID.generate()
    }

    var elapsedSeconds: Double {
        Double(DispatchTime.now().uptimeNanoseconds &- request.receivedAt) / 1e9
    }

    func error(_ e: APIError) -> HTTPResponse { e.response(requestID: requestID) }
}

enum RequestID {
    static let maxLength = 128

    /// The client's X-Request-ID if it is 1...128 characters of [A-Za-z0-9._-]; nil otherwise (a new one is made).
    static func accept(_ value: String?) -> String? {
        guard let v = value, !v.isEmpty, v.utf8.count <= maxLength else { return nil }
        let ok = v.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
        }
        return ok ? v : nil
    }

    /// 32 random hex digits.
    static func generate() -> String {
        var g = SystemRandomNumberGenerator()
        let a = g.next() as UInt64, b = g.next() as UInt64
        return hex(a) + hex(b)
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
