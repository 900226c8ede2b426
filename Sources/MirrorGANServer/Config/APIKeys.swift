// Bearer API keys: loaded from a file (one per line, '#' comments), compared in constant time.
import Foundation

public struct APIKeys: Sendable {
    private let keys: [[UInt8]]

    public init(keys: [String]) {
        self.keys = keys.map { Array($0.utf8) }
    }

    /// Reads `path`. Throws ConfigError if it cannot be read or holds no key (an empty file would otherwise
    /// silently lock every client out, or be mistaken for "auth off").
    public static func load(path: String) throws -> APIKeys {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("cannot read API key file \(path)")
        }
        let keys = String(decoding: data, as: UTF8.self)
            .split(whereSeparator: { $0.isNewline }) // "\r\n" is one Character
            .map { $0.trimmingASCIIWhitespace() }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !keys.isEmpty else { throw ConfigError("API key file \(path) holds no key") }
        return APIKeys(keys: keys)
    }

    public var count: Int { keys.count }

    /// True when the Authorization header carries one of the keys as a Bearer token.
    func accepts(authorization: String?) -> Bool {
        guard let auth = authorization else { return false }
        let parts = auth.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return false }
        let token = Array(parts[1].trimmingASCIIWhitespace().utf8)
        // Compare against every key so the time taken does not reveal which key (or how much of one) matched.
        var matched: UInt8 = 0
        for key in keys { matched |= APIKeys.constantTimeEqual(token, key) ? 1 : 0 }
        return matched == 1
    }

    /// Equality whose running time depends only on the lengths, not on where the bytes differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff: UInt8 = a.count == b.count ? 0 : 1
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }
}
