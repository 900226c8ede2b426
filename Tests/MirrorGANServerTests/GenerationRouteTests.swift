// POST /v1/images/generations through the router, without sockets.
import Foundation
import Testing
@testable import MirrorGANServer

@Suite struct GenerationRouteTests {
    let path = "/v1/images/generations"

    @Test func limitsAreTheServedEnginesOwn() throws {
        // n and beam_size are checked against the engine's ModelInfo.limits on every route that takes them.
        let router = try makeRouter(engine: FakeEngine(limits: GenerationLimits(maxImages: 2, maxBeamSize: 3)))
        #expect(router.handle(post(path, json: #"{"caption":"a bird","n":2,"beam_size":3}"#)).status == 200)
        let n = router.handle(post(path, json: #"{"caption":"a bird","n":3}"#))
        #expect(n.status == 400)
        #expect(n.error?["param"] as? String == "n")
        #expect((n.error?["message"] as? String)?.contains("between 1 and 2") == true)
        #expect(router.handle(post(path, json: #"{"caption":"a bird","beam_size":4}"#)).status == 400)
        let png = TestPNG.grey()
        func caption(beam: String) -> HTTPRequest {
            HTTPRequest(method: "POST", path: "/v1/captions", query: [(name: "beam_size", value: beam)],
                        headers: HTTPHeaders([("Content-Type", "image/png")]), body: png)
        }
        #expect(router.handle(caption(beam: "4")).status == 400)
        #expect(router.handle(caption(beam: "3")).status == 200)
        // Without an engine the upper bounds are unknown: the request gets past parsing to 503 not_ready.
        let idle = try makeRouter(engine: nil)
        #expect(idle.handle(post(path, json: #"{"caption":"a bird","n":9}"#)).status == 503)
        #expect(idle.handle(post(path, json: #"{"caption":"a bird","n":0}"#)).status == 400)
    }

    @Test func generatesJSONWithEchoedSeedsAndRPrecision() throws {
        let router = try makeRouter()
        let r = router.handle(post(path, json: #"{"caption":"a small red bird zzz","seed":42,"n":3,"extra":{"ignored":true}}"#))
        #expect(r.status == 200)
        #expect(r.headers["Content-Type"] == "application/json")
        let j = try #require(r.json)
        #expect(j["model"] as? String == "fake-birds")
        #expect(j["id"] as? String == r.headers["X-Request-ID"])
        #expect((j["created"] as? Int ?? 0) > 1_700_000_000)
        let data = try #require(j["data"] as? [[String: Any]])
        #expect(data.count == 3)
        #expect(data.map { $0["seed"] as? Int } == [42, 43, 44])
        let first = data[0]
        let png = try #require(Data(base64Encoded: first["b64_json"] as? String ?? ""))
        #expect([UInt8](png) == TestPNG.grey(pixels: [0, 64, 128, 255]))
        #expect(first["redescription"] as? String == "a small bird, with \"red\" wings/100%")
        #expect(first["attention"] == nil)
        let rp = try #require(first["r_precision"] as? [String: Any])
        #expect(rp["rank"] as? Int == 1)
        #expect(rp["hit"] as? Bool == true)
        #expect(rp["candidates"] as? Int == 100)
        #expect(rp["cosine"] as? Double == 0.75)
        // A non-finite cosine is written as null rather than breaking the JSON.
        let second = try #require(data[1]["r_precision"] as? [String: Any])
        #expect(second["hit"] as? Bool == false)
        #expect(second["cosine"] is NSNull)
        #expect(j["tokens"] as? [String] == ["a", "small", "red", "bird"])
        #expect(j["unknown_words"] as? [String] == ["zzz"])
        #expect(j["truncated"] as? Bool == false)
        let timings = try #require(j["timings"] as? [String: Double])
        #expect(Set(timings.keys) == ["text_encoder", "generator", "captioner", "rprecision", "queue"])
        let st = try #require(r.headers["Server-Timing"])
        #expect(st.hasPrefix("queue;dur="))
        #expect(st.contains("generator;dur=2.0"))
        #expect(st.contains("total;dur="))
    }

    @Test func exactUInt64SeedsAndRandomSeeds() throws {
        let router = try makeRouter()
        let big = router.handle(post(path, json: #"{"caption":"a bird","seed":18446744073709551615}"#))
        #expect(big.status == 200)
        // JSONSerialization would round the number; check the text.
        #expect(big.bodyText.contains("\"seed\":18446744073709551615"))
        for body in [#"{"caption":"a bird"}"#, #"{"caption":"a bird","seed":-1}"#, #"{"caption":"a bird","seed":null}"#] {
            let r = router.handle(post(path, json: body))
            #expect(r.status == 200)
            let seed = try #require(((r.json?["data"] as? [[String: Any]])?.first?["seed"] as? NSNumber)?.uint64Value)
            #expect(seed < 1 << 53)
        }
    }

    @Test func attentionMapsOnRequest() throws {
        let router = try makeRouter()
        let r = router.handle(post(path, json: #"{"caption":"red bird","return_attention":true}"#))
        #expect(r.status == 200)
        let item = try #require((r.json?["data"] as? [[String: Any]])?.first)
        let maps = try #require(item["attention"] as? [[String: Any]])
        #expect(maps.map { $0["word"] as? String } == ["red", "bird"])
        let png = try #require(Data(base64Encoded: maps[0]["b64_png"] as? String ?? ""))
        #expect(png.starts(with: TestPNG.signature))
    }

    @Test func rawPNGByResponseFormatOrAccept() throws {
        let router = try makeRouter()
        let byFormat = router.handle(post(path, json: #"{"caption":"a bird","seed":7,"n":2,"response_format":"png"}"#))
        let byAccept = router.handle(post(path, json: #"{"caption":"a bird","seed":7}"#, headers: [("Accept", "image/png")]))
        for r in [byFormat, byAccept] {
            #expect(r.status == 200)
            #expect(r.headers["Content-Type"] == "image/png")
            #expect(r.body == TestPNG.grey(pixels: [0, 64, 128, 255]))
            #expect(r.headers["X-Seed"] == "7")
            #expect(r.headers["X-R-Precision-Rank"] == "1")
            #expect(r.headers["X-Redescription"] == "a%20small%20bird%2C%20with%20%22red%22%20wings%2F100%25")
        }
        // JSON preferred by q-value, or chosen explicitly in the body, wins over Accept.
        let json1 = router.handle(post(path, json: #"{"caption":"a bird"}"#, headers: [("Accept", "image/png;q=0.5, application/json")]))
        let json2 = router.handle(post(path, json: #"{"caption":"a bird","response_format":"b64_json"}"#, headers: [("Accept", "image/png")]))
        #expect(json1.headers["Content-Type"] == "application/json")
        #expect(json2.headers["Content-Type"] == "application/json")
    }

    @Test(arguments: [
        (#"{"caption":"a bird""#, 400, "invalid_json"),
        (#"{"caption":"a bird",}"#, 400, "invalid_json"),
        ("", 400, "invalid_json"),
        (#"["a bird"]"#, 400, "invalid_json"),
        (#"{"caption":"a bird"} {}"#, 400, "invalid_json"),
        (#"{"seed":1}"#, 400, "missing_field"),
        (#"{"caption":5}"#, 400, "invalid_type"),
        (#"{"caption":null}"#, 400, "invalid_type"),
        (#"{"caption":"a bird","n":"2"}"#, 400, "invalid_type"),
        (#"{"caption":"a bird","n":1.5}"#, 400, "invalid_type"),
        (#"{"caption":"a bird","seed":"7"}"#, 400, "invalid_type"),
        (#"{"caption":"a bird","seed":1e3}"#, 400, "invalid_type"),
        (#"{"caption":"a bird","return_attention":1}"#, 400, "invalid_type"),
        (#"{"caption":"a bird","response_format":true}"#, 400, "invalid_type"),
        (#"{"caption":"a bird","n":0}"#, 400, "invalid_value"),
        (#"{"caption":"a bird","n":9}"#, 400, "invalid_value"),
        (#"{"caption":"a bird","n":99999999999999999999999}"#, 400, "invalid_value"),
        (#"{"caption":"a bird","seed":-2}"#, 400, "invalid_value"),
        (#"{"caption":"a bird","seed":18446744073709551616}"#, 400, "invalid_value"),
        (#"{"caption":"a bird","response_format":"gif"}"#, 400, "invalid_value"),
        (#"{"caption":"a bird","beam_size":0}"#, 400, "invalid_value"),
        (#"{"caption":""}"#, 422, "empty_caption"),
        (#"{"caption":"qwerty zxcv"}"#, 422, "no_known_words"),
        (#"{"caption":"a bird that will explode"}"#, 500, "internal_error"),
    ])
    func rejectsBadInput(body: String, status: Int, code: String) throws {
        let router = try makeRouter()
        let r = router.handle(post(path, json: body))
        #expect(r.status == status, "\(body)")
        #expect(r.errorCode == code, "\(body): \(r.bodyText)")
        let e = try #require(r.error)
        #expect(e["request_id"] as? String == r.headers["X-Request-ID"])
        #expect((e["message"] as? String)?.isEmpty == false)
        #expect(e["type"] as? String == (status >= 500 ? "server_error" : "invalid_request_error"))
    }

    @Test func wrongOrMissingContentTypeIs415() throws {
        let router = try makeRouter()
        let body = Array(#"{"caption":"a bird"}"#.utf8)
        for ct in [nil, "text/plain", "application/x-www-form-urlencoded", "image/png"] as [String?] {
            let r = router.handle(post(path, contentType: ct, body: body))
            #expect(r.status == 415)
            #expect(r.errorCode == "unsupported_media_type")
        }
        let charset = router.handle(post(path, contentType: "Application/JSON; charset=utf-8", body: body))
        #expect(charset.status == 200)
    }

    @Test func hostileJSONDoesNotCrash() throws {
        let router = try makeRouter()
        let deep = String(repeating: "[", count: 100_000)
        let bad: [String] = [deep, "{\"caption\":\"\\ud800\"}", "{\"caption\":\"\u{1}\"}", "nul", "{\"a\":-}", "{\"caption\":\"\\x\"}"]
        for b in bad {
            let r = router.handle(post(path, json: b))
            #expect(r.status == 400, "\(b.prefix(20))")
        }
        var invalidUTF8 = Array(#"{"caption":"a "#.utf8)
        invalidUTF8 += [0xFF, 0xFE]
        invalidUTF8 += Array(#""}"#.utf8)
        #expect(router.handle(post(path, contentType: "application/json", body: invalidUTF8)).status == 400)
        // Escapes and non-ASCII text survive.
        let ok = router.handle(post(path, json: #"{"caption":"a \u00e9t\u00e9 bird \ud83d\udc26"}"#))
        #expect(ok.status == 200)
        #expect((ok.json?["unknown_words"] as? [String]) == ["été"])
    }

    @Test func oversizeBodyFlagIs413() throws {
        let router = try makeRouter()
        var req = post(path, json: "")
        req.bodyTooLarge = true
        let r = router.handle(req)
        #expect(r.status == 413)
        #expect(r.errorCode == "payload_too_large")
        #expect(router.metrics.counter("mirrorgan_rejected_total", [("reason", "too_large")]) == 1)
    }

    @Test func notReadyWithoutEngineAndDuringDrain() throws {
        let router = try makeRouter(engine: nil)
        let r = router.handle(post(path, json: #"{"caption":"a bird"}"#))
        #expect(r.status == 503)
        #expect(r.errorCode == "not_ready")
        #expect(r.headers["Retry-After"] != nil)
        router.setEngine(FakeEngine())
        #expect(router.handle(post(path, json: #"{"caption":"a bird"}"#)).status == 200)
        router.beginDrain()
        let d = router.handle(post(path, json: #"{"caption":"a bird"}"#))
        #expect(d.status == 503)
        #expect(d.errorCode == "draining")
        // Validation still comes first.
        #expect(router.handle(post(path, json: "{}")).status == 400)
    }
}
