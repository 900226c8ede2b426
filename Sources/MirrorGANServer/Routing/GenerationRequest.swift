// POST /v1/images/generations: the JSON body parsed into native types, with the API's validation.
// The body is this server's own (`caption`, `seed`, …) and OpenAI's Images API request (`prompt`, `model`,
// `size`, `quality`, `style`, `user`, `response_format`); docs/SERVER.md has the table of every field.

struct GenerationRequest: Equatable {
    enum Format: String { case b64JSON = "b64_json", png }

    /// The one size the generator draws (OpenAI's `size` spelling).
    static let size = "256x256"
    /// OpenAI `quality` values that ask for what this server does (one quality); others are refused.
    static let qualities: Set<String> = ["standard", "auto"]
    /// OpenAI `style` values, accepted and ignored (they steer DALL·E 3's prompt rewriting; there is none here).
    static let styles: Set<String> = ["vivid", "natural"]

    var caption: String
    /// nil = pick a random seed.
    var seed: UInt64?
    var n: Int
    /// The body's response_format, if given.
    var format: Format?
    var returnAttention: Bool
    var beamSize: Int
    /// OpenAI's `model`, checked against the served model by the router (404 model_not_found).
    var model: String?

    /// Throws APIError 415 (not JSON) or 400 (syntax, types, ranges, missing caption, values this server cannot
    /// honour). `n` and `beam_size` are checked against the served engine's `limits`.
    init(_ request: HTTPRequest, limits: GenerationLimits) throws {
        let f = try JSONFields(jsonRequest: request)
        switch (try f.nonNullString("caption"), try f.nonNullString("prompt")) {
        case let (c?, p?) where c != p:
            throw APIError.invalidValue("'caption' and 'prompt' are both given and differ; send one of them (they mean the same)",
                                        param: "prompt")
        case let (c?, _): caption = c
        case let (nil, p?): caption = p
        case (nil, nil):
            throw APIError.missingField("prompt", message: "'prompt' (or its synonym 'caption') is required")
        }
        model = try f.string("model")
        seed = try f.seed("seed")
        n = try f.int("n", in: 1...limits.maxImages) ?? 1
        if let s = try f.string("response_format") {
            if s == "url" {
                throw APIError.unsupportedValue("'response_format' \"url\" is not supported: this server does not host images; use \"b64_json\" (or \"png\" for the raw bytes)",
                                                param: "response_format")
            }
            guard let fmt = Format(rawValue: s) else {
                throw APIError.invalidValue("'response_format' must be \"b64_json\" or \"png\", got \"\(s.prefix(64))\"",
                                            param: "response_format")
            }
            format = fmt
        } else {
            format = nil
        }
        if let size = try f.string("size"), size != GenerationRequest.size {
            throw APIError.unsupportedValue("'size' must be \"\(GenerationRequest.size)\", the only size this model draws; got \"\(size.prefix(64))\"",
                                            param: "size")
        }
        if let q = try f.string("quality"), !GenerationRequest.qualities.contains(q) {
            throw APIError.unsupportedValue("'quality' must be \"standard\" or \"auto\" (this model has one quality); got \"\(q.prefix(64))\"",
                                            param: "quality")
        }
        if let st = try f.string("style"), !GenerationRequest.styles.contains(st) {
            throw APIError.invalidValue("'style' must be \"vivid\" or \"natural\" (accepted and ignored); got \"\(st.prefix(64))\"",
                                        param: "style")
        }
        if let of = try f.string("output_format"), of != "png" {
            throw APIError.unsupportedValue("'output_format' must be \"png\", the only format this server writes; got \"\(of.prefix(64))\"",
                                            param: "output_format")
        }
        _ = try f.string("user")  // accepted (a string) and ignored; never logged
        returnAttention = try f.bool("return_attention") ?? false
        beamSize = try f.int("beam_size", in: 1...limits.maxBeamSize) ?? 1
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
