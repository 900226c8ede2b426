/// A tensor's elements: a copy-on-write, contiguous `Float` collection whose memory may come from the
/// calling thread's `TensorArena`.
///
/// It behaves like `[Float]` (value semantics, random access, `withUnsafe…BufferPointer`), with one
/// difference in cost: a buffer the arena handed out is never "uniquely referenced" (the arena keeps a
/// reference so that it can lend the memory again once every tensor using it is gone), so a mutation
/// through the public API copies it into ordinary memory first. Kernels fill the buffers they have just
/// taken through `withFreshStorage`, which skips that check.
public struct TensorBuffer: RandomAccessCollection, MutableCollection, Equatable, Sendable,
                            ExpressibleByArrayLiteral {
    var storage: TensorStorage
    /// Number of elements.
    public let count: Int

    init(storage: TensorStorage, count: Int) {
        self.storage = storage
        self.count = count
    }

    /// A buffer holding a copy of `elements`, in ordinary (not arena) memory.
    public init<C: Collection>(_ elements: C) where C.Element == Float {
        let count = elements.count
        let storage = TensorStorage(capacity: count, pooled: false)
        let buffer = UnsafeMutableBufferPointer(start: storage.pointer, count: count)
        let copied = elements.withContiguousStorageIfAvailable { source -> Bool in
            if count > 0, let base = source.baseAddress { storage.pointer.update(from: base, count: count) }
            return true
        }
        if copied == nil { _ = buffer.initialize(from: elements) }
        self.init(storage: storage, count: count)
    }

    /// The transpose of the `rows` × `columns` row-major matrix `source`, in ordinary memory.
    init(transposing source: TensorBuffer, rows: Int, columns: Int) {
        precondition(source.count == rows * columns, "TensorBuffer(transposing:): \(source.count) ≠ \(rows)×\(columns)")
        let storage = TensorStorage(capacity: source.count, pooled: false)
        for r in 0..<rows {
            for c in 0..<columns { storage.pointer[c * rows + r] = source.storage.pointer[r * columns + c] }
        }
        self.init(storage: storage, count: source.count)
    }

    /// `count` copies of `value`, in ordinary memory.
    public init(repeating value: Float, count: Int) {
        let storage = TensorStorage(capacity: count, pooled: false)
        storage.pointer.update(repeating: value, count: count)
        self.init(storage: storage, count: count)
    }

    public init(arrayLiteral elements: Float...) {
        self.init(elements)
    }

    /// `count` elements from the calling thread's arena, contents undefined: the caller must write every
    /// element through `withFreshStorage` before the buffer is read or copied.
    static func uninitialized(_ count: Int) -> TensorBuffer {
        TensorBuffer(storage: TensorArena.current.take(count), count: count)
    }

    /// `count` zeros from the calling thread's arena.
    static func zeros(_ count: Int) -> TensorBuffer {
        let buffer = uninitialized(count)
        buffer.storage.pointer.update(repeating: 0, count: count)
        return buffer
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Float {
        get {
            assert(position >= 0 && position < count, "TensorBuffer: index \(position) out of range 0..<\(count)")
            return storage.pointer[position]
        }
        set {
            assert(position >= 0 && position < count, "TensorBuffer: index \(position) out of range 0..<\(count)")
            makeUnique()
            storage.pointer[position] = newValue
        }
    }

    /// Read-only access to the elements.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(UnsafeBufferPointer(start: storage.pointer, count: count)) }
    }

    /// Mutable access to the elements (copying them first if the memory is shared or lent by the arena).
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        makeUnique()
        return try withFreshStorage(body)
    }

    /// Mutable access without the copy-on-write check, for a kernel filling the buffer it has just taken
    /// (`uninitialized`, `zeros`) before anything else can see it. Anywhere else this would write through
    /// to every tensor sharing the memory.
    func withFreshStorage<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) {
            var buffer = UnsafeMutableBufferPointer(start: storage.pointer, count: count)
            return try body(&buffer)
        }
    }

    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R? {
        try withUnsafeBufferPointer(body)
    }

    public mutating func withContiguousMutableStorageIfAvailable<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R? {
        try withUnsafeMutableBufferPointer(body)
    }

    public static func == (a: TensorBuffer, b: TensorBuffer) -> Bool {
        guard a.count == b.count else { return false }
        if a.storage === b.storage { return !a.contains { $0 != $0 } }  // NaN ≠ NaN, as for [Float]
        for i in 0..<a.count where a.storage.pointer[i] != b.storage.pointer[i] { return false }
        return true
    }

    private mutating func makeUnique() {
        if storage.pooled || !isKnownUniquelyReferenced(&storage) {
            let copy = TensorStorage(capacity: count, pooled: false)
            copy.pointer.update(from: storage.pointer, count: count)
            storage = copy
        }
    }
}

/// The memory behind one or more `TensorBuffer`s: `capacity` floats, 64-byte aligned.
///
/// Written only by the kernel that took it from the arena (before the buffer is shared) or through
/// `TensorBuffer`'s copy-on-write mutations, hence `@unchecked Sendable`.
final class TensorStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let capacity: Int
    /// Held by a `TensorArena`, which lends it again once no buffer refers to it.
    let pooled: Bool

    init(capacity: Int, pooled: Bool) {
        self.capacity = capacity
        self.pooled = pooled
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * MemoryLayout<Float>.stride,
                                                   alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(capacity, 1))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
