import Foundation
import Testing
@testable import MirrorGAN

@Suite struct SafeTensorsTests {
    /// A file image from a literal header and data section (header padded as the writer does).
    func file(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        var out = [UInt8]()
        withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
        return out + h + data
    }

    func expectError(_ bytes: [UInt8], _ check: (SafeTensorsError) -> Bool, _ what: String) {
        do {
            _ = try SafeTensorsFile(bytes: bytes, name: "bad.safetensors")
            Issue.record("\(what): no error")
        } catch let error as SafeTensorsError {
            #expect(check(error), "\(what): unexpected \(error)")
            #expect(error.description.contains("bad.safetensors"), "\(what): message names the file")
        } catch {
            Issue.record("\(what): untyped error \(error)")
        }
    }

    @Test func roundTripF32WithMetadata() throws {
        var rng = TestRandom(seed: 1)
        let tensors: [String: Tensor] = ["a.weight": rng.tensor([3, 4]), "b": rng.tensor([2, 1, 3]),
                                         "scalar": try Tensor(shape: [], data: [7]), "empty": Tensor(shape: [0, 3]),
                                         "quote\"name": rng.tensor([1])]
        let bytes = SafeTensorsWriter.encode(tensors, metadata: ["format": "pt", "note": "a\nb"])
        #expect((bytes.count - 8 - tensors.values.reduce(0) { $0 + $1.count * 4 }) % 8 == 0)
        let file = try SafeTensorsFile(bytes: bytes)
        #expect(file.metadata == ["format": "pt", "note": "a\nb"])
        #expect(file.names == tensors.keys.sorted())
        #expect(try file.loadAll() == tensors)
    }

    @Test func mmapFromDiskAndMissingTensor() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mg-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = try Tensor(shape: [2, 2], data: [1, -2, 3.5, 1e-8])
        try SafeTensorsWriter.write(["w": t], to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(try file.tensor("w") == t)
        #expect(throws: SafeTensorsError.tensorNotFound(file: path, tensor: "nope")) { try file.tensor("nope") }
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(path: path + ".missing") }
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(path: FileManager.default.temporaryDirectory.path) }
    }

    @Test func halfAndBFloat16Conversion() throws {
        let exact: [Float] = [0, -0.0, 1, -2, 0.5, 1024, 65504, -65504, 6.103515625e-05, 5.9604644775390625e-08, .infinity, 3.140625]
        let t = try Tensor(shape: [exact.count], data: exact)
        let f16 = try SafeTensorsFile(bytes: SafeTensorsWriter.encode(["t": t], dtype: .f16)).tensor("t")
        #expect(Array(f16.data) == exact)
        #expect(try SafeTensorsFile(bytes: SafeTensorsWriter.encode(["t": t], dtype: .f16)).entries["t"]?.dtype == .f16)
        let bExact: [Float] = [0, 1, -2, 0.5, 3.140625, -.infinity, 65536, Float(bitPattern: 0x0012_0000) /* subnormal */]
        let bf = try SafeTensorsFile(bytes: SafeTensorsWriter.encode(["t": try Tensor(shape: [bExact.count], data: bExact)],
                                                                     dtype: .bf16)).tensor("t")
        #expect(Array(bf.data) == bExact)
        // Rounding to nearest even.
        #expect(halfToFloat(floatToHalf(1 + 1.0 / 2048)) == 1)          // tie → even
        #expect(halfToFloat(floatToHalf(1 + 3.0 / 2048)) == 1 + 2.0 / 1024) // tie → even (up)
        #expect(halfToFloat(floatToHalf(70000)) == .infinity)
        #expect(halfToFloat(floatToHalf(.nan)).isNaN)
        #expect(Float(bitPattern: UInt32(floatToBFloat16(1 + 1.0 / 256)) << 16) == 1)
    }

    @Test func malformedFilesGiveTypedErrors() {
        let valid = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let data = [UInt8](repeating: 0, count: 8)
        let good = file(header: valid, data: data)
        #expect((try? SafeTensorsFile(bytes: good)) != nil, "control file parses")

        expectError(Array(good.prefix(good.count - 3)), {
            if case .offsetsOutOfRange(_, "t", 0, 8, 5) = $0 { return true } else { return false } }, "truncated data")
        expectError(Array(good.prefix(20)), {
            if case .headerLengthOutOfRange = $0 { return true } else { return false } }, "truncated header")
        expectError([1, 2, 3], { $0 == .fileTooSmall(file: "bad.safetensors", size: 3) }, "tiny file")
        expectError([], { $0 == .fileTooSmall(file: "bad.safetensors", size: 0) }, "empty file")
        expectError(file(header: valid, data: data, headerLength: 1 << 40), {
            if case .headerLengthOutOfRange = $0 { return true } else { return false } }, "header length beyond file")
        expectError(file(header: valid, data: data, headerLength: UInt64.max), {
            if case .headerLengthOutOfRange = $0 { return true } else { return false } }, "header length 2^64-1")
        expectError(file(header: #"{"t":{"dtype":"F32","#, data: data), {
            if case .invalidHeader = $0 { return true } else { return false } }, "bad JSON")
        expectError(file(header: "[1,2]", data: data), {
            if case .invalidHeader = $0 { return true } else { return false } }, "non-object header")
        expectError(file(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: data), {
            $0 == .offsetsOutOfRange(file: "bad.safetensors", tensor: "t", begin: 4, end: 12, dataSize: 8) }, "offsets past end")
        expectError(file(header: #"{"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, data: data), {
            if case .offsetsOutOfRange = $0 { return true } else { return false } }, "reversed offsets")
        expectError(file(header: #"{"t":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: data), {
            $0 == .unsupportedDType(file: "bad.safetensors", tensor: "t", dtype: "I64") }, "wrong dtype")
        expectError(file(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: data), {
            if case .byteSizeMismatch(_, "t", [3], "F32", 12, 8) = $0 { return true } else { return false } }, "size mismatch")
        expectError(file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}"#, data: data), {
            $0 == .overlappingTensors(file: "bad.safetensors", first: "a", second: "b") }, "overlap")
        expectError(file(header: #"{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: data), {
            if case .invalidEntry(_, "t", _) = $0 { return true } else { return false } }, "negative dim")
        expectError(file(header: #"{"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, data: data), {
            if case .invalidEntry(_, "t", _) = $0 { return true } else { return false } }, "fractional dim")
        expectError(file(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, data: data), {
            if case .invalidEntry(_, "t", _) = $0 { return true } else { return false } }, "one offset")
        expectError(file(header: #"{"t":{"shape":[2],"data_offsets":[0,8]}}"#, data: data), {
            if case .invalidEntry(_, "t", _) = $0 { return true } else { return false } }, "missing dtype")
        expectError(file(header: #"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: data), {
            if case .invalidEntry(_, "t", _) = $0 { return true } else { return false } }, "overflowing shape")
        expectError(file(header: #"{"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}}"#, data: data), {
            if case .invalidEntry(_, "t", let reason) = $0 { return reason.contains("at most 8") } else { return false } },
                    "rank above Shape.maxRank")
        expectError(file(header: #"{"__metadata__":{"a":1}}"#), {
            if case .invalidHeader = $0 { return true } else { return false } }, "non-string metadata")
    }
}
