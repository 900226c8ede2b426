// libFuzzer harness for the request JSON parser (Sources/MirrorGANServer/HTTP/JSONParser.swift) and the typed
// field access of the JSON inference routes (GenerationRequest, ChatCompletionRequest, JSONFields), plus a differential check against
// the response writer: whatever parses must write back (JSONWriter) to text that parses to the same tree.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Array(UnsafeBufferPointer(start: data, count: size))
    if let node = try? JSONParser.parse(body) {
        let text = JSONWriter.encode(value(node))
        guard let again = try? JSONParser.parse(text) else { preconditionFailure("writer output does not parse") }
        precondition(again == normalized(node), "JSON round trip changed the value")
    }
    let request = HTTPRequest(method: "POST", path: "/v1/images/generations",
                              headers: HTTPHeaders([("Content-Type", "application/json")]), body: body)
    do {
        let g = try GenerationRequest(request, limits: fuzzLimits)
        precondition((1...fuzzLimits.maxImages).contains(g.n))
        precondition((1...fuzzLimits.maxBeamSize).contains(g.beamSize))
    } catch let e as APIError {
        precondition(e.status == 400, "unexpected status \(e.status)")
        _ = e.response(requestID: "fuzz")
    } catch {
        preconditionFailure("unexpected error type \(error)")
    }
    let chat = HTTPRequest(method: "POST", path: "/v1/chat/completions",
                           headers: HTTPHeaders([("Content-Type", "application/json")]), body: body)
    do {
        let c = try ChatCompletionRequest(chat, limits: fuzzLimits)
        precondition(!c.image.isEmpty && (1...fuzzLimits.maxBeamSize).contains(c.beamSize))
        precondition(c.maxTokens.map { $0 >= 1 } ?? true)
    } catch let e as APIError {
        precondition(e.status == 400, "unexpected status \(e.status)")
        _ = e.response(requestID: "fuzz")
    } catch {
        preconditionFailure("unexpected error type \(error)")
    }
    return 0
}

// JSONValue has no raw-number case, so numbers travel as their literal text (a string) in both trees.
func value(_ n: JSONNode) -> JSONValue {
    switch n {
    case let .object(m): return .object(m.map { ($0.0, value($0.1)) })
    case let .array(a): return .array(a.map(value))
    case let .string(s): return .string(s)
    case let .number(t): return .string(t)
    case let .bool(b): return .bool(b)
    case .null: return .null
    }
}

func normalized(_ n: JSONNode) -> JSONNode {
    switch n {
    case let .object(m): return .object(m.map { ($0.0, normalized($0.1)) })
    case let .array(a): return .array(a.map(normalized))
    case let .number(t): return .string(t)
    default: return n
    }
}
