// The epilogue the fused convolutions (Winograd F(2×2, 3×3) and F(4×4, 3×3), the phase-split upsampling
// convolution) apply in their output pass.

/// What a fused convolution does after adding its bias.
public enum ConvEpilogue: Sendable {
    case identity
    /// `F.glu(dim=1)`: first half of the channels × sigmoid(second half).
    case glu
    /// `torch.tanh`.
    case tanh
    /// Adds a tensor of the output's shape (residual connection).
    case residual(Tensor)
    /// max(·, 0) (`F.relu`: the Inception-v3 and ResNet-152 trunks' conv → BN → ReLU).
    case relu
}

extension ConvEpilogue {
    /// Checks the epilogue against a convolution's `[N, O, H, W]` result: the output channel count (O/2
    /// with GLU, which needs O even) and the residual tensor, if any (which must have that shape).
    func resolve(_ op: String, outChannels o: Int, shape: Shape) throws -> (outChannels: Int, residual: Tensor?) {
        switch self {
        case .glu:
            try requireArgument(op, o % 2 == 0, "GLU needs an even channel count, got \(o)")
            return (o / 2, nil)
        case let .residual(r):
            // The operation's name is built only on failure (a concatenation per call was a heap allocation).
            guard r.shape == shape else {
                throw TensorError.shapeMismatch(op: op + " residual", expected: shape, actual: r.shape)
            }
            return (o, r)
        case .identity, .tanh, .relu:
            return (o, nil)
        }
    }
}
