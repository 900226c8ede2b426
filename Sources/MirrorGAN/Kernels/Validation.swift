// Argument checks shared by the kernels. The MirrorGAN target is compiled with -Ounchecked in release,
// so array bounds are not checked at run time: every shape relation a kernel relies on must be verified
// here, with a thrown `TensorError`, before any raw loop runs.

// Ranks are a range, not a collection literal: these checks run on every kernel call, and a `Set` or
// array literal was a heap allocation each time.
@inline(__always)
func requireRank(_ op: String, _ t: Tensor, _ ranks: ClosedRange<Int>, _ description: String) throws {
    guard ranks.contains(t.rank) else {
        throw TensorError.rankMismatch(op: op, expected: description, actual: t.shape)
    }
}

@inline(__always)
func requireRank(_ op: String, _ t: Tensor, _ rank: Int, _ description: String) throws {
    try requireRank(op, t, rank...rank, description)
}

@inline(__always)
func requireShape(_ op: String, _ t: Tensor, _ expected: Shape) throws {
    guard t.shape == expected else {
        throw TensorError.shapeMismatch(op: op, expected: expected, actual: t.shape)
    }
}

@inline(__always)
func requireArgument(_ op: String, _ condition: Bool, _ message: @autoclosure () -> String) throws {
    guard condition else { throw TensorError.invalidArgument(op: op, message: message()) }
}
