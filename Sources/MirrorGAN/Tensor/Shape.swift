/// A tensor's dimensions, outermost first, stored inline (no heap allocation).
///
/// A `[Int]` shape was one heap allocation per kernel output, half of the ~800 allocations a request
/// made before the tensor arena (docs/PERFORMANCE.md, "Allocations"); `Shape` keeps up to `maxRank`
/// dimensions in a SIMD vector instead. It is a random-access collection of `Int` and can be written as an
/// array literal, so `t.shape == [1, 3, 64, 64]`, `t.shape[2]` and `t.shape.dropFirst()` read as before.
public struct Shape: RandomAccessCollection, MutableCollection, Hashable, Sendable, ExpressibleByArrayLiteral,
                     CustomStringConvertible {
    /// The largest rank a tensor may have (the models use at most 4; weight files are checked on load).
    public static let maxRank = 8

    // Lanes at and past `endIndex` are always zero, so the synthesised `==` and `hash` are correct.
    private var dims: SIMD8<Int>
    /// The rank.
    public private(set) var endIndex: Int
    public var startIndex: Int { 0 }

    /// The rank-0 shape (a scalar).
    public init() {
        dims = .zero
        endIndex = 0
    }

    /// The dimensions of `dims`. More than `maxRank` of them is a programming error; use
    /// `Shape(validating:)` for shapes that come from files or requests.
    public init<C: Collection>(_ dims: C) where C.Element == Int {
        precondition(dims.count <= Shape.maxRank, "Shape: rank \(dims.count) exceeds \(Shape.maxRank)")
        self.init()
        for d in dims {
            self.dims[endIndex] = d
            endIndex += 1
        }
    }

    /// The dimensions of `dims`, or nil if there are more than `maxRank`.
    public init?(validating dims: [Int]) {
        guard dims.count <= Shape.maxRank else { return nil }
        self.init(dims)
    }

    public init(arrayLiteral elements: Int...) {
        self.init(elements)
    }

    public subscript(position: Int) -> Int {
        get {
            assert(position >= 0 && position < endIndex, "Shape: index \(position) out of range for rank \(endIndex)")
            return dims[position]
        }
        set {
            assert(position >= 0 && position < endIndex, "Shape: index \(position) out of range for rank \(endIndex)")
            dims[position] = newValue
        }
    }

    /// The dimensions without the first one (a batch of one's sample shape).
    public func droppingFirst() -> Shape {
        var s = Shape()
        for i in 1..<Swift.max(endIndex, 1) {
            s.dims[i - 1] = dims[i]
            s.endIndex += 1
        }
        return s
    }

    /// The same dimensions with dimension `axis` set to `value`.
    public func replacing(_ axis: Int, with value: Int) -> Shape {
        var s = self
        s[axis] = value
        return s
    }

    /// The dimensions as an array (for errors, JSON and file headers).
    public var array: [Int] { Array(self) }

    public var description: String { array.description }
}
