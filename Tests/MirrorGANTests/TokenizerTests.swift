import Foundation
import Testing
@testable import MirrorGAN

@Suite("Tokenizer: official cleaning and hostile captions")
struct TokenizerTests {
    let tok = Tokenizer(vocabulary: ["<end>", "this", "bird", "has", "a", "red", "crown", "caf", "x_y"])

    @Test func officialCleaning() {
        #expect(Tokenizer.clean("This BIRD, has a   red-crown!") == ["this", "bird", "has", "a", "red", "crown"])
        #expect(Tokenizer.clean("café x_y 42") == ["caf", "x_y", "42"])  // non-ASCII stripped per token
        #expect(Tokenizer.clean("a\u{FFFD}\u{FFFD}bird") == ["a", "bird"])
        #expect(Tokenizer.clean("日本 bird") == ["bird"])  // a token that becomes empty is dropped
    }

    @Test func unknownWordsAreDroppedAndReported() throws {
        let t = try tok.tokenize("this purple bird has a red crown")
        #expect(t.ids == [1, 2, 3, 4, 5, 6])
        #expect(t.unknownWords == ["purple"])
        #expect(!t.truncated)
    }

    @Test func hostileCaptionsGiveTypedErrors() {
        #expect(throws: CaptionError.empty) { try tok.tokenize("") }
        #expect(throws: CaptionError.empty) { try tok.tokenize("  !!! ,, ") }
        #expect(throws: CaptionError.noKnownWords(unknown: ["zebra", "giraffe"])) { try tok.tokenize("zebra giraffe") }
        let huge = Array(repeating: "bird", count: 10_000).joined(separator: " ")
        #expect(throws: CaptionError.tooLong(bytes: huge.utf8.count, limit: Tokenizer.maxCaptionBytes)) { try tok.tokenize(huge) }
        #expect(throws: CaptionError.controlCharacter(codePoint: 0x07)) { try tok.tokenize("bird\u{07}") }
        #expect(throws: CaptionError.controlCharacter(codePoint: 0)) { try tok.tokenize("b\u{00}") }
    }

    @Test func overLongCaptionsAreTruncatedAndReported() throws {
        let text = Array(repeating: "bird", count: Tokenizer.maxWords + 5).joined(separator: " ")
        let t = try tok.tokenize(text)
        #expect(t.ids.count == Tokenizer.maxWords)
        #expect(t.truncated)
    }

    @Test func whitespaceControlsAreAllowed() throws {
        #expect(try tok.tokenize("this\tbird\nhas\r\na red crown").ids.count == 6)
    }
}
