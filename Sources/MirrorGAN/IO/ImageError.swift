/// Errors of `ImageDecoder`, the one place that turns uploaded bytes into pixels (never a crash: the C decoders'
/// longjmp errors are caught in their shims).
public enum ImageError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The bytes start with no signature of a supported format (PNG, JPEG, WebP).
    case unsupportedFormat
    /// The decoder rejected the data (truncated, corrupt, unsupported variant); `message` is the library's.
    case corrupt(format: ImageFormat, message: String)
    case zeroSize(format: ImageFormat)
    /// The header's width × height exceeds the pixel limit (checked before any pixel buffer is allocated).
    case tooLarge(format: ImageFormat, width: Int, height: Int, limit: Int)
    case outOfMemory

    public var description: String {
        switch self {
        case .unsupportedFormat: return "not a PNG, JPEG or WebP image (unrecognised signature)"
        case let .corrupt(format, message): return "\(format.name): cannot decode: \(message)"
        case let .zeroSize(format): return "\(format.name): image has zero width or height"
        case let .tooLarge(format, width, height, limit):
            return "\(format.name): image of \(width)×\(height) pixels exceeds the limit of \(limit) pixels"
        case .outOfMemory: return "out of memory while decoding the image"
        }
    }
}
