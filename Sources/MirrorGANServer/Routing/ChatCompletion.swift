// A caption as OpenAI's chat completion: the JSON object, or the `chat.completion.chunk` event stream.
//
// usage: `prompt_tokens` is 1 (the captioner sees the image as one global feature vector and reads no text),
// `completion_tokens` the caption's tokens (words), `total_tokens` their sum.

struct ChatCompletion {
    let tokens: [String]
    let finishReason: String
    let id: String
    let model: String
    let created: Int64

    static let promptTokens = 1

    init(caption: CaptionOutput, maxTokens: Int?, id: String, model: String, created: Int64) {
        if let maxTokens, caption.tokens.count > maxTokens {
            tokens = Array(caption.tokens.prefix(maxTokens))
            finishReason = "length"
        } else {
            tokens = caption.tokens
            finishReason = "stop"
        }
        self.id = id
        self.model = model
        self.created = created
    }

    var content: String { tokens.joined(separator: " ") }

    var usage: JSONValue {
        .object([
            ("prompt_tokens", .int(Int64(ChatCompletion.promptTokens))),
            ("completion_tokens", .int(Int64(tokens.count))),
            ("total_tokens", .int(Int64(ChatCompletion.promptTokens + tokens.count))),
        ])
    }

    var object: [(String, JSONValue)] {
        [
            ("id", .string(id)),
            ("object", .string("chat.completion")),
            ("created", .int(created)),
            ("model", .string(model)),
            ("choices", .array([.object([
                ("index", .int(0)),
                ("message", .object([("role", .string("assistant")), ("content", .string(content))])),
                ("logprobs", .null),
                ("finish_reason", .string(finishReason)),
            ])])),
            ("usage", usage),
        ]
    }

    /// Server-sent events: a first chunk with the role, one chunk per word (" word" after the first), a chunk
    /// with `finish_reason`, a usage chunk when asked (`choices: []`), then `data: [DONE]`.
    func eventStream(includeUsage: Bool) -> [UInt8] {
        var out: [UInt8] = []
        func event(_ choices: [JSONValue], usage: JSONValue? = nil) {
            var members: [(String, JSONValue)] = [
                ("id", .string(id)),
                ("object", .string("chat.completion.chunk")),
                ("created", .int(created)),
                ("model", .string(model)),
                ("choices", .array(choices)),
            ]
            if includeUsage { members.append(("usage", usage ?? .null)) }
            out += Array("data: ".utf8) + JSONWriter.object(members) + Array("\n\n".utf8)
        }
        func choice(_ delta: [(String, JSONValue)], finish: String? = nil) -> JSONValue {
            .object([
                ("index", .int(0)),
                ("delta", .object(delta)),
                ("logprobs", .null),
                ("finish_reason", finish.map { .string($0) } ?? .null),
            ])
        }
        event([choice([("role", .string("assistant")), ("content", .string(""))])])
        for (i, word) in tokens.enumerated() {
            event([choice([("content", .string(i == 0 ? word : " " + word))])])
        }
        event([choice([], finish: finishReason)])
        if includeUsage { event([], usage: usage) }
        out += Array("data: [DONE]\n\n".utf8)
        return out
    }
}
