// POST /v1/chat/completions: OpenAI's chat-completions request in the vision message format, parsed into the
// one thing this server can do with it: caption the image of the last user message.
//
// The image is the `image_url` part of the last `user` message: `{"type": "image_url", "image_url": {"url": …}}`
// (or `"image_url": "…"`), where the URL is a `data:image/…;base64,` URI or the bare base64. Text parts and
// other messages are ignored (the captioner is not conditioned on text). Unknown members are ignored, as on
// every endpoint.

struct ChatCompletionRequest: Equatable {
    static let maxImageParts = 1

    var model: String?
    var image: [UInt8]
    var stream: Bool
    /// `stream_options.include_usage`: a last chunk with `usage` (OpenAI's spelling).
    var streamUsage: Bool
    /// `max_completion_tokens` or `max_tokens`: the caption is cut to this many tokens (finish_reason "length").
    var maxTokens: Int?
    var beamSize: Int

    /// Throws APIError 415 (not JSON) or 400 (syntax, types, no image, remote URL, n ≠ 1, beam_size outside the
    /// served engine's `limits`, …).
    init(_ request: HTTPRequest, limits: GenerationLimits) throws {
        let f = try JSONFields(jsonRequest: request)
        model = try f.string("model")
        stream = try f.bool("stream") ?? false
        streamUsage = false
        if let opts = f.node("stream_options"), opts != .null {
            guard case .object = opts else {
                throw APIError.invalidType("'stream_options' must be an object, got \(opts.typeName)", param: "stream_options")
            }
            switch opts["include_usage"] {
            case nil, .null?: break
            case let .bool(b)?: streamUsage = b
            case let v?:
                throw APIError.invalidType("'stream_options.include_usage' must be a boolean, got \(v.typeName)",
                                           param: "stream_options")
            }
        }
        if let n = try f.int("n", in: 1...128), n != 1 {
            throw APIError.unsupportedValue("'n' must be 1: the captioner gives one caption per image (beam search picks the best)",
                                            param: "n")
        }
        let completion = try f.int("max_completion_tokens", in: 1...1_000_000)
        let legacy = try f.int("max_tokens", in: 1...1_000_000)
        maxTokens = completion ?? legacy
        beamSize = try f.int("beam_size", in: 1...limits.maxBeamSize) ?? 1
        image = try ChatCompletionRequest.image(messages: f.node("messages"))
    }

    /// The bytes of the single image in the last user message.
    static func image(messages node: JSONNode?) throws -> [UInt8] {
        guard let node, node != .null else { throw APIError.missingField("messages") }
        guard case let .array(messages) = node, !messages.isEmpty else {
            throw APIError.invalidType("'messages' must be a non-empty array of message objects", param: "messages")
        }
        var lastUser: JSONNode?
        for (i, m) in messages.enumerated() {
            guard case .object = m else {
                throw APIError.invalidType("'messages[\(i)]' must be an object, got \(m.typeName)", param: "messages")
            }
            guard case let .string(role)? = m["role"] else {
                throw APIError.invalidType("'messages[\(i)].role' must be a string", param: "messages")
            }
            if role == "user" { lastUser = m }
        }
        let noImage = "the last user message must hold an image: a content part {\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,…\"}}"
        guard let content = lastUser?["content"] else { throw APIError.missingField("messages", message: noImage) }
        guard case let .array(parts) = content else {
            // A plain-text message: nothing to caption.
            throw APIError.missingField("messages", message: noImage)
        }
        var urls: [String] = []
        for part in parts {
            guard case .object = part else {
                throw APIError.invalidType("message content parts must be objects, got \(part.typeName)", param: "messages")
            }
            guard case let .string(type)? = part["type"] else {
                throw APIError.invalidType("a message content part needs a string 'type'", param: "messages")
            }
            guard type == "image_url" else { continue }  // text (and any other) parts are ignored
            switch part["image_url"] {
            case let .string(u)?: urls.append(u)
            case .object?:
                guard case let .string(u)? = part["image_url"]?["url"] else {
                    throw APIError.invalidType("'image_url.url' must be a string", param: "messages")
                }
                urls.append(u)
            default:
                throw APIError.invalidType("an image_url part needs 'image_url': {\"url\": string}", param: "messages")
            }
        }
        guard let url = urls.first else { throw APIError.missingField("messages", message: noImage) }
        guard urls.count <= maxImageParts else {
            throw APIError.unsupportedValue("the last user message holds \(urls.count) images; send one per request",
                                            param: "messages")
        }
        let lower = url.prefix(8).lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            throw APIError.unsupportedValue("remote image URLs are not fetched; send the image inline as a data: URI (data:image/jpeg;base64,…) or bare base64",
                                            param: "messages")
        }
        let bytes = try CaptionRequest.decodeBase64(url, field: "image_url.url")
        guard !bytes.isEmpty else { throw APIError.invalidImage("the image is empty") }
        return bytes
    }
}
