import Foundation

/// Writes safetensors files (for tests and tools). Tensors are laid out in name order, back to back;
/// the header is padded with spaces to a multiple of 8 bytes, as the reference implementation does.
public enum SafeTensorsWriter {
    /// The complete file image of `tensors` stored as `dtype`.
    public static func encode(_ tensors: [String: Tensor], dtype: SafeTensorsDType = .f32,
                              metadata: [String: String] = [:]) -> [UInt8] {
        var header = [String]()
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0] ?? ""))" }
            header.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var data = [UInt8]()
        for name in tensors.keys.sorted() {
            guard let tensor = tensors[name] else { continue }
            let begin = data.count
            data.append(contentsOf: dtype.encode(Array(tensor.data)))
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            header.append("\(jsonString(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],"
                          + "\"data_offsets\":[\(begin),\(data.count)]}")
        }
        var headerBytes = Array("{\(header.joined(separator: ","))}".utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var file = [UInt8]()
        file.reserveCapacity(8 + headerBytes.count + data.count)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: headerBytes)
        file.append(contentsOf: data)
        return file
    }

    /// Writes `tensors` to `path` (atomically: a temporary file renamed into place).
    public static func write(_ tensors: [String: Tensor], to path: String, dtype: SafeTensorsDType = .f32,
                             metadata: [String: String] = [:]) throws {
        let bytes = encode(tensors, dtype: dtype, metadata: metadata)
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw SafeTensorsError.writeFailed(file: path, reason: error.localizedDescription)
        }
    }

    /// A JSON string literal for `text`.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
