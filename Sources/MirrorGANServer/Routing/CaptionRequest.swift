// POST /v1/captions: the image from a raw image/png body, a multipart/form-data field `image`, or JSON
// {"image": base64}; beam_size from the query, the multipart field, or the JSON member.
import Foundation

struct CaptionRequest {
    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    var png: [UInt8]
    var beamSize: Int

    init(png: [UInt8], beamSize: Int = 1) {
        self.png = png
        self.beamSize = beamSize
    }

    /// Throws APIError 415 (unsupported Content-Type) or 400 (missing/invalid image or beam_size).
    init(_ request: HTTPRequest) throws {
        var beam = try CaptionRequest.beamSize(text: request.queryValue("beam_size"), source: "query parameter")
        let image: [UInt8]
        switch request.mediaType {
        case "image/png"?:
            image = request.body
        case "multipart/form-data"?:
            guard let ct = request.headers["Content-Type"], let boundary = Multipart.boundary(contentType: ct) else {
                throw APIError(status: 400, code: "invalid_multipart", message: "multipart/form-data without a valid boundary")
            }
            let parts = try Multipart.parse(body: request.body, boundary: boundary)
            guard let part = parts.first(where: { $0.name == "image" }) else { throw APIError.missingField("image") }
            image = Array(part.body)
            if let field = parts.first(where: { $0.name == "beam_size" }) {
                beam = try CaptionRequest.beamSize(text: String(decoding: field.body, as: UTF8.self), source: "field")
            }
        case let mt? where mt == "application/json" || mt.hasSuffix("+json"):
            let f = try JSONFields(body: request.body)
            let b64 = try f.requiredString("image")
            image = try CaptionRequest.decodeBase64(b64)
            if let b = try f.int("beam_size", in: 1...GenerationRequest.maxBeamSize) { beam = b }
        default:
            throw APIError.unsupportedMediaType(request.headers["Content-Type"],
                                                expected: "image/png, multipart/form-data or application/json")
        }
        guard !image.isEmpty else { throw APIError.invalidImage("the image is empty") }
        // A cheap check before taking a queue slot; the engine does the real decoding.
        guard image.starts(with: CaptionRequest.pngSignature) else {
            throw APIError.invalidImage("the image is not a PNG (bad signature)")
        }
        png = image
        beamSize = beam ?? 1
    }

    private static func beamSize(text: String?, source: String) throws -> Int? {
        guard let text else { return nil }
        let t = text.trimmingASCIIWhitespace()
        guard let b = Int(t), (1...GenerationRequest.maxBeamSize).contains(b) else {
            throw APIError.invalidValue("'beam_size' \(source) must be an integer between 1 and \(GenerationRequest.maxBeamSize), got \"\(t.prefix(32))\"")
        }
        return b
    }

    /// Standard base64 (whitespace allowed), optionally as a data: URL.
    static func decodeBase64(_ text: String) throws -> [UInt8] {
        var s = Substring(text)
        if s.hasPrefix("data:"), let comma = s.firstIndex(of: ",") {
            guard s[..<comma].hasSuffix(";base64") else {
                throw APIError.invalidImage("'image' data URL must be base64-encoded")
            }
            s = s[s.index(after: comma)...]
        }
        guard let data = Data(base64Encoded: String(s), options: .ignoreUnknownCharacters) else {
            throw APIError.invalidImage("'image' is not valid base64")
        }
        return [UInt8](data)
    }
}
