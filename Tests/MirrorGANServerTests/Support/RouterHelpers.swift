// Building requests and reading responses in router tests.
import Foundation
@testable import MirrorGANServer

extension ServerConfig {
    /// Defaults for tests: quiet, small limits.
    static func test(queueSize: Int = 8, workers: Int = 1, maxBodyBytes: Int = 1 << 20, requestTimeout: Double = 30,
                     corsOrigin: String? = nil) -> ServerConfig {
        ServerConfig(host: "127.0.0.1", port: 0, queueSize: queueSize, maxBodyBytes: maxBodyBytes,
                     requestTimeout: requestTimeout, corsOrigin: corsOrigin, workers: workers, connectionLimit: 256,
                     perIPConnectionLimit: 0, connectionTimeout: 2, logRequests: false)
    }
}

func makeRouter(_ config: ServerConfig = .test(), engine: InferenceEngine? = FakeEngine(), keys: [String]? = nil,
                log: (@Sendable (String) -> Void)? = { _ in }) throws -> Router {
    try Router(config: config, engine: engine, apiKeys: keys.map { APIKeys(keys: $0) }, logSink: log)
}

func get(_ path: String, headers: [(String, String)] = []) -> HTTPRequest {
    HTTPRequest(method: "GET", path: path, headers: HTTPHeaders(headers))
}

func post(_ path: String, json: String, headers: [(String, String)] = []) -> HTTPRequest {
    HTTPRequest(method: "POST", path: path, headers: HTTPHeaders([("Content-Type", "application/json")] + headers),
                body: Array(json.utf8))
}

func post(_ path: String, contentType: String?, body: [UInt8], query: [(name: String, value: String)] = []) -> HTTPRequest {
    HTTPRequest(method: "POST", path: path, query: query,
                headers: HTTPHeaders(contentType.map { [("Content-Type", $0)] } ?? []), body: body)
}

extension HTTPResponse {
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    var error: [String: Any]? { json?["error"] as? [String: Any] }
    var errorCode: String? { error?["code"] as? String }
}

func multipart(boundary: String, fields: [(name: String, filename: String?, contentType: String?, body: [UInt8])]) -> [UInt8] {
    var out: [UInt8] = []
    for f in fields {
        var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(f.name)\""
        if let fn = f.filename { head += "; filename=\"\(fn)\"" }
        head += "\r\n"
        if let ct = f.contentType { head += "Content-Type: \(ct)\r\n" }
        head += "\r\n"
        out += Array(head.utf8) + f.body + Array("\r\n".utf8)
    }
    return out + Array("--\(boundary)--\r\n".utf8)
}

/// Collects log lines from concurrent threads.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
}
