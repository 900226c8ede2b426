// Argument checks shared by the kernels. The MirrorGAN target is compiled with -Ounchecked in release,
// so array bounds are not checked at run time: every shape relation a kernel relies on must be verified
// here, with a thrown `TensorError`, before any raw loop runs.

@inline(__always)
func requireRank(_ op: String, _ t: Tensor, _ ranks: Set<Int>, _ description: String) throws {
    guard ranks.contains(t.rank) else {
        throw TensorError.rankMismatch(op: op, expected: description, actual: t.shape)
    }
}

@inline(__always)
func requireShape(_ op: String, _ t: Tensor, _ expected: [Int]) throws {
    guard t.shape == expected else {
        throw TensorError.shapeMismatch(op: op, expected: expected, actual: t.shape)
    }
}

@inline(__always)
func requireArgument(_ op: String, _ condition: Bool, _ message: @autoclosure () -> String) throws {
    guard condition else { throw TensorError.invalidArgument(op: op, message: message()) }
}
