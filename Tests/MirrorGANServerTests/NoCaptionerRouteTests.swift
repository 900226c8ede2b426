// A model without a captioner (STREAM; converted AttnGAN releases): generations still answer, with
// `redescription: null` and a `notice`; /v1/models says `captioner: false`; the caption routes answer 501
// no_captioner before queueing anything.
import Foundation
import Testing
@testable import MirrorGANServer

@Suite struct NoCaptionerRouteTests {
    @Test func modelsSaysThereIsNoCaptioner() throws {
        let withCaptioner = try makeRouter().handle(get("/v1/models")).json?["data"] as? [[String: Any]]
        #expect(withCaptioner?.first?["captioner"] as? Bool == true && withCaptioner?.first?["notice"] == nil)
        let router = try makeRouter(engine: FakeEngine(captioner: false))
        let list = router.handle(get("/v1/models")).json?["data"] as? [[String: Any]]
        let model = try #require(list?.first)
        #expect(model["captioner"] as? Bool == false)
        #expect((model["notice"] as? String)?.contains("no captioner") == true)
    }

    @Test func generationsAnswerWithNullRedescriptionAndANotice() throws {
        let router = try makeRouter(engine: FakeEngine(captioner: false))
        let r = router.handle(post("/v1/images/generations", json: #"{"caption":"a small bird","seed":3,"n":2}"#))
        #expect(r.status == 200)
        let j = try #require(r.json)
        let data = try #require(j["data"] as? [[String: Any]])
        #expect(data.count == 2 && data.allSatisfy { $0["redescription"] is NSNull })
        #expect(data.allSatisfy { ($0["r_precision"] as? [String: Any])?["rank"] != nil })
        #expect((j["notice"] as? String)?.contains("no redescription is available") == true)
        // With a captioner there is no notice.
        let plain = try makeRouter().handle(post("/v1/images/generations", json: #"{"caption":"a small bird"}"#))
        #expect(plain.json?["notice"] == nil)
        // The PNG answer has no X-Redescription, and says why.
        let png = router.handle(post("/v1/images/generations", json: #"{"caption":"a small bird","response_format":"png"}"#))
        #expect(png.status == 200 && png.headers["Content-Type"] == "image/png")
        #expect(png.headers["X-Redescription"] == nil)
        #expect(png.headers["X-Notice"]?.contains("no%20redescription") == true)
        #expect(png.headers["X-R-Precision-Rank"] != nil)
    }

    @Test func captionRoutesAnswer501NoCaptionerWithoutQueueing() throws {
        let engine = FakeEngine(captioner: false)
        let router = try makeRouter(engine: engine)
        let r = router.handle(post("/v1/captions", contentType: "image/png", body: TestPNG.grey()))
        #expect(r.status == 501)
        #expect(r.errorCode == "no_captioner")
        #expect(r.error?["type"] as? String == "invalid_request_error")
        #expect((r.error?["message"] as? String)?.contains("'fake-birds' has no captioner") == true)
        let url = "data:image/png;base64," + Data(TestPNG.grey()).base64EncodedString()
        let chat = router.handle(post("/v1/chat/completions", json: """
            {"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"\(url)"}}]}]}
            """))
        #expect(chat.status == 501 && chat.errorCode == "no_captioner")
        #expect(engine.captionCalls == 0)
        // A bad request is still a 400 first (the request is checked before the model's abilities).
        #expect(router.handle(post("/v1/captions", contentType: "text/plain", body: [1])).status == 415)
    }

    @Test func theEnginesOwnRefusalMapsTo501() {
        let e = APIError.from(engine: EngineError.notSupported(code: "no_captioner", message: "m"))
        #expect(e.status == 501 && e.code == "no_captioner" && e.type == "invalid_request_error")
    }
}
