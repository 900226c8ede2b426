/// Concatenation along `axis` (`torch.cat(tensors, dim=axis)`). All tensors must have the same rank and
/// equal sizes in every other dimension. `axis` may be negative.
public func concat(_ tensors: [Tensor], axis: Int) throws -> Tensor {
    try concat(tensors[...], axis: axis)
}

/// `concat` of any random-access collection of tensors (the generator passes a stack buffer).
func concat<C: RandomAccessCollection>(_ tensors: C, axis: Int) throws -> Tensor where C.Element == Tensor {
    let op = "concat"
    guard let first = tensors.first else { throw TensorError.invalidArgument(op: op, message: "no tensors given") }
    let ax = axis < 0 ? axis + first.rank : axis
    guard ax >= 0 && ax < first.rank else { throw TensorError.indexOutOfRange(op: "concat axis", index: axis, bound: first.rank) }
    for t in tensors {
        guard t.rank == first.rank,
              zip(t.shape, first.shape).enumerated().allSatisfy({ $0.offset == ax || $0.element.0 == $0.element.1 }) else {
            var expected = first.shape
            if t.rank == first.rank { expected[ax] = t.shape[ax] }
            throw TensorError.shapeMismatch(op: "concat (all dimensions but axis \(ax) must agree)",
                                            expected: expected, actual: t.shape)
        }
    }
    let outer = first.shape[..<ax].reduce(1, *)
    let inner = first.shape[(ax + 1)...].reduce(1, *)
    let total = tensors.reduce(0) { $0 + $1.shape[ax] }
    var shape = first.shape
    shape[ax] = total
    return Tensor.filled(shape) { out in
        guard let dst = out.baseAddress else { return }
        var written = 0
        for o in 0..<outer {
            for t in tensors {
                let block = t.shape[ax] * inner
                t.withUnsafeBufferPointer { src in
                    if let base = src.baseAddress { (dst + written).update(from: base + o * block, count: block) }
                }
                written += block
            }
        }
    }
}

/// `concat([a, b, c?, d?], axis:)` without building an array (a heap allocation per call): the operands are
/// placed in a stack buffer. `d` needs `c`.
func concat(_ a: Tensor, _ b: Tensor, _ c: Tensor? = nil, _ d: Tensor? = nil, axis: Int) throws -> Tensor {
    try withUnsafeTemporaryAllocation(of: Tensor.self, capacity: 4) { slots in
        slots.initializeElement(at: 0, to: a)
        slots.initializeElement(at: 1, to: b)
        var count = 2
        if let c { slots.initializeElement(at: 2, to: c); count = 3 }
        if let d, count == 3 { slots.initializeElement(at: 3, to: d); count = 4 }
        defer { slots.prefix(count).deinitialize() }
        return try concat(UnsafeBufferPointer(rebasing: slots.prefix(count)), axis: axis)
    }
}
