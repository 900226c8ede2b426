/// A dense Float32 tensor in row-major (C-contiguous) layout; images are NCHW.
///
/// A value type with copy-on-write: passing one around or returning it is O(1), and separate instances
/// can be used from different threads freely (`Sendable`). The shape is stored inline and the elements
/// in a `TensorBuffer`; kernels take their outputs' buffers from the calling thread's `TensorArena`, so a
/// forward pass in steady state allocates no heap memory (docs/PERFORMANCE.md, "Allocations").
public struct Tensor: Sendable, Equatable {
    /// Dimensions, outermost first (for images: [N, C, H, W]). A rank-0 tensor (`[]`) holds one scalar.
    public private(set) var shape: Shape
    /// The elements in row-major order; `data.count == shape.reduce(1, *)` always holds.
    public private(set) var data: TensorBuffer

    /// A tensor of zeros. Negative dimensions are a programming error (use `init(shape:data:)` for shapes
    /// that come from files or requests: it validates them).
    public init(shape: Shape) {
        self.init(shape: shape, repeating: 0)
    }

    /// A tensor filled with `value`. Negative dimensions are a programming error.
    public init(shape: Shape, repeating value: Float) {
        let count = Tensor.elementCount(shape) ?? 0
        self.shape = shape
        self.data = TensorBuffer(repeating: value, count: count)
    }

    /// A tensor over `data` (row-major). Throws if the shape is invalid (a negative dimension, an
    /// overflowing element count, a rank above `Shape.maxRank`) or does not hold `data.count` elements.
    public init<C: Collection>(shape: [Int], data: C) throws where C.Element == Float {
        guard let checked = Shape(validating: shape) else { throw TensorError.invalidShape(shape) }
        try self.init(shape: checked, data: data)
    }

    /// A tensor over `data` (row-major). Throws if the shape is invalid or does not hold `data.count` elements.
    public init<C: Collection>(shape: Shape, data: C) throws where C.Element == Float {
        guard let count = Tensor.elementCount(shape) else { throw TensorError.invalidShape(shape.array) }
        guard count == data.count else {
            throw TensorError.dataCountMismatch(shape: shape, expected: count, actual: data.count)
        }
        self.shape = shape
        self.data = data as? TensorBuffer ?? TensorBuffer(data)
    }

    /// Internal initialiser for kernels that have already produced `data` of the right size.
    init(uncheckedShape shape: Shape, data: TensorBuffer) {
        assert(Tensor.elementCount(shape) == data.count, "Tensor: \(data.count) elements for shape \(shape)")
        self.shape = shape
        self.data = data
    }

    /// A tensor from the calling thread's arena whose elements `fill` writes (all of them).
    static func filled(_ shape: Shape, _ fill: (inout UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows -> Tensor {
        let buffer = TensorBuffer.uninitialized(Tensor.elementCount(shape) ?? 0)
        try buffer.withFreshStorage(fill)
        return Tensor(uncheckedShape: shape, data: buffer)
    }

    /// A tensor of zeros from the calling thread's arena.
    static func arenaZeros(_ shape: Shape) -> Tensor {
        Tensor(uncheckedShape: shape, data: TensorBuffer.zeros(Tensor.elementCount(shape) ?? 0))
    }

    /// Number of elements, `shape.reduce(1, *)`.
    public var count: Int { data.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// Element count of `shape`, or nil if a dimension is negative or the product overflows.
    public static func elementCount<C: Collection>(_ shape: C) -> Int? where C.Element == Int {
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    /// Row-major strides of `shape` (in elements).
    public static func strides(of shape: Shape) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    /// The same elements under another shape with the same element count. One dimension may be -1 and
    /// is then inferred. Throws `TensorError.invalidReshape` otherwise.
    public func reshaped(_ newShape: Shape) throws -> Tensor {
        var resolved = newShape
        var inferred: Int? = nil
        for i in newShape.indices where newShape[i] == -1 {
            if inferred != nil { throw TensorError.invalidReshape(from: shape, to: newShape) }
            inferred = i
        }
        if let i = inferred {
            var known = newShape
            known[i] = 1
            guard let rest = Tensor.elementCount(known), rest > 0, count % rest == 0 else {
                throw TensorError.invalidReshape(from: shape, to: newShape)
            }
            resolved[i] = count / rest
        }
        guard let newCount = Tensor.elementCount(resolved), newCount == count else {
            throw TensorError.invalidReshape(from: shape, to: newShape)
        }
        return Tensor(uncheckedShape: resolved, data: data)
    }

    /// In-place form of `reshaped(_:)`.
    public mutating func reshape(_ newShape: Shape) throws {
        self = try reshaped(newShape)
    }

    /// Size of dimension `axis`; negative axes count from the end (-1 is the last).
    public func dim(_ axis: Int) -> Int {
        shape[axis < 0 ? axis + shape.count : axis]
    }

    /// Row-major offset of a multi-index. Indices must be in range (checked in debug builds only).

    public func offset(_ indices: [Int]) -> Int {
        assert(indices.count == shape.count, "Tensor subscript: \(indices.count) indices for shape \(shape)")
        var offset = 0
        for (i, index) in indices.enumerated() {
            assert(index >= 0 && index < shape[i], "Tensor subscript: index \(indices) out of range for \(shape)")
            offset = offset * shape[i] + index
        }
        return offset
    }

    /// Element at a multi-index, e.g. `t[n, c, y, x]`. Convenience for tests and setup code; kernels
    /// work on `data` directly. Out-of-range indices are a programming error.
    public subscript(indices: Int...) -> Float {
        get { data[offset(indices)] }
        set { data[offset(indices)] = newValue }
    }

    /// Read-only access to the contiguous elements.

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try data.withUnsafeBufferPointer(body)
    }

    /// Mutable access to the contiguous elements (the element count cannot change).

    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try data.withUnsafeMutableBufferPointer(body)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = data.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(shape: \(shape), data: [\(preview)\(count > 8 ? ", …" : "")])"
    }
}
