/// Element-wise sum of two tensors of the same shape (residual connections).
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try zipElements("add", a, b, +)
}

/// Element-wise (Hadamard) product of two tensors of the same shape.
public func multiply(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try zipElements("multiply", a, b, *)
}

/// Every element times `factor`.
public func scale(_ x: Tensor, by factor: Float) -> Tensor {
    mapElements(x) { $0 * factor }
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
