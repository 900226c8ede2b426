// API keys, CORS, the bounded queue (503 + Retry-After), deadlines (504), and /metrics.
import Foundation
import Testing
@testable import MirrorGANServer

/// Starts `request` on the router without waiting; `wait()` returns its response.
final class Pending: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var response: HTTPResponse?

    init(_ router: Router, _ request: HTTPRequest) {
        router.handle(request) { r in
            self.response = r
            self.done.signal()
        }
    }

    func wait(timeout: Double = 10) -> HTTPResponse? {
        done.wait(timeout: .now() + timeout) == .success ? response : nil
    }
}

@Suite struct PolicyTests {
    @Test func bearerKeysGuardAllButProbes() throws {
        let router = try makeRouter(keys: ["k1", "second-key"])
        let models = "/v1/models"
        let none = router.handle(get(models))
        #expect(none.status == 401)
        #expect(none.errorCode == "unauthorized")
        #expect(none.error?["type"] as? String == "authentication_error")
        #expect(none.headers["WWW-Authenticate"] == "Bearer")
        #expect(router.handle(get(models, headers: [("Authorization", "Bearer k2")])).status == 401)
        #expect(router.handle(get(models, headers: [("Authorization", "Basic k1")])).status == 401)
        #expect(router.handle(get(models, headers: [("Authorization", "Bearer k1x")])).status == 401)
        #expect(router.handle(get(models, headers: [("Authorization", "Bearer k1")])).status == 200)
        #expect(router.handle(get(models, headers: [("Authorization", "bearer second-key")])).status == 200)
        for open in ["/healthz", "/readyz", "/metrics", "/"] {
            #expect(router.handle(get(open)).status == 200, "\(open)")
        }
        #expect(router.handle(post("/v1/images/generations", json: #"{"caption":"a bird"}"#)).status == 401)
        #expect(router.handle(HTTPRequest(method: "OPTIONS", path: models)).status == 204) // preflight carries no key
        #expect(router.metrics.counter("mirrorgan_rejected_total", [("reason", "auth")]) == 5)
    }

    @Test func keyFileLoading() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mg-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("keys")
        try "# comment\n\n  alpha  \r\nbeta\n".write(to: file, atomically: true, encoding: .utf8)
        let keys = try APIKeys.load(path: file.path)
        #expect(keys.count == 2)
        #expect(keys.accepts(authorization: "Bearer alpha"))
        #expect(!keys.accepts(authorization: "Bearer # comment"))
        try "# only comments\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { try APIKeys.load(path: file.path) }
        #expect(throws: ConfigError.self) { try APIKeys.load(path: dir.appendingPathComponent("missing").path) }
        var config = ServerConfig.test()
        config.apiKeyFile = dir.appendingPathComponent("missing").path
        #expect(throws: ConfigError.self) { try Router(config: config, logSink: { _ in }) }
        #expect(APIKeys.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!APIKeys.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!APIKeys.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!APIKeys.constantTimeEqual([], Array("a".utf8)))
    }

    @Test func corsAllowList() throws {
        let router = try makeRouter(.test(corsOrigin: "https://a.example, https://b.example"))
        let ok = router.handle(get("/healthz", headers: [("Origin", "https://b.example")]))
        #expect(ok.headers["Access-Control-Allow-Origin"] == "https://b.example")
        #expect(ok.headers["Vary"] == "Origin")
        #expect(ok.headers["Access-Control-Expose-Headers"]?.contains("X-Request-ID") == true)
        let other = router.handle(get("/healthz", headers: [("Origin", "https://evil.example")]))
        #expect(other.headers["Access-Control-Allow-Origin"] == nil)
        let pre = router.handle(HTTPRequest(method: "OPTIONS", path: "/v1/images/generations",
                                            headers: HTTPHeaders([("Origin", "https://a.example"),
                                                                  ("Access-Control-Request-Method", "POST")])))
        #expect(pre.status == 204)
        #expect(pre.headers["Access-Control-Allow-Origin"] == "https://a.example")
        #expect(pre.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS")
        #expect(pre.headers["Access-Control-Allow-Headers"]?.contains("Authorization") == true)
        let star = try makeRouter(.test(corsOrigin: "*"))
        #expect(star.handle(get("/healthz", headers: [("Origin", "https://x.example")])).headers["Access-Control-Allow-Origin"] == "*")
    }

    @Test func fullQueueAnswers503WithRetryAfter() throws {
        let engine = FakeEngine(delay: 0.4)
        let router = try makeRouter(.test(queueSize: 1), engine: engine)
        let body = #"{"caption":"a bird"}"#
        let running = Pending(router, post("/v1/images/generations", json: body))
        Thread.sleep(forTimeInterval: 0.1) // let the worker take it
        let queued = Pending(router, post("/v1/images/generations", json: body))
        let refused = router.handle(post("/v1/images/generations", json: body))
        #expect(refused.status == 503)
        #expect(refused.errorCode == "queue_full")
        #expect(refused.error?["type"] as? String == "unavailable_error")
        let retry = try #require(refused.headers["Retry-After"].flatMap(Int.init))
        #expect((1...60).contains(retry))
        // Captions share the queue.
        #expect(router.handle(post("/v1/captions", contentType: "image/png", body: TestPNG.grey())).status == 503)
        #expect(running.wait()?.status == 200)
        #expect(queued.wait()?.status == 200)
        #expect(router.metrics.counter("mirrorgan_rejected_total", [("reason", "queue_full")]) == 2)
        #expect(router.handle(post("/v1/images/generations", json: body)).status == 200)
    }

    @Test func deadlinePassedWhileQueuedIs504() throws {
        let engine = FakeEngine(delay: 1.0)
        let router = try makeRouter(.test(queueSize: 4, requestTimeout: 0.25), engine: engine)
        let body = #"{"caption":"a bird"}"#
        let first = Pending(router, post("/v1/images/generations", json: body))
        Thread.sleep(forTimeInterval: 0.05)
        let start = Date()
        let second = router.handle(post("/v1/images/generations", json: body))
        let waited = Date().timeIntervalSince(start)
        #expect(second.status == 504)
        #expect(second.errorCode == "timeout")
        #expect(second.error?["type"] as? String == "timeout_error")
        #expect(waited < 0.8) // answered at the deadline, not when the worker got free
        #expect(first.wait()?.status == 200)
        #expect(engine.generateCalls == 1) // the expired request never reached the engine
        #expect(router.metrics.counter("mirrorgan_rejected_total", [("reason", "timeout")]) == 1)
        // A request whose deadline passed before arrival at the worker is expired, not run.
        var late = post("/v1/images/generations", json: body)
        late.receivedAt = DispatchTime.now().uptimeNanoseconds - 1_000_000_000
        #expect(router.handle(late).status == 504)
    }

    @Test func prometheusMetrics() throws {
        let router = try makeRouter()
        _ = router.handle(get("/healthz"))
        _ = router.handle(get("/nope/\(UUID())"))
        _ = router.handle(post("/v1/images/generations", json: #"{"caption":"a bird","n":2}"#))
        let r = router.handle(get("/metrics"))
        #expect(r.status == 200)
        #expect(r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8")
        let text = r.bodyText
        let expected = [
            #"mirrorgan_http_requests_total{route="/healthz",code="200"} 1"#,
            #"mirrorgan_http_requests_total{route="unmatched",code="404"} 1"#,
            #"mirrorgan_http_requests_total{route="/v1/images/generations",code="200"} 1"#,
            #"mirrorgan_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 1"#,
            #"mirrorgan_http_request_duration_seconds_count{route="/v1/images/generations"} 1"#,
            #"mirrorgan_inference_seconds_bucket{stage="generator",le="0.005"} 1"#,
            #"mirrorgan_inference_seconds_count{stage="rprecision"} 1"#,
            "mirrorgan_queue_wait_seconds_count 1",
            "mirrorgan_queue_depth 0",
            "mirrorgan_queue_capacity 8",
            "mirrorgan_inflight_requests 1", // the /metrics request itself
            #"mirrorgan_rejected_total{reason="queue_full"} 0"#,
            #"mirrorgan_rejected_total{reason="too_large"} 0"#,
            #"mirrorgan_rejected_total{reason="timeout"} 0"#,
            #"mirrorgan_rejected_total{reason="auth"} 0"#,
            "mirrorgan_images_generated_total 2",
            "mirrorgan_rprecision_hits_total 1",
            "mirrorgan_rprecision_trials_total 2",
            "mirrorgan_model_ready 1",
            #"mirrorgan_model_info{model="fake-birds",threads="1"} 1"#,
            #"mirrorgan_model_parameters{model="fake-birds"} 1234"#,
            #"mirrorgan_build_info{version="\#(ServerConfig.version)"} 1"#,
            "# TYPE mirrorgan_http_request_duration_seconds histogram",
            "# TYPE mirrorgan_rejected_total counter",
        ]
        for line in expected { #expect(text.contains(line + "\n"), "missing: \(line)") }
        let rss = text.split(separator: "\n").first(where: { $0.hasPrefix("process_resident_memory_bytes ") })
        #expect((rss.flatMap { Double($0.split(separator: " ")[1]) } ?? 0) > 1_000_000)
        // 404s are labelled by a fixed route, never by the requested path.
        #expect(!text.contains("route=\"/nope"))
    }
}
