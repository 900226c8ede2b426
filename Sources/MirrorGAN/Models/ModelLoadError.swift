/// Why a model directory cannot be served. Every case names the file, and the tensor where one is involved.
public enum ModelLoadError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingFile(file: String)
    case unreadableFile(file: String, reason: String)
    case invalidConfig(file: String, message: String)
    case manifestMissingEntry(file: String)
    case checksumMismatch(file: String, expected: String, actual: String)
    case missingTensor(file: String, tensor: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], actual: [Int])
    case unexpectedTensors(file: String, tensors: [String])
    case invalidTensor(file: String, tensor: String, message: String)

    public var description: String {
        switch self {
        case let .missingFile(file): return "\(file): file is missing"
        case let .unreadableFile(file, reason): return "\(file): cannot read: \(reason)"
        case let .invalidConfig(file, message): return "\(file): \(message)"
        case let .manifestMissingEntry(file): return "MANIFEST: no sha256 entry for \(file)"
        case let .checksumMismatch(file, expected, actual):
            return "\(file): sha256 \(actual) does not match the MANIFEST's \(expected) (corrupted or replaced file)"
        case let .missingTensor(file, tensor): return "\(file): tensor '\(tensor)' is missing"
        case let .shapeMismatch(file, tensor, expected, actual):
            return "\(file): tensor '\(tensor)' has shape \(actual), the architecture needs \(expected)"
        case let .unexpectedTensors(file, tensors):
            return "\(file): tensors not used by the architecture: \(tensors.prefix(5).joined(separator: ", "))"
                + (tensors.count > 5 ? " (+\(tensors.count - 5) more)" : "")
        case let .invalidTensor(file, tensor, message): return "\(file): tensor '\(tensor)': \(message)"
        }
    }
}
