// OpenAI compatibility through the router, without sockets: the Images API fields on /v1/images/generations,
// OpenAI's error object, /v1/models, and captioning through /v1/chat/completions (JSON and event stream).
import Foundation
import Testing
@testable import MirrorGANServer

@Suite struct OpenAIImagesTests {
    let path = "/v1/images/generations"

    @Test func promptIsTheCaptionAndTheOpenAIFieldsAreAccepted() throws {
        let router = try makeRouter()
        let body = #"{"model":"fake-birds","prompt":"a small red bird","n":2,"size":"256x256","response_format":"b64_json","#
            + #""quality":"standard","style":"natural","user":"user-1234","output_format":"png","seed":9}"#
        let r = router.handle(post(path, json: body))
        #expect(r.status == 200, "\(r.bodyText)")
        let j = try #require(r.json)
        #expect((j["created"] as? Int ?? 0) > 1_700_000_000)
        let data = try #require(j["data"] as? [[String: Any]])
        #expect(data.count == 2)
        #expect(data.allSatisfy { Data(base64Encoded: $0["b64_json"] as? String ?? "") != nil })
        // This server's fields sit beside OpenAI's.
        #expect(data[0]["redescription"] is String && data[0]["r_precision"] is [String: Any] && data[0]["seed"] as? Int == 9)
        #expect(j["tokens"] as? [String] == ["a", "small", "red", "bird"])
        // The same caption under both names is fine.
        #expect(router.handle(post(path, json: #"{"prompt":"a bird","caption":"a bird"}"#)).status == 200)
        #expect(router.handle(post(path, json: #"{"prompt":"a bird","quality":"auto","style":"vivid"}"#)).status == 200)
    }

    @Test(arguments: [
        (#"{"prompt":"a bird","caption":"a red bird"}"#, 400, "invalid_value", "prompt"),
        (#"{}"#, 400, "missing_field", "prompt"),
        (#"{"prompt":null}"#, 400, "invalid_type", "prompt"),
        (#"{"prompt":7}"#, 400, "invalid_type", "prompt"),
        (#"{"prompt":"a bird","size":"512x512"}"#, 400, "unsupported_value", "size"),
        (#"{"prompt":"a bird","size":"1024x1024"}"#, 400, "unsupported_value", "size"),
        (#"{"prompt":"a bird","size":256}"#, 400, "invalid_type", "size"),
        (#"{"prompt":"a bird","response_format":"url"}"#, 400, "unsupported_value", "response_format"),
        (#"{"prompt":"a bird","quality":"hd"}"#, 400, "unsupported_value", "quality"),
        (#"{"prompt":"a bird","style":"cubist"}"#, 400, "invalid_value", "style"),
        (#"{"prompt":"a bird","output_format":"jpeg"}"#, 400, "unsupported_value", "output_format"),
        (#"{"prompt":"a bird","user":5}"#, 400, "invalid_type", "user"),
        (#"{"prompt":"a bird","model":"dall-e-3"}"#, 404, "model_not_found", "model"),
        (#"{"prompt":"a bird","model":7}"#, 400, "invalid_type", "model"),
    ])
    func refusesWhatItCannotHonour(body: String, status: Int, code: String, param: String) throws {
        let router = try makeRouter()
        let r = router.handle(post(path, json: body))
        #expect(r.status == status, "\(body): \(r.bodyText)")
        let e = try #require(r.error)
        #expect(e["code"] as? String == code, "\(body)")
        #expect(e["param"] as? String == param, "\(body)")
        #expect(e["type"] as? String == "invalid_request_error")
        #expect((e["message"] as? String)?.isEmpty == false)
    }

    @Test func sizeErrorListsWhatIsSupportedAndUnknownFieldsAreIgnored() throws {
        let router = try makeRouter()
        let r = router.handle(post(path, json: #"{"prompt":"a bird","size":"512x512"}"#))
        #expect((r.error?["message"] as? String)?.contains("\"256x256\"") == true)
        let unknown = router.handle(post(path, json: #"{"prompt":"a bird","background":"transparent","moderation":"low","x":[1]}"#))
        #expect(unknown.status == 200)
    }

    @Test func everyErrorHasOpenAIsFourMembersPlusTheRequestID() throws {
        let router = try makeRouter()
        let r = router.handle(get("/nope"))
        let e = try #require(r.error)
        #expect(Set(e.keys) == ["code", "message", "type", "param", "request_id"])
        #expect(e["param"] is NSNull)
    }

    @Test func unknownModelWithoutAnEngineIsNotReady() throws {
        let router = try makeRouter(engine: nil)
        #expect(router.handle(post(path, json: #"{"prompt":"a bird","model":"dall-e-3"}"#)).status == 503)
    }

    @Test func modelsListHasOpenAIsFields() throws {
        let router = try makeRouter()
        let j = try #require(router.handle(get("/v1/models")).json)
        let model = try #require((j["data"] as? [[String: Any]])?.first)
        #expect(model["id"] as? String == "fake-birds")
        #expect(model["object"] as? String == "model")
        #expect(model["owned_by"] as? String == "mirrorgan")
        #expect((model["created"] as? Int ?? 0) > 1_700_000_000)
    }
}

@Suite struct ChatCompletionTests {
    let path = "/v1/chat/completions"

    func body(url: String, extra: String = "", text: Bool = true) -> String {
        let textPart = text ? #"{"type":"text","text":"What is in this image?"},"# : ""
        return #"{"model":"fake-birds","messages":[{"role":"system","content":"You describe birds."},"#
            + #"{"role":"user","content":[\#(textPart){"type":"image_url","image_url":{"url":"\#(url)","detail":"low"}}]}]\#(extra)}"#
    }

    var b64: String { Data(TestPNG.grey()).base64EncodedString() }

    @Test func captionsTheImageAsAChatCompletion() throws {
        let router = try makeRouter()
        let r = router.handle(post(path, json: body(url: "data:image/png;base64,\(b64)")))
        #expect(r.status == 200, "\(r.bodyText)")
        #expect(r.headers["Content-Type"] == "application/json")
        let j = try #require(r.json)
        #expect(j["object"] as? String == "chat.completion")
        #expect(j["id"] as? String == "chatcmpl-" + (r.headers["X-Request-ID"] ?? ""))
        #expect(j["model"] as? String == "fake-birds")
        let choice = try #require((j["choices"] as? [[String: Any]])?.first)
        #expect(choice["index"] as? Int == 0)
        #expect(choice["finish_reason"] as? String == "stop")
        let message = try #require(choice["message"] as? [String: Any])
        #expect(message["role"] as? String == "assistant")
        #expect(message["content"] as? String == "a small bird beam1")
        let usage = try #require(j["usage"] as? [String: Int])
        #expect(usage == ["prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5])
        #expect(r.headers["Server-Timing"]?.contains("captioner;dur=") == true)
    }

    @Test func rawBase64AndStringImageURLAndBeamSize() throws {
        let router = try makeRouter()
        let raw = router.handle(post(path, json: body(url: b64, text: false)))
        #expect(raw.status == 200, "\(raw.bodyText)")
        let asString = #"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":"\#(b64)"}]}],"beam_size":3}"#
        let r = router.handle(post(path, json: asString))
        let content = ((r.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        #expect(content == "a small bird beam3")
    }

    @Test func maxTokensCutsTheCaption() throws {
        let router = try makeRouter()
        for field in ["max_tokens", "max_completion_tokens"] {
            let r = router.handle(post(path, json: body(url: b64, extra: #","\#(field)":2"#)))
            let choice = try #require((r.json?["choices"] as? [[String: Any]])?.first)
            #expect((choice["message"] as? [String: Any])?["content"] as? String == "a small")
            #expect(choice["finish_reason"] as? String == "length")
            #expect((r.json?["usage"] as? [String: Int])?["completion_tokens"] == 2)
        }
    }

    @Test func streamsServerSentChunks() throws {
        let router = try makeRouter()
        let r = router.handle(post(path, json: body(url: b64, extra: #","stream":true,"stream_options":{"include_usage":true}"#)))
        #expect(r.status == 200)
        #expect(r.headers["Content-Type"] == "text/event-stream; charset=utf-8")
        #expect(r.headers["Cache-Control"] == "no-cache")
        let events = r.bodyText.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(events.allSatisfy { $0.hasPrefix("data: ") })
        #expect(events.last == "data: [DONE]")
        let chunks = try events.dropLast().map { e -> [String: Any] in
            try #require(try JSONSerialization.jsonObject(with: Data(e.dropFirst(6).utf8)) as? [String: Any])
        }
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        let deltas = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
        #expect(deltas.first?["role"] as? String == "assistant")
        #expect(deltas.compactMap { $0["content"] as? String }.joined() == "a small bird beam1")
        let finish = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
        #expect(finish == ["stop"])
        #expect((chunks.last?["usage"] as? [String: Int])?["total_tokens"] == 5)
        #expect((chunks.last?["choices"] as? [Any])?.isEmpty == true)
        // Without include_usage no chunk carries usage.
        let plain = router.handle(post(path, json: body(url: b64, extra: #","stream":true"#)))
        #expect(!plain.bodyText.contains("usage"))
    }

    @Test(arguments: [
        (#"{"messages":[]}"#, 400, "invalid_type"),
        (#"{}"#, 400, "missing_field"),
        (#"{"messages":"hi"}"#, 400, "invalid_type"),
        (#"{"messages":[{"role":"user","content":"describe a bird"}]}"#, 400, "missing_field"),
        (#"{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#, 400, "missing_field"),
        (#"{"messages":[{"content":[]}]}"#, 400, "invalid_type"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/b.png"}}]}]}"#, 400, "unsupported_value"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}"#, 400, "invalid_image"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"%%%"}}]}]}"#, 400, "invalid_image"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}"#, 400, "invalid_type"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"R0lGODlh"}}]}]}"#, 400, "invalid_image"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"iVBORw0KGgo="}}]}],"n":2}"#, 400, "unsupported_value"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"iVBORw0KGgo="}}]}],"stream":"yes"}"#, 400, "invalid_type"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"iVBORw0KGgo="}}]}],"max_tokens":0}"#, 400, "invalid_value"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"iVBORw0KGgo="}}]}],"model":"gpt-4o"}"#, 404, "model_not_found"),
    ])
    func refusesBadRequests(body: String, status: Int, code: String) throws {
        let router = try makeRouter()
        let r = router.handle(post(path, json: body))
        #expect(r.status == status, "\(body): \(r.bodyText)")
        #expect(r.errorCode == code, "\(body): \(r.bodyText)")
    }

    @Test func twoImagesAreRefusedAndOnlyTheLastUserMessageCounts() throws {
        let router = try makeRouter()
        let part = #"{"type":"image_url","image_url":{"url":"\#(b64)"}}"#
        let two = router.handle(post(path, json: #"{"messages":[{"role":"user","content":[\#(part),\#(part)]}]}"#))
        #expect(two.status == 400 && two.errorCode == "unsupported_value")
        // An earlier user message's image does not count: the last one has none.
        let earlier = #"{"messages":[{"role":"user","content":[\#(part)]},{"role":"assistant","content":"a bird"},{"role":"user","content":"again"}]}"#
        #expect(router.handle(post(path, json: earlier)).errorCode == "missing_field")
    }

    @Test func notJSONIs415AndGIFIsTheEnginesInvalidImage() throws {
        let router = try makeRouter()
        #expect(router.handle(post(path, contentType: "text/plain", body: Array("{}".utf8))).status == 415)
        let gif = Data("GIF89a......".utf8).base64EncodedString()
        #expect(router.handle(post(path, json: body(url: "data:image/gif;base64,\(gif)"))).errorCode == "invalid_image")
    }
}

@Suite struct CaptionMediaTypeTests {
    @Test func rawBodiesOfEveryImageTypeReachTheDecoder() throws {
        let router = try makeRouter()
        // The content decides, not the declared type: the fake engine reads PNGs under any image type.
        for ct in ["image/png", "image/jpeg", "image/webp", "application/octet-stream"] {
            let r = router.handle(post("/v1/captions", contentType: ct, body: TestPNG.grey()))
            #expect(r.status == 200, "\(ct)")
        }
        #expect(router.handle(post("/v1/captions", contentType: "image/gif", body: TestPNG.grey())).status == 415)
    }
}

@Suite struct ImageLimitConfigTests {
    @Test func maxImagePixelsFromTheEnvironmentAndValidated() throws {
        #expect(ServerConfig().maxImagePixels == 16 * 1024 * 1024)
        #expect(try ServerConfig.fromEnvironment(["MIRRORGAN_MAX_IMAGE_PIXELS": "4096"]).maxImagePixels == 4096)
        #expect(throws: ConfigError.self) { try ServerConfig.fromEnvironment(["MIRRORGAN_MAX_IMAGE_PIXELS": "0"]) }
        #expect(throws: ConfigError.self) { try ServerConfig.fromEnvironment(["MIRRORGAN_MAX_IMAGE_PIXELS": "lots"]) }
        var c = ServerConfig()
        c.maxImagePixels = -1
        #expect(throws: ConfigError.self) { try c.validate() }
    }
}
