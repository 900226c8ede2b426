// The one error shape of the API: {"error": {"code", "message", "type", "param", "request_id"}} (OpenAI's error
// object, which has code, message, type and param, plus the request ID).
// Every non-2xx answer the router produces is built here, so status, code and type stay consistent.

/// An error answered to the client. `code` is a stable machine-readable string; `type` groups codes.
public struct APIError: Error, Sendable, Equatable {
    public var status: Int
    public var code: String
    public var message: String
    /// The request field the error is about (OpenAI's `param`), when there is one.
    public var param: String?
    /// Extra headers (Retry-After, Allow, WWW-Authenticate).
    public var headers: [String: String]

    public init(status: Int, code: String, message: String, param: String? = nil, headers: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers
    }

    /// The error family clients can switch on.
    public var type: String {
        switch status {
        case 401: return "authentication_error"
        case 503: return "unavailable_error"
        case 504: return "timeout_error"
        case 501: return "invalid_request_error"  // valid request, but the served model cannot do it
        case 500...: return "server_error"
        default: return "invalid_request_error"
        }
    }

    func response(requestID: String) -> HTTPResponse {
        let body = JSONWriter.object([
            ("error", .object([
                ("code", .string(code)),
                ("message", .string(message)),
                ("type", .string(type)),
                ("param", param.map { .string($0) } ?? .null),
                ("request_id", .string(requestID)),
            ])),
        ])
        var r = HTTPResponse(status: status, contentType: "application/json", body: body)
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { r.headers.add(k, v) }
        return r
    }
}

extension APIError {
    static func invalidJSON(_ message: String) -> APIError {
        APIError(status: 400, code: "invalid_json", message: message)
    }
    static func invalidType(_ message: String, param: String? = nil) -> APIError {
        APIError(status: 400, code: "invalid_type", message: message, param: param)
    }
    static func missingField(_ field: String, message: String? = nil) -> APIError {
        APIError(status: 400, code: "missing_field", message: message ?? "'\(field)' is required", param: field)
    }
    static func invalidValue(_ message: String, param: String? = nil) -> APIError {
        APIError(status: 400, code: "invalid_value", message: message, param: param)
    }
    /// A value this server understands but cannot honour (`size`, `response_format: url`, `stream` options…).
    static func unsupportedValue(_ message: String, param: String) -> APIError {
        APIError(status: 400, code: "unsupported_value", message: message, param: param)
    }
    /// OpenAI's answer to an unknown `model`.
    static func modelNotFound(_ requested: String, served: String) -> APIError {
        APIError(status: 404, code: "model_not_found",
                 message: "the model '\(requested.prefix(128))' does not exist; this server serves '\(served)'", param: "model")
    }
    static func invalidImage(_ message: String) -> APIError {
        APIError(status: 400, code: "invalid_image", message: message)
    }
    static func notFound(_ path: String) -> APIError {
        APIError(status: 404, code: "not_found", message: "no route for \(path)")
    }
    static func methodNotAllowed(_ method: String, allow: [String]) -> APIError {
        APIError(status: 405, code: "method_not_allowed", message: "\(method) is not allowed here",
                 headers: ["Allow": allow.joined(separator: ", ")])
    }
    static func tooLarge(limit: Int) -> APIError {
        APIError(status: 413, code: "payload_too_large", message: "request body exceeds \(limit) bytes")
    }
    static func unsupportedMediaType(_ got: String?, expected: String) -> APIError {
        APIError(status: 415, code: "unsupported_media_type",
                 message: "Content-Type \(got.map { "'\($0)'" } ?? "missing"); expected \(expected)")
    }
    static let unauthorized = APIError(status: 401, code: "unauthorized",
                                       message: "a valid API key is required (Authorization: Bearer <key>)",
                                       headers: ["WWW-Authenticate": "Bearer"])
    static func queueFull(retryAfter: Int) -> APIError {
        APIError(status: 503, code: "queue_full", message: "the inference queue is full; retry later",
                 headers: ["Retry-After": String(retryAfter)])
    }
    static let notReady = APIError(status: 503, code: "not_ready", message: "the model is still loading",
                                   headers: ["Retry-After": "5"])
    static let draining = APIError(status: 503, code: "draining", message: "the server is shutting down",
                                   headers: ["Retry-After": "5"])
    static func timeout(seconds: Double) -> APIError {
        APIError(status: 504, code: "timeout",
                 message: "the request waited longer than \(formatSeconds(seconds)) s in the queue")
    }
    /// A request the served model cannot answer at all (501): captioning with a model that has no captioner.
    static func noCaptioner(model: String) -> APIError {
        APIError(status: 501, code: "no_captioner", message: noCaptionerMessage(model: model))
    }
    static func noCaptionerMessage(model: String) -> String {
        "the model '\(model)' has no captioner (STREAM): it generates and scores images but cannot caption them "
            + "or redescribe its images"
    }
    static func internalError(_ message: String) -> APIError {
        APIError(status: 500, code: "internal_error", message: message)
    }

    /// Maps the engine's errors onto HTTP.
    static func from(engine error: Error) -> APIError {
        switch error {
        case let e as EngineError:
            switch e {
            case let .invalidInput(code, message): return APIError(status: 422, code: code, message: message)
            case let .badImage(message): return .invalidImage(message)
            case let .imageTooLarge(message): return APIError(status: 413, code: "image_too_large", message: message)
            case let .notSupported(code, message): return APIError(status: 501, code: code, message: message)
            case let .internalFailure(message): return .internalError(message)
            }
        case let e as APIError:
            return e
        default:
            return .internalError("inference failed: \(error)")
        }
    }
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() && abs(s) < 1e15 ? String(Int64(s)) : String(s)
}
