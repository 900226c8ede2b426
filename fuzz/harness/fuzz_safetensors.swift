// libFuzzer harness for the safetensors header parser and reader (Sources/MirrorGAN/IO/SafeTensors*.swift).
// Weights are not network input, but a model directory can come from anywhere (downloads, volumes), and
// the reader validates offsets before it reads mapped memory, so it must hold against any bytes.
// Invariants: every accepted entry lies inside the data section, its byte size matches its shape, and
// every tensor can be read (ASan checks the reads).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let file = try SafeTensorsFile(bytes: bytes, name: "fuzz.safetensors")
        for (name, entry) in file.entries {
            precondition(entry.begin <= entry.end && entry.end <= size, "entry outside the file")
            let count = entry.shape.reduce(1, *)
            precondition(count * entry.dtype.byteSize == entry.end - entry.begin, "size mismatch")
            let t = try file.tensor(name)
            precondition(t.shape.array == entry.shape && t.count == count)
        }
    } catch let e as SafeTensorsError {
        precondition(e.description.hasPrefix("fuzz.safetensors"), "message does not name the file")
    } catch {
        preconditionFailure("unexpected error type \(error)")
    }
    return 0
}
