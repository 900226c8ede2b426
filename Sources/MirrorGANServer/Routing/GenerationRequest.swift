// POST /v1/images/generations: the JSON body parsed into native types, with the API's validation.

struct GenerationRequest: Equatable {
    enum Format: String { case b64JSON = "b64_json", png }

    static let maxImages = 8
    static let maxBeamSize = 8

    var caption: String
    /// nil = pick a random seed.
    var seed: UInt64?
    var n: Int
    /// The body's response_format, if given.
    var format: Format?
    var returnAttention: Bool
    var beamSize: Int

    init(caption: String, seed: UInt64? = nil, n: Int = 1, format: Format? = nil, returnAttention: Bool = false,
         beamSize: Int = 1) {
        self.caption = caption
        self.seed = seed
        self.n = n
        self.format = format
        self.returnAttention = returnAttention
        self.beamSize = beamSize
    }

    /// Throws APIError 415 (not JSON) or 400 (syntax, types, ranges, missing caption).
    init(_ request: HTTPRequest) throws {
        guard let mt = request.mediaType, mt == "application/json" || mt.hasSuffix("+json") else {
            throw APIError.unsupportedMediaType(request.headers["Content-Type"], expected: "application/json")
        }
        let f = try JSONFields(body: request.body)
        caption = try f.requiredString("caption")
        seed = try f.seed("seed")
        n = try f.int("n", in: 1...GenerationRequest.maxImages) ?? 1
        if let s = try f.string("response_format") {
            guard let fmt = Format(rawValue: s) else {
                throw APIError.invalidValue("'response_format' must be \"b64_json\" or \"png\", got \"\(s)\"")
            }
            format = fmt
        } else {
            format = nil
        }
        returnAttention = try f.bool("return_attention") ?? false
        beamSize = try f.int("beam_size", in: 1...GenerationRequest.maxBeamSize) ?? 1
    }

    /// Raw PNG when the body asks for it, or when it does not choose and Accept prefers image/png.
    func wantsPNG(accept: String?) -> Bool {
        switch format {
        case .png?: return true
        case .b64JSON?: return false
        case nil: return AcceptHeader.prefersPNG(accept)
        }
    }
}

enum AcceptHeader {
    /// True when the Accept header ranks image/png above application/json (q-values; wildcards ignored).
    static func prefersPNG(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var png = 0.0, json = 0.0
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";")
            guard let type = parts.first?.trimmingASCIIWhitespace().lowercased() else { continue }
            var q = 1.0
            for p in parts.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingASCIIWhitespace() == "q", let v = Double(kv[1].trimmingASCIIWhitespace()) {
                    q = v
                }
            }
            if type == "image/png" { png = max(png, q) }
            if type == "application/json" { json = max(json, q) }
        }
        return png > 0 && png > json
    }
}
