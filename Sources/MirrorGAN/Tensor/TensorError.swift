/// Errors thrown by `Tensor` and the kernels. Every case names the operation so that a failure deep in a
/// model says which layer call went wrong and with which shapes.
public enum TensorError: Error, Equatable, CustomStringConvertible, Sendable {
    /// `op` needed an operand of shape `expected` (or compatible with it) and got `actual`.
    case shapeMismatch(op: String, expected: Shape, actual: Shape)
    /// `op` needed a tensor of a given rank.
    case rankMismatch(op: String, expected: String, actual: Shape)
    /// A shape was given `count` elements of data but describes `expected` elements.
    case dataCountMismatch(shape: Shape, expected: Int, actual: Int)
    /// A shape had a negative dimension, its element count overflowed, or its rank exceeded `Shape.maxRank`.
    case invalidShape([Int])
    /// `reshape` to a shape with a different number of elements.
    case invalidReshape(from: Shape, to: Shape)
    /// An index (token id, sequence length, axis, …) outside `0..<bound` (or a documented range).
    case indexOutOfRange(op: String, index: Int, bound: Int)
    /// Any other invalid argument, described in `message`.
    case invalidArgument(op: String, message: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, expected, actual):
            return "\(op): shape mismatch: expected \(expected), got \(actual)"
        case let .rankMismatch(op, expected, actual):
            return "\(op): expected a tensor of rank \(expected), got shape \(actual)"
        case let .dataCountMismatch(shape, expected, actual):
            return "Tensor(shape: \(shape)): the shape holds \(expected) elements but \(actual) were given"
        case let .invalidShape(shape):
            return "invalid tensor shape \(shape): dimensions must be non-negative and the element count must fit in Int"
        case let .invalidReshape(from, to):
            return "reshape: cannot reshape \(from) (\(Tensor.elementCount(from) ?? -1) elements) to \(to)"
        case let .indexOutOfRange(op, index, bound):
            return "\(op): index \(index) is out of range 0..<\(bound)"
        case let .invalidArgument(op, message):
            return "\(op): \(message)"
        }
    }
}
