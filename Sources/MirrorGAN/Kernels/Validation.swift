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

/// A 3×3 convolution kernel's weight `[O, C, 3, 3]` checked (rank, then shape), returning (O, C): what the 3×3
/// kernels (`WinogradF2x2`, `WinogradF4x4`, `UpsampleConv3x3`) check at load, named after the kernel.
func conv3x3Channels(_ kernel: String, weight: Tensor) throws -> (o: Int, c: Int) {
    try requireRank("\(kernel) weight", weight, 4, "4 ([O, C, 3, 3])")
    let (o, c) = (weight.shape[0], weight.shape[1])
    try requireShape("\(kernel) weight", weight, [o, c, 3, 3])
    return (o, c)
}

/// A kernel's bias `[o]` checked and copied, or o zeros without one.
func biasValues(_ kernel: String, _ bias: Tensor?, _ o: Int) throws -> [Float] {
    guard let bias else { return [Float](repeating: 0, count: o) }
    try requireShape("\(kernel) bias", bias, [o])
    return Array(bias.data)
}

/// The (N, H, W) of a kernel's `[N, C, H, W]` input, checked for rank and for C = `channels`.
@inline(__always)
func nchwInput(_ op: String, _ x: Tensor, channels c: Int) throws -> (n: Int, h: Int, w: Int) {
    try requireRank(op, x, 4, "4 ([N, C, H, W])")
    let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
    guard x.shape[1] == c else { throw TensorError.shapeMismatch(op: op, expected: [n, c, h, w], actual: x.shape) }
    return (n, h, w)
}
