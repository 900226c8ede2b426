// libFuzzer harness for multipart/form-data (Sources/MirrorGANServer/HTTP/Multipart.swift) as POST /v1/captions
// sees it. The first line of the input is the Content-Type header value (so the boundary parameter is fuzzed
// too); the rest is the body.
// Invariants: parts' bodies are slices of the body; CaptionRequest either succeeds with a non-empty image
// and a beam size in range, or throws a 400.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let newline = input.firstIndex(of: 10) ?? input.count
    let contentType = String(decoding: input[..<newline], as: UTF8.self)
    let body = newline < input.count ? Array(input[(newline + 1)...]) : []
    if let boundary = Multipart.boundary(contentType: contentType) {
        precondition((1...70).contains(boundary.utf8.count))
        if let parts = try? Multipart.parse(body: body, boundary: boundary) {
            for p in parts { precondition(p.body.startIndex >= 0 && p.body.endIndex <= body.count) }
        }
    }
    let request = HTTPRequest(method: "POST", path: "/v1/captions",
                              headers: HTTPHeaders([("Content-Type", contentType)]), body: body)
    do {
        let c = try CaptionRequest(request, limits: fuzzLimits)
        precondition(!c.image.isEmpty)
        precondition((1...fuzzLimits.maxBeamSize).contains(c.beamSize))
    } catch let e as APIError {
        precondition(e.status == 400 || e.status == 415, "unexpected status \(e.status)")
    } catch {
        preconditionFailure("unexpected error type \(error)")
    }
    return 0
}
