import Foundation

/// One tensor's header entry.
public struct SafeTensorsEntry: Sendable, Equatable {
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    /// Byte range [begin, end) relative to the start of the data section.
    public let begin: Int, end: Int
}

/// A safetensors file (https://github.com/huggingface/safetensors), memory-mapped and validated on open.
///
/// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping tensor names to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (plus an optional `"__metadata__"` object of
/// strings), then the data section. On open every entry is checked: known dtype (F32, F16, BF16), integer
/// non-negative shape, offsets inside the data section, byte size == product(shape) × dtype size, and no
/// two tensors overlapping. (Unused gaps between tensors are tolerated.) Tensors are converted to Float32
/// on access. Instances are immutable and can be shared between threads.
public struct SafeTensorsFile: Sendable {
    /// The path (or name) used in error messages.
    public let file: String
    public let metadata: [String: String]
    public let entries: [String: SafeTensorsEntry]
    private let bytes: ByteSource
    private let dataStart: Int

    /// The header is limited to 100 MB, as in the reference implementation.
    public static let maxHeaderLength: UInt64 = 100_000_000

    /// Opens and validates `path` (memory-mapped).
    public init(path: String) throws {
        try self.init(source: try ByteSource(mapping: path), file: path)
    }

    /// Parses an in-memory copy of a safetensors file; `name` is used in error messages.
    public init(bytes: [UInt8], name: String = "<memory>") throws {
        try self.init(source: ByteSource(copying: bytes), file: name)
    }

    private init(source: ByteSource, file: String) throws {
        guard source.count >= 8, let base = source.base else {
            throw SafeTensorsError.fileTooSmall(file: file, size: source.count)
        }
        let headerLength = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(source.count - 8), headerLength <= SafeTensorsFile.maxHeaderLength else {
            throw SafeTensorsError.headerLengthOutOfRange(file: file, headerLength: headerLength, fileSize: source.count)
        }
        let headerBytes = Data(bytes: base + 8, count: Int(headerLength))
        let parsed = try SafeTensorsFile.parseHeader(headerBytes, file: file,
                                                     dataSize: source.count - 8 - Int(headerLength))
        self.file = file
        self.metadata = parsed.metadata
        self.entries = parsed.entries
        self.bytes = source
        self.dataStart = 8 + Int(headerLength)
    }

    /// Tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The tensor `name`, converted to Float32. Throws `tensorNotFound` if absent.
    public func tensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else { throw SafeTensorsError.tensorNotFound(file: file, tensor: name) }
        let count = entry.shape.reduce(1, *)  // validated on open: no overflow, matches the byte range
        guard let base = bytes.base else { return try Tensor(shape: entry.shape, data: []) }
        let values = entry.dtype.decode(base + dataStart + entry.begin, count: count)
        return try Tensor(shape: entry.shape, data: values)
    }

    /// Every tensor, by name.
    public func loadAll() throws -> [String: Tensor] {
        var all = [String: Tensor](minimumCapacity: entries.count)
        for name in entries.keys { all[name] = try tensor(name) }
        return all
    }

    // MARK: header validation

    private static func parseHeader(_ data: Data, file: String, dataSize: Int) throws
        -> (metadata: [String: String], entries: [String: SafeTensorsEntry]) {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw SafeTensorsError.invalidHeader(file: file, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let object = json as? [String: Any] else {
            throw SafeTensorsError.invalidHeader(file: file, reason: "the header must be a JSON object")
        }
        var metadata = [String: String]()
        var entries = [String: SafeTensorsEntry]()
        for (name, value) in object {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else {
                    throw SafeTensorsError.invalidHeader(file: file, reason: "__metadata__ must be an object of strings")
                }
                for (key, item) in dict {
                    guard let text = item as? String else {
                        throw SafeTensorsError.invalidHeader(file: file, reason: "__metadata__['\(key)'] is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            entries[name] = try parseEntry(value, name: name, file: file, dataSize: dataSize)
        }
        // Overlap check: sort by begin; each tensor must end before the next begins.
        // Empty tensors (begin == end) occupy no bytes and cannot overlap.
        let ordered = entries.filter { $0.value.end > $0.value.begin }.sorted {
            ($0.value.begin, $0.key) < ($1.value.begin, $1.key)
        }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.value.begin < previous.value.end {
            throw SafeTensorsError.overlappingTensors(file: file, first: previous.key, second: next.key)
        }
        return (metadata, entries)
    }

    private static func parseEntry(_ value: Any, name: String, file: String, dataSize: Int) throws -> SafeTensorsEntry {
        guard let dict = value as? [String: Any] else {
            throw SafeTensorsError.invalidEntry(file: file, tensor: name, reason: "entry is not a JSON object")
        }
        guard let dtypeName = dict["dtype"] as? String else {
            throw SafeTensorsError.invalidEntry(file: file, tensor: name, reason: "missing or non-string 'dtype'")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsError.unsupportedDType(file: file, tensor: name, dtype: dtypeName)
        }
        guard let shape = integers(dict["shape"]) else {
            throw SafeTensorsError.invalidEntry(file: file, tensor: name, reason: "'shape' must be a list of non-negative integers")
        }
        guard shape.count <= Shape.maxRank else {
            throw SafeTensorsError.invalidEntry(file: file, tensor: name,
                                                reason: "shape \(shape) has \(shape.count) dimensions; at most \(Shape.maxRank) are supported")
        }
        guard let offsets = integers(dict["data_offsets"]), offsets.count == 2 else {
            throw SafeTensorsError.invalidEntry(file: file, tensor: name, reason: "'data_offsets' must be two non-negative integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end, end <= dataSize else {
            throw SafeTensorsError.offsetsOutOfRange(file: file, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        guard let count = Tensor.elementCount(shape) else {
            throw SafeTensorsError.invalidEntry(file: file, tensor: name, reason: "shape \(shape) overflows")
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, expected == end - begin else {
            throw SafeTensorsError.byteSizeMismatch(file: file, tensor: name, shape: shape, dtype: dtypeName,
                                                    expectedBytes: overflow ? Int.max : expected, actualBytes: end - begin)
        }
        return SafeTensorsEntry(dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// A JSON array of non-negative integers (JSON numbers with a fractional part, booleans or values
    /// beyond Int are rejected).
    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result = [Int]()
        result.reserveCapacity(array.count)
        for item in array {
            guard let number = item as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double >= 0, double <= 9.0e15, double == double.rounded() else { return nil }
            result.append(number.intValue)
        }
        return result
    }
}
