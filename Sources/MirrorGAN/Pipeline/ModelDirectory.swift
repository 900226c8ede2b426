import Crypto
import Foundation

/// The files of a model directory (docs/MODEL_FORMAT.md) and their MANIFEST check.
public enum ModelDirectory {
    /// The weight files every model has; STREAM's (`stream_encoder`, `stream_decoder`, and `stream_backbone` where
    /// STREAM has its own trunk) are required only when model.json has them (`weightFiles(_:)`).
    public static let safetensorsFiles = ["text_encoder", "generator", "backbone", "image_encoder"].map { $0 + ".safetensors" }
    public static let requiredFiles = ["model.json", "vocab.json", "caption_bank.json"] + safetensorsFiles

    /// Every weight file the model `config` describes.
    public static func weightFiles(_ config: ModelConfig) -> [String] {
        var files = safetensorsFiles
        if config.stream != nil { files += ["stream_encoder.safetensors", "stream_decoder.safetensors"] }
        if config.stream != nil && config.streamBackbone != nil { files.append("stream_backbone.safetensors") }
        return files
    }

    /// Fails naming the first of `files` without a MANIFEST entry (`verify` has checked every entry's sha256).
    public static func requireEntries(_ files: [String], in manifest: [String: String]) throws {
        for file in files where manifest[file] == nil { throw ModelLoadError.manifestMissingEntry(file: file) }
    }

    /// Parses `MANIFEST` (sha256sum format: `<64 hex>  <file>` per line).
    public static func readManifest(_ directory: String) throws -> [String: String] {
        let path = directory + "/MANIFEST"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ModelLoadError.missingFile(file: "MANIFEST")
        }
        var entries = [String: String]()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let parts = raw.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].count == 64, parts[0].allSatisfy(\.isHexDigit) else {
                throw ModelLoadError.invalidConfig(file: "MANIFEST", message: "line \(n + 1) is not '<sha256>  <file>'")
            }
            let name = parts[1].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "*", with: "")
            guard !name.contains("/") else {
                throw ModelLoadError.invalidConfig(file: "MANIFEST", message: "line \(n + 1) names a path outside the directory")
            }
            entries[name] = parts[0].lowercased()
        }
        return entries
    }

    /// Hex sha256 of a file, read in chunks.
    public static func sha256(path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelLoadError.missingFile(file: (path as NSString).lastPathComponent)
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Writes `MANIFEST` for every other file of `directory` (sorted by name, sha256sum's format): how the
    /// synthetic models of `mirrorgan bench` and the tests' temporary models become loadable.
    public static func writeManifest(_ directory: String) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0 != "MANIFEST" }.sorted()
        let lines = try files.map { "\(try sha256(path: directory + "/" + $0))  \($0)" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/MANIFEST", atomically: true, encoding: .utf8)
    }

    /// Checks that every file every model has is in the MANIFEST, and every MANIFEST entry's sha256; returns
    /// file → sha256. (The loader then requires the entries of the files its model.json names: `requireEntries`.)
    public static func verify(_ directory: String) throws -> [String: String] {
        let manifest = try readManifest(directory)
        try requireEntries(requiredFiles, in: manifest)
        for (file, expected) in manifest.sorted(by: { $0.key < $1.key }) {
            let path = directory + "/" + file
            guard FileManager.default.fileExists(atPath: path) else { throw ModelLoadError.missingFile(file: file) }
            let actual = try sha256(path: path)
            guard actual == expected else { throw ModelLoadError.checksumMismatch(file: file, expected: expected, actual: actual) }
        }
        return manifest
    }
}
