#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only bytes of a whole file, memory-mapped (or, for in-memory parsing, a private copy).
/// Immutable after init, so sharing across threads is safe.
final class ByteSource: @unchecked Sendable {
    let base: UnsafeRawPointer?
    let count: Int
    private let isMapped: Bool

    /// Maps `path` read-only. Throws `SafeTensorsError.cannotOpen` with errno's text on failure.
    init(mapping path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SafeTensorsError.cannotOpen(file: path, reason: ByteSource.errnoText()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SafeTensorsError.cannotOpen(file: path, reason: ByteSource.errnoText()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SafeTensorsError.cannotOpen(file: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        count = size
        isMapped = size > 0
        guard size > 0 else { base = nil; return }  // mmap rejects length 0; callers see an empty file
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw SafeTensorsError.cannotOpen(file: path, reason: "mmap: \(ByteSource.errnoText())")
        }
        base = UnsafeRawPointer(address)
    }

    /// A private copy of `bytes`.
    init(copying bytes: [UInt8]) {
        count = bytes.count
        isMapped = false
        guard !bytes.isEmpty else { base = nil; return }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { source in
            if let s = source.baseAddress { buffer.copyMemory(from: s, byteCount: bytes.count) }
        }
        base = UnsafeRawPointer(buffer)
    }

    deinit {
        guard let base else { return }
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
