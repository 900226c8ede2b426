/// Errors of the PNG encoder and decoder (never a crash: libpng's longjmp errors are caught in C).
public enum PNGError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The data does not start with the PNG signature.
    case notPNG
    /// libpng rejected the data (truncated stream, bad CRC, invalid chunk, …); `message` is libpng's.
    case corrupt(message: String)
    case zeroSize
    /// The header's width × height exceeds the decoder's pixel limit (checked before allocating).
    case tooLarge(width: Int, height: Int, limit: Int)
    case outOfMemory
    /// Invalid encoder input (buffer size, tensor shape, dimensions).
    case invalidInput(String)

    public var description: String {
        switch self {
        case .notPNG: return "PNG: not a PNG file (bad signature)"
        case let .corrupt(message): return "PNG: corrupt data: \(message)"
        case .zeroSize: return "PNG: image has zero width or height"
        case let .tooLarge(width, height, limit):
            return "PNG: image of \(width)×\(height) pixels exceeds the limit of \(limit) pixels"
        case .outOfMemory: return "PNG: out of memory"
        case let .invalidInput(message): return "PNG: \(message)"
        }
    }
}
