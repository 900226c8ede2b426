// POST /v1/captions through the router: raw PNG, multipart and JSON bodies, and their errors.
import Foundation
import Testing
@testable import MirrorGANServer

@Suite struct CaptionRouteTests {
    let path = "/v1/captions"
    let png = TestPNG.grey()

    private func expectCaption(_ r: HTTPResponse, beam: Int) throws {
        #expect(r.status == 200, "\(r.bodyText)")
        let j = try #require(r.json)
        #expect(j["caption"] as? String == "a small bird")
        #expect(j["tokens"] as? [String] == ["a", "small", "bird", "beam\(beam)"])
        let lp = try #require(j["log_probs"] as? [Any])
        #expect(lp.count == 4)
        #expect(lp[0] as? Double == -0.25)
        #expect(lp[3] is NSNull) // -inf is not JSON
        #expect(j["log_prob"] as? Double == -0.875)
        #expect(r.headers["Server-Timing"]?.contains("captioner;dur=") == true)
    }

    @Test func rawPNGBody() throws {
        let router = try makeRouter()
        try expectCaption(router.handle(post(path, contentType: "image/png", body: png)), beam: 1)
        try expectCaption(router.handle(post(path, contentType: "image/png", body: png, query: [("beam_size", "3")])), beam: 3)
    }

    @Test func multipartBody() throws {
        let router = try makeRouter()
        let body = multipart(boundary: "XyZ-123", fields: [
            ("note", nil, nil, Array("hello".utf8)),
            ("image", "bird.png", "image/png", png),
            ("beam_size", nil, nil, Array("4".utf8)),
        ])
        try expectCaption(router.handle(post(path, contentType: "multipart/form-data; boundary=\"XyZ-123\"", body: body)), beam: 4)
        let missing = multipart(boundary: "b", fields: [("file", "bird.png", "image/png", png)])
        let r = router.handle(post(path, contentType: "multipart/form-data; boundary=b", body: missing))
        #expect(r.status == 400)
        #expect(r.errorCode == "missing_field")
        let broken = router.handle(post(path, contentType: "multipart/form-data; boundary=b", body: Array("--b\r\nnonsense".utf8)))
        #expect(broken.status == 400)
        #expect(broken.errorCode == "invalid_multipart")
        let noBoundary = router.handle(post(path, contentType: "multipart/form-data", body: body))
        #expect(noBoundary.status == 400)
    }

    @Test func jsonBase64Body() throws {
        let router = try makeRouter()
        let b64 = Data(png).base64EncodedString()
        try expectCaption(router.handle(post(path, json: "{\"image\":\"\(b64)\",\"beam_size\":2}")), beam: 2)
        try expectCaption(router.handle(post(path, json: "{\"image\":\"data:image/png;base64,\(b64)\"}")), beam: 1)
        // JSON beam_size wins over the query parameter.
        var req = post(path, json: "{\"image\":\"\(b64)\",\"beam_size\":5}")
        req.query = [(name: "beam_size", value: "2")]
        try expectCaption(router.handle(req), beam: 5)
    }

    @Test func errors() throws {
        let router = try makeRouter()
        func check(_ r: HTTPResponse, _ status: Int, _ code: String) {
            #expect(r.status == status, "\(r.bodyText)")
            #expect(r.errorCode == code, "\(r.bodyText)")
        }
        check(router.handle(post(path, contentType: "text/plain", body: png)), 415, "unsupported_media_type")
        check(router.handle(post(path, contentType: nil, body: png)), 415, "unsupported_media_type")
        check(router.handle(post(path, contentType: "image/png", body: [])), 400, "invalid_image")
        check(router.handle(post(path, contentType: "image/png", body: Array("GIF89a....".utf8))), 400, "invalid_image")
        // Right signature, broken content: the engine decides (400).
        check(router.handle(post(path, contentType: "image/png", body: TestPNG.signature + [1, 2, 3])), 400, "invalid_image")
        // Decodes to too many pixels: the engine's imageTooLarge -> 413.
        check(router.handle(post(path, contentType: "image/png", body: TestPNG.hugeHeader())), 413, "image_too_large")
        check(router.handle(post(path, contentType: "image/png", body: png, query: [("beam_size", "0")])), 400, "invalid_value")
        check(router.handle(post(path, contentType: "image/png", body: png, query: [("beam_size", "x")])), 400, "invalid_value")
        check(router.handle(post(path, json: #"{"beam_size":2}"#)), 400, "missing_field")
        check(router.handle(post(path, json: #"{"image":7}"#)), 400, "invalid_type")
        check(router.handle(post(path, json: #"{"image":"%%%%"}"#)), 400, "invalid_image")
        check(router.handle(post(path, json: #"{"image":"data:image/png,abc"}"#)), 400, "invalid_image")
        check(router.handle(post(path, json: "{\"image\":\"\(Data(png).base64EncodedString())\",\"beam_size\":9}")), 400, "invalid_value")
        check(router.handle(post(path, json: "{\"image\":")), 400, "invalid_json")
    }
}
