/// Embedding lookup (`torch.nn.functional.embedding`): row `ids[i]` of `weight`.
///
/// - Parameters:
///   - ids: token ids, each in `0..<V`.
///   - weight: `[V, D]`.
/// - Returns: `[ids.count, D]`.
/// - Throws: `TensorError.indexOutOfRange` naming the first id outside the vocabulary.
public func embedding(_ ids: [Int], weight: Tensor) throws -> Tensor {
    try requireRank("embedding weight", weight, 2, "2 ([V, D])")
    let (vocabulary, dim) = (weight.shape[0], weight.shape[1])
    for id in ids where id < 0 || id >= vocabulary {
        throw TensorError.indexOutOfRange(op: "embedding", index: id, bound: vocabulary)
    }
    return Tensor.filled([ids.count, dim]) { out in
        weight.withUnsafeBufferPointer { w in
            guard let dst = out.baseAddress, let src = w.baseAddress else { return }
            for (i, id) in ids.enumerated() { (dst + i * dim).update(from: src + id * dim, count: dim) }
        }
    }
}

/// Embedding lookup for a rectangular batch of sequences (`[B][T]` ids, padded by the caller).
/// - Returns: `[B, T, D]`. - Throws: on ragged rows or an id outside the vocabulary.
public func embedding(_ ids: [[Int]], weight: Tensor) throws -> Tensor {
    let steps = ids.first?.count ?? 0
    for (b, row) in ids.enumerated() where row.count != steps {
        throw TensorError.invalidArgument(op: "embedding",
                                          message: "row \(b) has \(row.count) ids, row 0 has \(steps): pad the batch to one length")
    }
    let flat = try embedding(ids.flatMap { $0 }, weight: weight)
    return Tensor(uncheckedShape: [ids.count, steps, flat.shape[1]], data: flat.data)
}
