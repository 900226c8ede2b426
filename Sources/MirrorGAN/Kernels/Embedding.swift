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
    var out = [Float]()
    out.reserveCapacity(ids.count * dim)
    for id in ids {
        guard id >= 0 && id < vocabulary else { throw TensorError.indexOutOfRange(op: "embedding", index: id, bound: vocabulary) }
        out.append(contentsOf: weight.data[(id * dim)..<((id + 1) * dim)])
    }
    return Tensor(uncheckedShape: [ids.count, dim], data: out)
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
