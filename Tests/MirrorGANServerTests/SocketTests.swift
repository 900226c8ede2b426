// The real server (libmicrohttpd via CHTTP) on an ephemeral port, driven with raw sockets.
import Foundation
import Testing
@testable import MirrorGANServer

/// A started server that stops when the test ends.
final class LiveServer {
    let server: Server
    let engine: FakeEngine
    var port: Int { server.port }

    init(_ config: ServerConfig = .test(maxBodyBytes: 64 * 1024), engine: FakeEngine = FakeEngine(), ready: Bool = true,
         keys: [String]? = nil) throws {
        self.engine = engine
        server = try Server(config: config, engine: ready ? engine : nil, apiKeys: keys.map { APIKeys(keys: $0) },
                            logSink: { _ in })
        try server.start()
    }

    deinit { server.stop() }

    func healthy() -> Bool {
        (try? RawHTTP.request(port: port, "GET", "/healthz"))?.status == 200
    }
}

@Suite(.timeLimit(.minutes(1))) struct SocketTests {
    let gen = "/v1/images/generations"

    @Test func everyEndpointOverTheWire() throws {
        let live = try LiveServer(ready: false)
        let p = live.port
        #expect(p > 0)
        #expect(try RawHTTP.request(port: p, "GET", "/healthz").status == 200)
        #expect(try RawHTTP.request(port: p, "GET", "/readyz").status == 503)
        live.server.setEngine(live.engine)
        #expect(try RawHTTP.request(port: p, "GET", "/readyz").status == 200)
        let models = try RawHTTP.request(port: p, "GET", "/v1/models")
        #expect(models.status == 200)
        #expect(models.header("Content-Type") == "application/json")
        #expect(models.header("X-Request-ID")?.count == 32)
        let spec = try RawHTTP.request(port: p, "GET", "/openapi.yaml")
        #expect(spec.status == 200)
        #expect(spec.body == (try [UInt8](Data(contentsOf: RepoFiles.servedSpec))))
        #expect(try RawHTTP.request(port: p, "GET", "/").status == 200)
        let head = try RawHTTP.request(port: p, "HEAD", "/healthz")
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        let options = try RawHTTP.request(port: p, "OPTIONS", "/v1/captions")
        #expect(options.status == 204)
        #expect(options.header("Allow") == "POST, OPTIONS")

        let g = try RawHTTP.json(port: p, gen, #"{"caption":"a red bird","seed":5,"n":2}"#, headers: [("X-Request-ID", "wire-1")])
        #expect(g.status == 200)
        #expect(g.header("X-Request-ID") == "wire-1")
        #expect(g.header("Server-Timing")?.contains("generator") == true)
        #expect((g.json?["data"] as? [[String: Any]])?.count == 2)
        let png = try RawHTTP.json(port: p, gen, #"{"caption":"a red bird","seed":5}"#, headers: [("Accept", "image/png")])
        #expect(png.status == 200)
        #expect(png.header("Content-Type") == "image/png")
        #expect(png.body.starts(with: TestPNG.signature))
        #expect(png.header("X-Seed") == "5")
        #expect(png.header("X-Redescription")?.hasPrefix("a%20small%20bird") == true)
        #expect(png.header("X-R-Precision-Rank") == "1")

        let raw = try RawHTTP.request(port: p, "POST", "/v1/captions?beam_size=2", headers: [("Content-Type", "image/png")],
                                      body: TestPNG.grey())
        #expect(raw.status == 200)
        #expect((raw.json?["tokens"] as? [String])?.last == "beam2")
        let mp = multipart(boundary: "zz", fields: [("image", "b.png", "image/png", TestPNG.grey())])
        let viaForm = try RawHTTP.request(port: p, "POST", "/v1/captions",
                                          headers: [("Content-Type", "multipart/form-data; boundary=zz")], body: mp)
        #expect(viaForm.status == 200)
        let viaJSON = try RawHTTP.json(port: p, "/v1/captions", "{\"image\":\"\(Data(TestPNG.grey()).base64EncodedString())\"}")
        #expect(viaJSON.status == 200)

        let cases: [(RawResponse, Int, String)] = [
            (try RawHTTP.json(port: p, gen, "{oops"), 400, "invalid_json"),
            (try RawHTTP.json(port: p, gen, #"{"caption":1}"#), 400, "invalid_type"),
            (try RawHTTP.json(port: p, gen, #"{"n":1}"#), 400, "missing_field"),
            (try RawHTTP.json(port: p, gen, #"{"caption":"a bird","n":12}"#), 400, "invalid_value"),
            (try RawHTTP.json(port: p, gen, #"{"caption":"xyzzy"}"#), 422, "no_known_words"),
            (try RawHTTP.request(port: p, "POST", gen, headers: [("Content-Type", "text/plain")], body: Array("hi".utf8)), 415, "unsupported_media_type"),
            (try RawHTTP.request(port: p, "POST", "/v1/captions", headers: [("Content-Type", "image/png")], body: TestPNG.signature + [0]), 400, "invalid_image"),
            (try RawHTTP.request(port: p, "POST", "/v1/captions", headers: [("Content-Type", "image/png")], body: TestPNG.hugeHeader()), 413, "image_too_large"),
            (try RawHTTP.request(port: p, "GET", "/missing"), 404, "not_found"),
            (try RawHTTP.request(port: p, "PUT", "/healthz"), 405, "method_not_allowed"),
        ]
        for (r, status, code) in cases {
            #expect(r.status == status, "\(code): \(r.text)")
            #expect(r.errorCode == code, "\(r.text)")
            #expect(r.header("Content-Type") == "application/json")
        }
        let metrics = try RawHTTP.request(port: p, "GET", "/metrics")
        #expect(metrics.text.contains("mirrorgan_http_connections "))
        #expect(metrics.text.contains(#"mirrorgan_http_requests_total{route="/v1/captions",code="413"} 1"#))
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        let live = try LiveServer()
        let c = try RawConnection(port: live.port)
        for i in 0..<3 {
            try c.send(RawHTTP.serialize("GET", "/healthz", headers: [("X-Request-ID", "ka-\(i)")], body: []))
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.header("X-Request-ID") == "ka-\(i)")
        }
        let body = Array(#"{"caption":"a bird"}"#.utf8)
        try c.send(RawHTTP.serialize("POST", gen, headers: [("Content-Type", "application/json")], body: body))
        #expect(try c.readResponse().status == 200) // a suspended-then-resumed request keeps the connection usable
        try c.send(RawHTTP.serialize("GET", "/healthz", headers: [], body: []))
        #expect(try c.readResponse().status == 200)
    }

    @Test func portInUseIsReported() throws {
        let live = try LiveServer()
        var config = ServerConfig.test()
        config.port = live.port
        let second = try Server(config: config, engine: FakeEngine(), logSink: { _ in })
        do {
            try second.start()
            Issue.record("second bind succeeded")
        } catch let e as ServerError {
            #expect(e.description.contains("already in use"), "\(e)")
        }
        var bad = ServerConfig.test()
        bad.host = "not-an-address"
        #expect(throws: ServerError.self) { try Server(config: bad, logSink: { _ in }).start() }
        #expect(live.healthy())
    }

    @Test func contentLengthOverLimitIs413BeforeTheBody() throws {
        let live = try LiveServer(.test(maxBodyBytes: 1000))
        let c = try RawConnection(port: live.port)
        // Headers only: the server must answer without waiting for the 10 MB it was promised.
        try c.send("POST \(gen) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 413)
        #expect(r.errorCode == "payload_too_large")
        #expect(r.header("X-Request-ID") != nil) // the router answered, so the shape is the usual one
        #expect(c.closedByPeer())
        #expect(live.healthy())
        let ok = try RawHTTP.json(port: live.port, gen, #"{"caption":"a bird"}"#)
        #expect(ok.status == 200)
        let m = try RawHTTP.request(port: live.port, "GET", "/metrics").text
        #expect(m.contains(#"mirrorgan_rejected_total{reason="too_large"} 1"#))
    }

    @Test func chunkedBodyOverLimitIs413WhileReading() throws {
        let live = try LiveServer(.test(maxBodyBytes: 1000))
        let c = try RawConnection(port: live.port)
        try c.send("POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        let chunk = [UInt8](repeating: 0x41, count: 600)
        for _ in 0..<3 { try c.send(Array("258\r\n".utf8) + chunk + Array("\r\n".utf8)) } // 0x258 = 600
        try c.send("0\r\n\r\n")
        let r = try c.readResponse()
        #expect(r.status == 413)
        #expect(r.errorCode == "payload_too_large")
        #expect(live.healthy())
        // Under the limit, chunked bodies are fine.
        let c2 = try RawConnection(port: live.port)
        let png = TestPNG.grey()
        try c2.send("POST /v1/captions HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        try c2.send(Array(String(png.count, radix: 16).utf8) + [13, 10] + png + [13, 10])
        try c2.send("0\r\n\r\n")
        #expect(try c2.readResponse().status == 200)
    }

    @Test func slowClientIsCutOffAtTheConnectionTimeout() throws {
        var config = ServerConfig.test()
        config.connectionTimeout = 1
        let live = try LiveServer(config)
        let c = try RawConnection(port: live.port, receiveTimeout: 5)
        try c.send("POST \(gen) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"capt")
        let start = Date()
        #expect(c.closedByPeer()) // then stalls
        let took = Date().timeIntervalSince(start)
        #expect(took >= 0.5 && took < 4.5, "closed after \(took) s")
        let idle = try RawConnection(port: live.port, receiveTimeout: 5)
        try idle.send("GET /heal") // stalls inside the request line
        #expect(idle.closedByPeer())
        #expect(live.healthy())
    }

    @Test func clientDisconnectsMidBodyAndWhileQueued() throws {
        let live = try LiveServer(engine: FakeEngine(delay: 0.3))
        do {
            let c = try RawConnection(port: live.port)
            try c.send("POST \(gen) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"caption\":")
        } // closed with 989 bytes missing
        #expect(live.healthy())
        // Two requests whose clients hang up while the engine works on them (the second one while queued).
        for _ in 0..<2 {
            let c = try RawConnection(port: live.port)
            try c.send(RawHTTP.serialize("POST", gen, headers: [("Content-Type", "application/json")],
                                         body: Array(#"{"caption":"a bird"}"#.utf8)))
        }
        Thread.sleep(forTimeInterval: 0.1)
        #expect(live.healthy())
        // The worker answers the dead requests (a no-op in CHTTP), then serves new ones normally.
        let after = try RawHTTP.json(port: live.port, gen, #"{"caption":"a bird"}"#)
        #expect(after.status == 200)
        #expect(live.engine.generateCalls == 3)
        #expect(live.server.router.inflightRequests == 0)
    }

    @Test func burstOfFiftyGetsOnly200sAnd503s() throws {
        let live = try LiveServer(.test(queueSize: 8), engine: FakeEngine(delay: 0.03))
        let body = Array(#"{"caption":"a small bird"}"#.utf8)
        var connections: [RawConnection] = []
        for _ in 0..<50 {
            let c = try RawConnection(port: live.port)
            try c.send(RawHTTP.serialize("POST", gen, headers: [("Content-Type", "application/json"), ("Connection", "close")], body: body))
            connections.append(c)
        }
        var counts: [Int: Int] = [:]
        for c in connections {
            let status = (try? c.readResponse())?.status ?? -1
            counts[status, default: 0] += 1
        }
        #expect(Set(counts.keys).isSubset(of: [200, 503]), "\(counts)")
        #expect((counts[200] ?? 0) >= 9, "\(counts)") // one running + eight queued at least
        #expect((counts[503] ?? 0) >= 1, "\(counts)")
        #expect(live.healthy())
        let m = try RawHTTP.request(port: live.port, "GET", "/metrics").text
        #expect(m.contains("mirrorgan_rejected_total{reason=\"queue_full\"} \(counts[503] ?? 0)\n"))
    }

    @Test func drainFinishesWorkAndRefusesNewWork() throws {
        let live = try LiveServer(engine: FakeEngine(delay: 0.5))
        let p = live.port
        let body = #"{"caption":"a bird"}"#
        final class Box: @unchecked Sendable { var status = 0 }
        let inflight = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            inflight.status = (try? RawHTTP.json(port: p, "/v1/images/generations", body))?.status ?? -1
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.15)
        let drained = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            live.server.drain(timeout: 5)
            drained.signal()
        }
        Thread.sleep(forTimeInterval: 0.1)
        let ready = try RawHTTP.request(port: p, "GET", "/readyz")
        #expect(ready.status == 503)
        #expect(ready.errorCode == "draining")
        let refused = try RawHTTP.json(port: p, gen, body)
        #expect(refused.status == 503)
        #expect(refused.errorCode == "draining")
        #expect(refused.header("Retry-After") != nil)
        #expect(try RawHTTP.request(port: p, "GET", "/healthz").status == 200)
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(inflight.status == 200)
        #expect(drained.wait(timeout: .now() + 5) == .success)
        #expect(throws: RawHTTPError.self) { try RawConnection(port: p) } // no longer listening
    }

    @Test func stopAnswersRequestsStillWaitingWith503() throws {
        let live = try LiveServer(engine: FakeEngine(delay: 0.4))
        let c = try RawConnection(port: live.port)
        try c.send(RawHTTP.serialize("POST", gen, headers: [("Content-Type", "application/json")],
                                     body: Array(#"{"caption":"a bird"}"#.utf8)))
        Thread.sleep(forTimeInterval: 0.1)
        live.server.stop()
        let r = try c.readResponse()
        #expect(r.status == 503)
        #expect(r.errorCode == "shutting_down")
        Thread.sleep(forTimeInterval: 0.5) // the worker's late answer must be a harmless no-op
        #expect(live.engine.generateCalls == 1)
    }

    @Test func signalHandlerDrainsThenCallsBack() throws {
        let live = try LiveServer()
        let p = live.port
        let done = DispatchSemaphore(value: 0)
        live.server.installSignalHandlers(signals: [SIGUSR2], drainTimeout: 5, then: { done.signal() })
        #expect(live.healthy())
        kill(getpid(), SIGUSR2)
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(throws: RawHTTPError.self) { try RawConnection(port: p) }
    }

    @Test func apiKeysOverTheWire() throws {
        let live = try LiveServer(keys: ["wire-key"])
        let p = live.port
        let denied = try RawHTTP.json(port: p, gen, #"{"caption":"a bird"}"#)
        #expect(denied.status == 401)
        #expect(denied.header("WWW-Authenticate") == "Bearer")
        let ok = try RawHTTP.json(port: p, gen, #"{"caption":"a bird"}"#, headers: [("Authorization", "Bearer wire-key")])
        #expect(ok.status == 200)
        #expect(try RawHTTP.request(port: p, "GET", "/metrics").status == 200)
    }
}
