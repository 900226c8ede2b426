// libFuzzer harness for Sources/MirrorGAN/Pipeline/Tokenizer.swift: the caption of every generation request goes
// through `tokenize(_:)` as the Swift String the JSON parser made of it (which has refused invalid UTF-8 already),
// so the input bytes are decoded as any String could be: invalid sequences become U+FFFD.
// Invariants checked besides "no crash": ids/tokens agree with the vocabulary, at most maxWords ids, every
// token is non-empty ASCII, and `clean` never yields an empty or non-ASCII token.

let vocabulary = ["<end>", "a", "bird", "small", "red", "black", "crown", "with", "wings", "the", "this", "has",
                  "yellow", "blue", "white", "belly", "beak", "short", "long", "tail", "and", "is", "of", "_", "1",
                  "2", "cafe", "naive", "x"]
let tokenizer = Tokenizer(vocabulary: vocabulary)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    do {
        let t = try tokenizer.tokenize(text)
        precondition(!t.ids.isEmpty && t.ids.count <= Tokenizer.maxWords)
        precondition(t.ids.count == t.tokens.count)
        for (id, word) in zip(t.ids, t.tokens) {
            precondition(id > 0 && id < vocabulary.count && vocabulary[id] == word, "id/token mismatch")
        }
        for w in t.unknownWords { precondition(!w.isEmpty && w.unicodeScalars.allSatisfy(\.isASCII)) }
    } catch let e as CaptionError {
        _ = e.code
        _ = e.description
        if case .tooLong = e { precondition(text.utf8.count > Tokenizer.maxCaptionBytes) }
    } catch {
        preconditionFailure("unexpected error type \(error)")
    }
    // clean() on arbitrary (lossily decoded) text must keep its own invariants.
    if size <= Tokenizer.maxCaptionBytes {
        for token in Tokenizer.clean(text) {
            precondition(!token.isEmpty && token.unicodeScalars.allSatisfy(\.isASCII), "bad token")
        }
    }
    return 0
}
