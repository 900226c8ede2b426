import Foundation

// Element-wise activations. Each returns a new tensor of the same shape. The scalar forms use Float math
// from libm (`tanhf`, `expf`), as PyTorch's CPU kernels do up to rounding.

/// Applies `f` to every element.
@inline(__always)
func mapElements(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    Tensor.filled(x.shape) { d in
        x.withUnsafeBufferPointer { src in
            for i in 0..<d.count { d[i] = f(src[i]) }
        }
    }
}

/// Logistic sigmoid of one value, 1 / (1 + e^−x), stable for large |x|.
@inline(__always)
func sigmoidScalar(_ v: Float) -> Float {
    if v >= 0 { return 1 / (1 + Foundation.exp(-v)) }
    let e = Foundation.exp(v)
    return e / (1 + e)
}

/// `torch.tanh` (the image heads fuse it into their convolution; this is the reference form `bench --layers`
/// and the kernel tests compare against).
public func tanh(_ x: Tensor) -> Tensor { mapElements(x) { Foundation.tanh($0) } }

/// `torch.nn.functional.relu6`: min(max(x, 0), 6) (EfficientNet-Lite's activation; the backbone fuses it into
/// its convolutions, and the fused-kernel tests compare against this form).
public func relu6(_ x: Tensor) -> Tensor { mapElements(x) { Swift.min(Swift.max($0, 0), 6) } }

