/// Caption → token ids with the official cleaning (spec §1.3): the two-character sequence U+FFFD U+FFFD
/// becomes a space; lower-case; runs of word characters (Python's `\w`: letters, digits, underscore);
/// non-ASCII characters are stripped from each token and empty tokens dropped. Out-of-vocabulary words are
/// dropped, as the official free-text inference does, and reported.
public struct Tokenizer: Sendable {
    /// Captions longer than this many UTF-8 bytes are refused (the official code has no limit; a server needs one).
    public static let maxCaptionBytes = 2048
    /// At most this many known words are kept (the first ones); more are reported as `truncated`.
    public static let maxWords = 64

    public let wordToIndex: [String: Int]

    public init(vocabulary: [String]) {
        var map = [String: Int](minimumCapacity: vocabulary.count)
        for (i, w) in vocabulary.enumerated() where map[w] == nil { map[w] = i }
        wordToIndex = map
    }

    /// Splits `text` into cleaned tokens (no vocabulary look-up).
    public static func clean(_ text: String) -> [String] {
        let lowered = text.replacingOccurrences(of: "\u{FFFD}\u{FFFD}", with: " ").lowercased()
        var tokens = [String](), current = ""
        func flush() {
            let ascii = String(String.UnicodeScalarView(current.unicodeScalars.filter { $0.isASCII }))
            if !ascii.isEmpty { tokens.append(ascii) }
            current = ""
        }
        for scalar in lowered.unicodeScalars {
            if isWordCharacter(scalar) {
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                flush()
            }
        }
        if !current.isEmpty { flush() }
        return tokens
    }

    /// Python's `\w` for `str`: `isalnum()` (letter categories L*, or a numeric value) or underscore.
    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        if s == "_" { return true }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return s.properties.numericType != nil
        }
    }

    public func tokenize(_ text: String) throws -> TokenizedCaption {
        let size = text.utf8.count
        guard size <= Self.maxCaptionBytes else { throw CaptionError.tooLong(bytes: size, limit: Self.maxCaptionBytes) }
        if let bad = text.unicodeScalars.first(where: { $0.properties.generalCategory == .control && !" \t\n\r".unicodeScalars.contains($0) }) {
            throw CaptionError.controlCharacter(codePoint: bad.value)
        }
        let words = Self.clean(text)
        guard !words.isEmpty else { throw CaptionError.empty }
        var ids = [Int](), known = [String](), unknown = [String]()
        for w in words {
            if let id = wordToIndex[w], id != 0 {
                ids.append(id)
                known.append(w)
            } else {
                unknown.append(w)
            }
        }
        guard !ids.isEmpty else { throw CaptionError.noKnownWords(unknown: unknown) }
        let truncated = ids.count > Self.maxWords
        return TokenizedCaption(ids: Array(ids.prefix(Self.maxWords)), tokens: Array(known.prefix(Self.maxWords)),
                                unknownWords: unknown, truncated: truncated)
    }
}

public struct TokenizedCaption: Sendable, Equatable {
    /// Vocabulary ids of the known words, in order (no padding, no `<end>`).
    public var ids: [Int]
    public var tokens: [String]
    /// Cleaned words not in the vocabulary (dropped).
    public var unknownWords: [String]
    /// More than `Tokenizer.maxWords` known words: only the first ones were used.
    public var truncated: Bool

    /// A caption already in ids (`mirrorgan eval` feeds the caption bank's captions this way).
    public init(ids: [Int], tokens: [String], unknownWords: [String] = [], truncated: Bool = false) {
        self.ids = ids
        self.tokens = tokens
        self.unknownWords = unknownWords
        self.truncated = truncated
    }
}

/// Why a caption cannot be used. The server answers 422. (Invalid UTF-8 never gets here: a caption arrives as a
/// JSON string, and the server's JSON parser refuses invalid UTF-8 with 400 `invalid_json` first.)
public enum CaptionError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case noKnownWords(unknown: [String])
    case tooLong(bytes: Int, limit: Int)
    case controlCharacter(codePoint: UInt32)

    public var code: String {
        switch self {
        case .empty: return "empty_caption"
        case .noKnownWords: return "no_known_words"
        case .tooLong: return "caption_too_long"
        case .controlCharacter: return "control_character"
        }
    }

    public var description: String {
        switch self {
        case .empty: return "the caption has no words"
        case let .noKnownWords(unknown):
            return "none of the caption's words are in the model's vocabulary: \(unknown.prefix(10).joined(separator: ", "))"
        case let .tooLong(bytes, limit): return "the caption is \(bytes) bytes long; the limit is \(limit)"
        case let .controlCharacter(cp): return String(format: "the caption contains the control character U+%04X", cp)
        }
    }
}

import Foundation
