// Typed access to the members of a JSON request object, with the API's 400 messages.
// Absent members and explicit nulls both read as "not given" for optional fields; unknown members are ignored.

struct JSONFields {
    private let root: JSONNode

    /// Parses a request body that must be one JSON object.
    init(body: [UInt8]) throws {
        if body.isEmpty { throw APIError.invalidJSON("request body is empty; expected a JSON object") }
        let node: JSONNode
        do {
            node = try JSONParser.parse(body)
        } catch let e as JSONSyntaxError {
            throw APIError.invalidJSON("invalid JSON: \(e.message)")
        }
        guard case .object = node else {
            throw APIError.invalidJSON("request body must be a JSON object, got \(node.typeName)")
        }
        root = node
    }

    /// Parses the body of a request that must declare JSON (`application/json` or any `+json` type): the one
    /// place the JSON endpoints' media-type guard lives. Throws 415 for any other Content-Type.
    init(jsonRequest request: HTTPRequest) throws {
        guard let mt = request.mediaType, JSONFields.isJSON(mediaType: mt) else {
            throw APIError.unsupportedMediaType(request.headers["Content-Type"], expected: "application/json")
        }
        try self.init(body: request.body)
    }

    /// `application/json` or a structured-syntax `+json` type (a lower-cased media type without parameters).
    static func isJSON(mediaType mt: String) -> Bool { mt == "application/json" || mt.hasSuffix("+json") }

    private func given(_ key: String) -> JSONNode? {
        guard let v = root[key] else { return nil }
        if case .null = v { return nil }
        return v
    }

    func has(_ key: String) -> Bool { given(key) != nil }

    /// The member as given (null included), for nested structures the typed readers do not cover.
    func node(_ key: String) -> JSONNode? { root[key] }

    func string(_ key: String) throws -> String? {
        guard let v = given(key) else { return nil }
        guard case let .string(s) = v else { throw APIError.invalidType("'\(key)' must be a string, got \(v.typeName)", param: key) }
        return s
    }

    /// A string member that may be absent but not null (a required member's alternative spellings).
    func nonNullString(_ key: String) throws -> String? {
        guard let v = root[key] else { return nil }
        guard case let .string(s) = v else { throw APIError.invalidType("'\(key)' must be a string, got \(v.typeName)", param: key) }
        return s
    }

    func requiredString(_ key: String) throws -> String {
        guard let s = try nonNullString(key) else { throw APIError.missingField(key) }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = given(key) else { return nil }
        guard case let .bool(b) = v else { throw APIError.invalidType("'\(key)' must be a boolean, got \(v.typeName)", param: key) }
        return b
    }

    /// An integer literal (no fraction or exponent) within `range`.
    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = given(key) else { return nil }
        let text = try integerText(key, v)
        guard let i = Int(text), range.contains(i) else {
            throw APIError.invalidValue("'\(key)' must be between \(range.lowerBound) and \(range.upperBound), got \(text)", param: key)
        }
        return i
    }

    /// An unsigned 64-bit integer; `-1` reads as "random" (nil), like an absent member.
    func seed(_ key: String) throws -> UInt64? {
        guard let v = given(key) else { return nil }
        let text = try integerText(key, v)
        if text == "-1" { return nil }
        guard let u = UInt64(text) else {
            throw APIError.invalidValue("'\(key)' must be between 0 and \(UInt64.max) (or -1 for random), got \(text)", param: key)
        }
        return u
    }

    private func integerText(_ key: String, _ v: JSONNode) throws -> String {
        guard case let .number(text) = v else { throw APIError.invalidType("'\(key)' must be an integer, got \(v.typeName)", param: key) }
        guard !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
            throw APIError.invalidType("'\(key)' must be an integer, got \(text)", param: key)
        }
        return text
    }
}
