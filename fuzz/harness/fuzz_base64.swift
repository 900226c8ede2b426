// libFuzzer harness for the base64 image path of POST /v1/captions (CaptionRequest.decodeBase64, also as a
// data: URL) and the JSON caption request around it.
// Differential check: whatever decodes must re-encode (Foundation, canonical) and decode to the same bytes.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBase64(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: input, as: UTF8.self)
    if let decoded = try? CaptionRequest.decodeBase64(text, field: "image") {
        let canonical = Data(decoded).base64EncodedString()
        guard let again = try? CaptionRequest.decodeBase64(canonical, field: "image") else { preconditionFailure("re-encoded base64 rejected") }
        precondition(again == decoded, "base64 round trip changed the bytes")
    }
    // The same text as the "image" member of a JSON caption request.
    var body = Array("{\"beam_size\":2,\"image\":\"".utf8)
    for b in input {
        switch b {
        case 0x22: body += Array("\\\"".utf8)
        case 0x5C: body += Array("\\\\".utf8)
        case 0..<0x20: body += Array(String(format: "\\u%04x", b).utf8)
        default: body.append(b)
        }
    }
    body += Array("\"}".utf8)
    let request = HTTPRequest(method: "POST", path: "/v1/captions",
                              headers: HTTPHeaders([("Content-Type", "application/json")]), body: body)
    do {
        let c = try CaptionRequest(request, limits: fuzzLimits)
        precondition(!c.image.isEmpty && c.beamSize == 2)
    } catch let e as APIError {
        precondition(e.status == 400, "unexpected status \(e.status)")
    } catch {
        preconditionFailure("unexpected error type \(error)")
    }
    return 0
}
