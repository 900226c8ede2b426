/// Generator building blocks (spec §3.2). Every conv in G outputs 2× the nominal channels for the GLU
/// (pitfall 1); BatchNorm (eps 1e-5, running statistics) is folded into the conv at load time.

/// `upBlock(in, out)`: nearest ×2 → conv3x3(in → 2·out) → BN → GLU. Keys `.1.weight`, `.2.*`.
/// Runs fused, never materialising the upsampled tensor: on inputs of 32² and more, as one Winograd
/// F(4×4, 3×3) convolution of the low-resolution input whose 4·2·out channels are the output's four
/// phases (`WinogradF4x4(upsampling:)`, 2.25 multiplies per output and channel pair); below that, or where
/// that kernel transform would be large (it is 16× the weights: only layers with in·out ≤ 64·64 get
/// one), as four 2×2 phase convolutions (`UpsampleConv3x3`, 4 multiplies). `conv` keeps the folded layer.
struct UpBlock: Sendable {
    let conv: ConvLayer
    let fused: UpsampleConv3x3
    let winograd: WinogradF4x4?

    init(_ r: WeightReader, _ name: String, in inChannels: Int, out: Int) throws {
        let s = r.scope(name)
        conv = try ConvLayer(s, "1", in: inChannels, out: 2 * out, kernel: 3, padding: .fixed(Padding2D(1)))
            .folding(s.batchNorm("2", channels: 2 * out, eps: 1e-5))
        fused = try UpsampleConv3x3(weight: conv.weight, bias: conv.bias)
        winograd = inChannels * out <= 64 * 64 ? try WinogradF4x4(upsampling: conv.weight, bias: conv.bias) : nil
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        if let winograd, x.rank == 4, x.shape[2] >= 32, x.shape[3] >= 32 {
            return try winograd(x, epilogue: .glu)
        }
        return try fused(x, glu: true)
    }
}

/// `ResBlock(C)`: conv3x3(C → 2C) → BN → GLU → conv3x3(C → C) → BN, plus the input; no activation after
/// the addition. Keys `block.0`, `block.1`, `block.3`, `block.4`.
/// Both convolutions run as Winograd F(4×4, 3×3) with the bias + GLU and bias + residual-add epilogues.
struct ResBlock: Sendable {
    let conv1: ConvLayer
    let conv2: ConvLayer
    let fused1: WinogradF4x4
    let fused2: WinogradF4x4

    init(_ r: WeightReader, _ name: String, channels c: Int) throws {
        let s = r.scope(name).scope("block")
        conv1 = try ConvLayer(s, "0", in: c, out: 2 * c, kernel: 3, padding: .fixed(Padding2D(1)))
            .folding(s.batchNorm("1", channels: 2 * c, eps: 1e-5))
        conv2 = try ConvLayer(s, "3", in: c, out: c, kernel: 3, padding: .fixed(Padding2D(1)))
            .folding(s.batchNorm("4", channels: c, eps: 1e-5))
        fused1 = try WinogradF4x4(weight: conv1.weight, bias: conv1.bias)
        fused2 = try WinogradF4x4(weight: conv2.weight, bias: conv2.bias)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        try fused2(fused1(x, epilogue: .glu), epilogue: .residual(x))
    }
}

/// `GET_IMAGE_G`: conv3x3(ngf → 3, no bias) → tanh. Key `img.0.weight`.
/// Runs as Winograd F(2×2, 3×3) with tanh in the epilogue.
struct ImageHead: Sendable {
    let conv: ConvLayer
    let fused: WinogradF2x2

    init(_ r: WeightReader, _ name: String, ngf: Int) throws {
        conv = try ConvLayer(r.scope(name), "img.0", in: ngf, out: 3, kernel: 3, padding: .fixed(Padding2D(1)))
        fused = try WinogradF2x2(weight: conv.weight, bias: conv.bias)
    }

    func callAsFunction(_ h: Tensor) throws -> Tensor { try fused(h, epilogue: .tanh) }
}
