// POST /v1/captions: the image from a raw image body (image/png, image/jpeg, image/webp or
// application/octet-stream), a multipart/form-data field `image`, or JSON {"image": base64}; beam_size from the
// query, the multipart field, or the JSON member. The bytes are not inspected here: the engine owns decoding
// (format detection, pixel limit), so one place decides what an image is.
import Foundation

struct CaptionRequest {
    /// Raw-body media types; the content is recognised by its signature, not by the declared type.
    static let rawImageTypes: Set<String> = ["image/png", "image/jpeg", "image/jpg", "image/pjpeg", "image/webp",
                                             "application/octet-stream"]

    var image: [UInt8]
    var beamSize: Int

    init(image: [UInt8], beamSize: Int = 1) {
        self.image = image
        self.beamSize = beamSize
    }

    /// Throws APIError 415 (unsupported Content-Type) or 400 (missing/invalid image, or beam_size outside the
    /// served engine's `limits`).
    init(_ request: HTTPRequest, limits: GenerationLimits) throws {
        let maxBeam = limits.maxBeamSize
        var beam = try CaptionRequest.beamSize(text: request.queryValue("beam_size"), source: "query parameter", max: maxBeam)
        let image: [UInt8]
        switch request.mediaType {
        case let mt? where CaptionRequest.rawImageTypes.contains(mt):
            image = request.body
        case "multipart/form-data"?:
            guard let ct = request.headers["Content-Type"], let boundary = Multipart.boundary(contentType: ct) else {
                throw APIError(status: 400, code: "invalid_multipart", message: "multipart/form-data without a valid boundary")
            }
            let parts = try Multipart.parse(body: request.body, boundary: boundary)
            guard let part = parts.first(where: { $0.name == "image" }) else { throw APIError.missingField("image") }
            image = Array(part.body)
            if let field = parts.first(where: { $0.name == "beam_size" }) {
                beam = try CaptionRequest.beamSize(text: String(decoding: field.body, as: UTF8.self), source: "field", max: maxBeam)
            }
        case let mt? where JSONFields.isJSON(mediaType: mt):
            let f = try JSONFields(body: request.body)
            let b64 = try f.requiredString("image")
            image = try CaptionRequest.decodeBase64(b64, field: "image")
            if let b = try f.int("beam_size", in: 1...maxBeam) { beam = b }
        default:
            throw APIError.unsupportedMediaType(request.headers["Content-Type"],
                                                expected: "image/png, image/jpeg, image/webp, application/octet-stream, multipart/form-data or application/json")
        }
        guard !image.isEmpty else { throw APIError.invalidImage("the image is empty") }
        self.image = image
        beamSize = beam ?? 1
    }

    private static func beamSize(text: String?, source: String, max: Int) throws -> Int? {
        guard let text else { return nil }
        let t = text.trimmingASCIIWhitespace()
        guard let b = Int(t), (1...max).contains(b) else {
            throw APIError.invalidValue("'beam_size' \(source) must be an integer between 1 and \(max), got \"\(t.prefix(32))\"")
        }
        return b
    }

    /// Standard base64 (whitespace allowed), optionally as a data: URL.
    static func decodeBase64(_ text: String, field: String) throws -> [UInt8] {
        var s = Substring(text)
        if s.hasPrefix("data:") {
            guard let comma = s.firstIndex(of: ","), s[..<comma].hasSuffix(";base64") else {
                throw APIError.invalidImage("'\(field)' data URL must be base64-encoded (data:<type>;base64,<data>)")
            }
            s = s[s.index(after: comma)...]
        }
        guard let data = Data(base64Encoded: String(s), options: .ignoreUnknownCharacters) else {
            throw APIError.invalidImage("'\(field)' is not valid base64")
        }
        return [UInt8](data)
    }
}
