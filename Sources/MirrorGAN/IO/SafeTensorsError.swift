/// Errors of the safetensors reader and writer. Every case names the file, and the tensor when one is
/// involved, so that a bad model directory is diagnosable from the message alone.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible, Sendable {
    case cannotOpen(file: String, reason: String)
    /// Shorter than the 8-byte header length prefix.
    case fileTooSmall(file: String, size: Int)
    /// The header length prefix points past the end of the file (or over the 100 MB header cap).
    case headerLengthOutOfRange(file: String, headerLength: UInt64, fileSize: Int)
    /// The header is not UTF-8 JSON of the expected structure.
    case invalidHeader(file: String, reason: String)
    /// A tensor entry lacks or mistypes `dtype`, `shape` or `data_offsets`.
    case invalidEntry(file: String, tensor: String, reason: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// `data_offsets` [begin, end) is reversed or extends past the data section.
    case offsetsOutOfRange(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// The byte range does not hold product(shape) × dtype size bytes.
    case byteSizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
    case overlappingTensors(file: String, first: String, second: String)
    case tensorNotFound(file: String, tensor: String)
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "\(file): cannot open safetensors file: \(reason)"
        case let .fileTooSmall(file, size):
            return "\(file): \(size) bytes is too small for a safetensors file (needs an 8-byte header length)"
        case let .headerLengthOutOfRange(file, length, size):
            return "\(file): header length \(length) does not fit in the \(size)-byte file"
        case let .invalidHeader(file, reason):
            return "\(file): invalid safetensors header: \(reason)"
        case let .invalidEntry(file, tensor, reason):
            return "\(file): tensor '\(tensor)': \(reason)"
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)': unsupported dtype \(dtype) (expected F32, F16 or BF16)"
        case let .offsetsOutOfRange(file, tensor, begin, end, dataSize):
            return "\(file): tensor '\(tensor)': data_offsets [\(begin), \(end)) outside the \(dataSize)-byte data section"
        case let .byteSizeMismatch(file, tensor, shape, dtype, expected, actual):
            return "\(file): tensor '\(tensor)': shape \(shape) of \(dtype) needs \(expected) bytes, data_offsets span \(actual)"
        case let .overlappingTensors(file, first, second):
            return "\(file): tensors '\(first)' and '\(second)' have overlapping data_offsets"
        case let .tensorNotFound(file, tensor):
            return "\(file): no tensor named '\(tensor)'"
        case let .writeFailed(file, reason):
            return "\(file): cannot write safetensors file: \(reason)"
        }
    }
}
