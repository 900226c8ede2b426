// /, /healthz, /readyz, /v1/models, /openapi.yaml, 404/405/OPTIONS/HEAD, request IDs, and the request log.
import Foundation
import Testing
@testable import MirrorGANServer

@Suite struct InfoRouteTests {
    @Test func healthAndReadiness() throws {
        let router = try makeRouter(engine: nil)
        let h = router.handle(get("/healthz"))
        #expect(h.status == 200)
        #expect(h.json?["status"] as? String == "ok")
        let notReady = router.handle(get("/readyz"))
        #expect(notReady.status == 503)
        #expect(notReady.errorCode == "not_ready")
        #expect(router.handle(get("/v1/models")).status == 503)
        router.setEngine(FakeEngine())
        let ready = router.handle(get("/readyz"))
        #expect(ready.status == 200)
        #expect(ready.json?["model"] as? String == "fake-birds")
        #expect(ready.json?["warm"] as? Bool == false)
        #expect(String(decoding: router.handle(get("/metrics")).body, as: UTF8.self).contains("mirrorgan_model_warm 0"))
        router.setWarm()
        #expect(router.handle(get("/readyz")).json?["warm"] as? Bool == true)
        #expect(String(decoding: router.handle(get("/metrics")).body, as: UTF8.self).contains("mirrorgan_model_warm 1"))
        router.beginDrain()
        #expect(router.handle(get("/readyz")).errorCode == "draining")
        #expect(router.handle(get("/healthz")).status == 200)
    }

    @Test func modelInfo() throws {
        let router = try makeRouter()
        let r = router.handle(get("/v1/models"))
        #expect(r.status == 200)
        let model = try #require((r.json?["data"] as? [[String: Any]])?.first)
        #expect(model["id"] as? String == "fake-birds")
        #expect(model["object"] as? String == "model")
        #expect(model["parameters"] as? Int == 1234)
        #expect(model["threads"] as? Int == 1)
        #expect((model["files"] as? [String: String])?["text_encoder.bin"]?.count == 64)
    }

    @Test func servesTheSpecAndAPointerAtRoot() throws {
        let router = try makeRouter()
        let spec = router.handle(get("/openapi.yaml"))
        #expect(spec.status == 200)
        #expect(spec.headers["Content-Type"] == "application/yaml")
        #expect(spec.body == (try [UInt8](Data(contentsOf: RepoFiles.servedSpec))))
        let root = router.handle(get("/"))
        #expect(root.status == 200)
        #expect(root.headers["Content-Type"] == "text/html; charset=utf-8")
        #expect(root.bodyText.contains("/v1/images/generations"))
    }

    @Test func missingResourceBundleDegradesInsteadOfCrashing() throws {
        let router = try makeRouter()
        router.resources = ResourceStore(directory: nil)
        let root = router.handle(get("/"))
        #expect(root.status == 200)
        #expect(root.headers["Content-Type"] == "application/json")
        #expect(root.json?["openapi"] as? String == "/openapi.yaml")
        #expect((root.json?["endpoints"] as? [String])?.contains("POST /v1/captions") == true)
        let spec = router.handle(get("/openapi.yaml"))
        #expect(spec.status == 500)
        #expect(spec.errorCode == "internal_error")
    }

    @Test func unknownRoutesWrongMethodsOptionsAndHead() throws {
        let router = try makeRouter()
        let nf = router.handle(get("/v2/nothing"))
        #expect(nf.status == 404)
        #expect(nf.errorCode == "not_found")
        let wrong = router.handle(get("/v1/images/generations"))
        #expect(wrong.status == 405)
        #expect(wrong.headers["Allow"] == "POST, OPTIONS")
        let wrong2 = router.handle(HTTPRequest(method: "DELETE", path: "/healthz"))
        #expect(wrong2.status == 405)
        #expect(wrong2.headers["Allow"] == "GET, HEAD, OPTIONS")
        let options = router.handle(HTTPRequest(method: "OPTIONS", path: "/v1/captions"))
        #expect(options.status == 204)
        #expect(options.headers["Allow"] == "POST, OPTIONS")
        #expect(options.headers["Access-Control-Allow-Origin"] == nil) // CORS is off by default
        #expect(router.handle(HTTPRequest(method: "HEAD", path: "/healthz")).status == 200)
    }

    @Test func requestIDsAreValidatedAndEchoed() throws {
        let router = try makeRouter()
        let mine = router.handle(get("/healthz", headers: [("X-Request-ID", "client-1.A_b")]))
        #expect(mine.headers["X-Request-ID"] == "client-1.A_b")
        for bad in ["has space", String(repeating: "a", count: 129), "semi;colon", ""] {
            let r = router.handle(get("/nope", headers: [("X-Request-ID", bad)]))
            let id = try #require(r.headers["X-Request-ID"])
            #expect(id != bad)
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
            #expect(r.error?["request_id"] as? String == id)
        }
        #expect(router.handle(get("/healthz", headers: [("X-Request-ID", String(repeating: "z", count: 128))]))
            .headers["X-Request-ID"]?.count == 128)
    }

    @Test func oneJSONLogLinePerRequest() throws {
        let lines = LogLines()
        let router = try makeRouter(keys: ["secret-key"], log: { lines.append($0) })
        _ = router.handle(get("/healthz", headers: [("X-Request-ID", "log-test")]))
        _ = router.handle(post("/v1/images/generations", json: #"{"caption":"a bird"}"#,
                               headers: [("Authorization", "Bearer secret-key")]))
        _ = router.handle(get("/v1/models", headers: [("Authorization", "Bearer wrong-key")]))
        let all = lines.all
        #expect(all.count == 3)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(all[0].utf8)) as? [String: Any])
        for key in ["time", "level", "request_id", "method", "route", "status", "duration_ms", "queue_ms", "peer"] {
            #expect(first[key] != nil, "missing \(key)")
        }
        #expect(first["request_id"] as? String == "log-test")
        #expect(first["route"] as? String == "/healthz")
        #expect(first["status"] as? Int == 200)
        #expect(first["queue_ms"] is NSNull)
        let second = try #require(try JSONSerialization.jsonObject(with: Data(all[1].utf8)) as? [String: Any])
        #expect(second["queue_ms"] is Double)
        #expect(!all.joined().contains("secret-key"))
        #expect(!all.joined().contains("wrong-key"))
    }
}

enum RepoFiles {
    /// The repository root, found from this file (symlinked test directories are resolved).
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let topSpec = root.appendingPathComponent("openapi.yaml")
    static let servedSpec = root.appendingPathComponent("Sources/MirrorGANServer/Resources/openapi.yaml")
}
