/// Element-wise sum of two tensors of the same shape (residual connections).
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try zipElements("add", a, b, +)
}

@inline(__always)
private func zipElements(_ op: String, _ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) throws -> Tensor {
    try requireShape(op, b, a.shape)
    return Tensor.filled(a.shape) { o in
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                for i in 0..<o.count { o[i] = f(ap[i], bp[i]) }
            }
        }
    }
}
