/// Inference layers built from checkpoint tensors: convolution and linear layers with BatchNorm folded in
/// at load time (exact in real arithmetic; within float rounding of PyTorch's separate BN).

/// A layer (conv or linear) into whose weight and bias a following inference BatchNorm folds.
protocol FoldsBatchNorm {
    var weight: Tensor { get set }
    var bias: Tensor? { get set }
}

extension FoldsBatchNorm {
    /// This layer with the BatchNorm that follows it folded into its weight and bias.
    func folding(_ bn: BatchNormParameters) throws -> Self {
        var copy = self
        let folded = try foldBatchNorm(weight: weight, bias: bias, into: bn)
        copy.weight = folded.weight
        copy.bias = folded.bias
        return copy
    }
}

/// How a convolution pads its input.
enum ConvPadding: Sendable {
    case fixed(Padding2D)
    /// TensorFlow SAME for the actual input size (EfficientNet; asymmetric at stride 2).
    case tfSame
}

struct ConvLayer: FoldsBatchNorm, Sendable {
    var weight: Tensor
    var bias: Tensor?
    var stride: Int = 1
    var padding: ConvPadding = .fixed(.zero)
    var groups: Int = 1
    /// The weight as a [C·kH·kW, O] matrix (`withTransposedWeight`), for the GEMM's transposed-A form.
    var transposedWeight: Tensor?

    var outChannels: Int { weight.shape[0] }
    var kernel: Int { weight.shape[2] }

    /// Reads `name.weight` [out, in/groups, k, k] (and `name.bias` when `bias`).
    init(_ r: WeightReader, _ name: String, in inChannels: Int, out: Int, kernel: Int, stride: Int = 1,
         padding: ConvPadding, groups: Int = 1, bias: Bool = false) throws {
        try self.init(r, name, in: inChannels, out: out, kernelSize: (kernel, kernel), stride: stride, padding: padding,
                      groups: groups, bias: bias)
    }

    /// Reads `name.weight` [out, in/groups, kH, kW] (Inception's 1×7, 7×1, 1×3 and 3×1 kernels included).
    init(_ r: WeightReader, _ name: String, in inChannels: Int, out: Int, kernelSize: (Int, Int), stride: Int = 1,
         padding: ConvPadding, groups: Int = 1, bias: Bool = false) throws {
        let s = r.scope(name)
        weight = try s.tensor("weight", [out, inChannels / groups, kernelSize.0, kernelSize.1])
        self.bias = bias ? try s.tensor("bias", [out]) : nil
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    /// - Parameters:
    ///   - relu6: clamp to [0, 6] in the bias pass (`F.relu6(conv(x))`).
    ///   - residual: added after the bias, in the same pass.
    ///   - pending: a producer's bias and ReLU6 not yet applied to `x` (depthwise layers only; see `conv2d`).
    ///   - relu: max(·, 0) after the bias and residual, in the same pass (not with `relu6`; not depthwise).
    func callAsFunction(_ x: Tensor, relu6: Bool = false, residual: Tensor? = nil,
                        pending: PendingEpilogue? = nil, relu: Bool = false) throws -> Tensor {
        let pad: Padding2D
        switch padding {
        case let .fixed(p): pad = p
        case .tfSame: pad = Padding2D.tfSame(height: x.shape[2], width: x.shape[3], kernel: (kernel, kernel),
                                              stride: (stride, stride))
        }
        return try conv2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: pad, groups: groups,
                          relu6: relu6, residual: residual, inputBias: pending?.bias, inputRelu6: pending?.relu6 ?? false,
                          transposedWeight: transposedWeight, relu: relu)
    }

    /// This layer with a transposed copy of its weight (call after folding BatchNorm into it; groups 1
    /// only). OpenBLAS 0.3.21's small-matrix kernel for the untransposed product (the one its CBLAS
    /// interface picks for a weight · columns product under ~1 M multiply-adds, i.e. most of the
    /// backbone's 1×1 convolutions) mallocs a packing buffer on every call; the transposed-A product
    /// takes another kernel, runs at the same speed (docs/PERFORMANCE.md) and allocates nothing.
    func withTransposedWeight() -> ConvLayer {
        guard groups == 1, weight.rank == 4 else { return self }
        var copy = self
        let o = weight.shape[0], k = weight.count / max(o, 1)
        copy.transposedWeight = Tensor(uncheckedShape: [k, o], data: TensorBuffer(transposing: weight.data, rows: o, columns: k))
        return copy
    }

    /// The convolution without its bias, and the epilogue (bias, ReLU6) left for the consumer to apply.
    func deferringEpilogue(_ x: Tensor, relu6: Bool) throws -> (Tensor, PendingEpilogue) {
        var withoutBias = self
        withoutBias.bias = nil
        return (try withoutBias(x), PendingEpilogue(bias: bias, relu6: relu6))
    }
}

/// A layer's bias and activation, not yet applied to its output.
struct PendingEpilogue {
    let bias: Tensor?
    let relu6: Bool
}

struct LinearLayer: FoldsBatchNorm, Sendable {
    var weight: Tensor
    var bias: Tensor?

    init(_ r: WeightReader, _ name: String, in inFeatures: Int, out: Int, bias: Bool = true) throws {
        let s = r.scope(name)
        weight = try s.tensor("weight", [out, inFeatures])
        self.bias = bias ? try s.tensor("bias", [out]) : nil
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        try linear(x, weight: weight, bias: bias)
    }
}

/// `Tensor` helpers the models need beyond the kernels.
extension Tensor {
    /// Sample `index` of the leading (batch) dimension, keeping it: `[1, ...]`.
    func sample(_ index: Int) -> Tensor {
        precondition(rank >= 1 && index >= 0 && index < shape[0], "sample: index \(index) out of range for \(shape)")
        let per = shape.dropFirst().reduce(1, *)
        return Tensor.filled(shape.replacing(0, with: 1)) { out in
            withUnsafeBufferPointer { src in
                guard let dst = out.baseAddress, let base = src.baseAddress else { return }
                dst.update(from: base + index * per, count: per)
            }
        }
    }

    /// Transposes the last two dimensions of a rank-3 tensor: `[B, M, N]` → `[B, N, M]`.
    func transposedLastTwo() -> Tensor {
        precondition(rank == 3, "transposedLastTwo needs rank 3, got \(shape)")
        let (b, m, n) = (shape[0], shape[1], shape[2])
        let out = TensorBuffer.zeros(count)
        data.withUnsafeBufferPointer { src in
            out.withFreshStorage { dst in
                for i in 0..<b {
                    let base = i * m * n
                    for r in 0..<m {
                        for c in 0..<n { dst[base + c * m + r] = src[base + r * n + c] }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [b, n, m], data: out)
    }
}

/// A trunk convolution (Inception-v3, ResNet-152) with its BatchNorm folded in and a ReLU after it: the 3×3,
/// stride-1, pad-1 ones run as Winograd F(2×2, 3×3) (measured at the trunks' shapes, one thread: about half the
/// time of im2col + SGEMM, e.g. 256 → 256 channels at 14² 2.5 → 1.4 ms, 32 → 64 at 147² 14.8 → 5.4 ms; its kernel
/// transform holds 16/9 of the weight), the others as im2col + SGEMM with the ReLU in the bias pass.
enum TrunkConv: Sendable {
    case direct(ConvLayer)
    case winograd(WinogradF2x2)

    init(_ layer: ConvLayer) throws {
        if case let .fixed(p) = layer.padding, p == Padding2D(1), layer.stride == 1, layer.groups == 1,
           layer.weight.shape[2] == 3, layer.weight.shape[3] == 3 {
            self = .winograd(try WinogradF2x2(weight: layer.weight, bias: layer.bias))
        } else {
            self = .direct(layer)
        }
    }

    /// relu(conv(x) + residual?).
    func callAsFunction(_ x: Tensor, residual: Tensor? = nil) throws -> Tensor {
        switch self {
        case let .direct(layer): return try layer(x, residual: residual, relu: true)
        case let .winograd(w):
            guard residual == nil else {
                throw TensorError.invalidArgument(op: "TrunkConv", message: "a Winograd trunk conv takes no residual")
            }
            return try w(x, epilogue: .relu)
        }
    }
}
