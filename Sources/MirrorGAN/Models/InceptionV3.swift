/// The official DAMSM image encoder's trunk (`CNN_ENCODER`): torchvision's Inception-v3 (`Inception3`) blocks under
/// their own names (`Conv2d_1a_3x3` … `Mixed_7c`; no `AuxLogits`, no `fc`), as the converter writes them
/// (docs/MODEL_FORMAT.md). Every `BasicConv2d` is conv (no bias) → BN (eps `bn_eps`, 0.001) → ReLU, with the BN
/// folded into the conv at load and the ReLU applied in the conv's bias pass. The input in [−1, 1] is resized
/// bilinearly to 299 and goes in as it is (no ImageNet mean/std, no `transform_input`: pitfall 15; model.json's
/// pixel_mean = pixel_std = 0.5 make the mapping the identity). Reference: `InceptionTrunk` in
/// training/mirrorgan_train/backbones.py.
public struct InceptionV3: Sendable {
    /// `BasicConv2d`: conv → BN → ReLU (3×3 stride-1 ones by Winograd: `TrunkConv`).
    struct BasicConv: Sendable {
        let conv: TrunkConv

        init(_ r: WeightReader, _ name: String, in cin: Int, out: Int, kernel: (Int, Int), stride: Int = 1,
             padding: (Int, Int) = (0, 0), eps: Float) throws {
            let s = r.scope(name)
            conv = try TrunkConv(ConvLayer(s, "conv", in: cin, out: out, kernelSize: kernel, stride: stride,
                                           padding: .fixed(Padding2D(vertical: padding.0, horizontal: padding.1)))
                .folding(s.batchNorm("bn", channels: out, eps: eps)))
        }

        init(_ r: WeightReader, _ name: String, in cin: Int, out: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
             eps: Float) throws {
            try self.init(r, name, in: cin, out: out, kernel: (kernel, kernel), stride: stride, padding: (padding, padding),
                          eps: eps)
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor { try conv(x) }
    }

    /// The 3×3 stride-1 average pool (padding 1, zeros counted) of the Mixed blocks' pooling branches.
    static func branchPool(_ x: Tensor) throws -> Tensor {
        try avgPool2d(x, kernel: (3, 3), stride: (1, 1), padding: Padding2D(1), countIncludePad: true)
    }

    /// The 3×3 stride-2 max pool without padding (after `Conv2d_2b_3x3` and `Conv2d_4a_3x3`, and in Mixed_6a / 7a).
    static func reduce(_ x: Tensor) throws -> Tensor { try maxPool2d(x, kernel: (3, 3), stride: (2, 2)) }

    /// `InceptionA` (Mixed_5b/c/d): 1×1 | 1×1 → 5×5 | 1×1 → 3×3 → 3×3 | pool → 1×1.
    struct BlockA: Sendable {
        let b1x1, b5x5_1, b5x5_2, b3x3dbl_1, b3x3dbl_2, b3x3dbl_3, pool: BasicConv

        init(_ r: WeightReader, in cin: Int, poolFeatures: Int, eps: Float) throws {
            b1x1 = try BasicConv(r, "branch1x1", in: cin, out: 64, kernel: 1, eps: eps)
            b5x5_1 = try BasicConv(r, "branch5x5_1", in: cin, out: 48, kernel: 1, eps: eps)
            b5x5_2 = try BasicConv(r, "branch5x5_2", in: 48, out: 64, kernel: 5, padding: 2, eps: eps)
            b3x3dbl_1 = try BasicConv(r, "branch3x3dbl_1", in: cin, out: 64, kernel: 1, eps: eps)
            b3x3dbl_2 = try BasicConv(r, "branch3x3dbl_2", in: 64, out: 96, kernel: 3, padding: 1, eps: eps)
            b3x3dbl_3 = try BasicConv(r, "branch3x3dbl_3", in: 96, out: 96, kernel: 3, padding: 1, eps: eps)
            pool = try BasicConv(r, "branch_pool", in: cin, out: poolFeatures, kernel: 1, eps: eps)
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            try concat(b1x1(x), b5x5_2(b5x5_1(x)), b3x3dbl_3(b3x3dbl_2(b3x3dbl_1(x))), pool(InceptionV3.branchPool(x)),
                       axis: 1)
        }
    }

    /// `InceptionB` (Mixed_6a): 3×3/2 | 1×1 → 3×3 → 3×3/2 | max pool 3/2.
    struct BlockB: Sendable {
        let b3x3, b3x3dbl_1, b3x3dbl_2, b3x3dbl_3: BasicConv

        init(_ r: WeightReader, in cin: Int, eps: Float) throws {
            b3x3 = try BasicConv(r, "branch3x3", in: cin, out: 384, kernel: 3, stride: 2, eps: eps)
            b3x3dbl_1 = try BasicConv(r, "branch3x3dbl_1", in: cin, out: 64, kernel: 1, eps: eps)
            b3x3dbl_2 = try BasicConv(r, "branch3x3dbl_2", in: 64, out: 96, kernel: 3, padding: 1, eps: eps)
            b3x3dbl_3 = try BasicConv(r, "branch3x3dbl_3", in: 96, out: 96, kernel: 3, stride: 2, eps: eps)
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            try concat(b3x3(x), b3x3dbl_3(b3x3dbl_2(b3x3dbl_1(x))), InceptionV3.reduce(x), axis: 1)
        }
    }

    /// `InceptionC` (Mixed_6b–6e, `c7` = 128, 160, 160, 192): 1×1 | 1×1 → 1×7 → 7×1 | 1×1 → 7×1 → 1×7 → 7×1 → 1×7 |
    /// pool → 1×1.
    struct BlockC: Sendable {
        let b1x1, b7x7_1, b7x7_2, b7x7_3, dbl_1, dbl_2, dbl_3, dbl_4, dbl_5, pool: BasicConv

        init(_ r: WeightReader, c7: Int, eps: Float) throws {
            let cin = 768
            b1x1 = try BasicConv(r, "branch1x1", in: cin, out: 192, kernel: 1, eps: eps)
            b7x7_1 = try BasicConv(r, "branch7x7_1", in: cin, out: c7, kernel: 1, eps: eps)
            b7x7_2 = try BasicConv(r, "branch7x7_2", in: c7, out: c7, kernel: (1, 7), padding: (0, 3), eps: eps)
            b7x7_3 = try BasicConv(r, "branch7x7_3", in: c7, out: 192, kernel: (7, 1), padding: (3, 0), eps: eps)
            dbl_1 = try BasicConv(r, "branch7x7dbl_1", in: cin, out: c7, kernel: 1, eps: eps)
            dbl_2 = try BasicConv(r, "branch7x7dbl_2", in: c7, out: c7, kernel: (7, 1), padding: (3, 0), eps: eps)
            dbl_3 = try BasicConv(r, "branch7x7dbl_3", in: c7, out: c7, kernel: (1, 7), padding: (0, 3), eps: eps)
            dbl_4 = try BasicConv(r, "branch7x7dbl_4", in: c7, out: c7, kernel: (7, 1), padding: (3, 0), eps: eps)
            dbl_5 = try BasicConv(r, "branch7x7dbl_5", in: c7, out: 192, kernel: (1, 7), padding: (0, 3), eps: eps)
            pool = try BasicConv(r, "branch_pool", in: cin, out: 192, kernel: 1, eps: eps)
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            try concat(b1x1(x), b7x7_3(b7x7_2(b7x7_1(x))), dbl_5(dbl_4(dbl_3(dbl_2(dbl_1(x))))),
                       pool(InceptionV3.branchPool(x)), axis: 1)
        }
    }

    /// `InceptionD` (Mixed_7a): 1×1 → 3×3/2 | 1×1 → 1×7 → 7×1 → 3×3/2 | max pool 3/2.
    struct BlockD: Sendable {
        let b3x3_1, b3x3_2, b7x7x3_1, b7x7x3_2, b7x7x3_3, b7x7x3_4: BasicConv

        init(_ r: WeightReader, eps: Float) throws {
            let cin = 768
            b3x3_1 = try BasicConv(r, "branch3x3_1", in: cin, out: 192, kernel: 1, eps: eps)
            b3x3_2 = try BasicConv(r, "branch3x3_2", in: 192, out: 320, kernel: 3, stride: 2, eps: eps)
            b7x7x3_1 = try BasicConv(r, "branch7x7x3_1", in: cin, out: 192, kernel: 1, eps: eps)
            b7x7x3_2 = try BasicConv(r, "branch7x7x3_2", in: 192, out: 192, kernel: (1, 7), padding: (0, 3), eps: eps)
            b7x7x3_3 = try BasicConv(r, "branch7x7x3_3", in: 192, out: 192, kernel: (7, 1), padding: (3, 0), eps: eps)
            b7x7x3_4 = try BasicConv(r, "branch7x7x3_4", in: 192, out: 192, kernel: 3, stride: 2, eps: eps)
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            try concat(b3x3_2(b3x3_1(x)), b7x7x3_4(b7x7x3_3(b7x7x3_2(b7x7x3_1(x)))), InceptionV3.reduce(x), axis: 1)
        }
    }

    /// `InceptionE` (Mixed_7b, 7c): 1×1 | 1×1 → [1×3, 3×1] | 1×1 → 3×3 → [1×3, 3×1] | pool → 1×1.
    struct BlockE: Sendable {
        let b1x1, b3x3_1, b3x3_2a, b3x3_2b, dbl_1, dbl_2, dbl_3a, dbl_3b, pool: BasicConv

        init(_ r: WeightReader, in cin: Int, eps: Float) throws {
            b1x1 = try BasicConv(r, "branch1x1", in: cin, out: 320, kernel: 1, eps: eps)
            b3x3_1 = try BasicConv(r, "branch3x3_1", in: cin, out: 384, kernel: 1, eps: eps)
            b3x3_2a = try BasicConv(r, "branch3x3_2a", in: 384, out: 384, kernel: (1, 3), padding: (0, 1), eps: eps)
            b3x3_2b = try BasicConv(r, "branch3x3_2b", in: 384, out: 384, kernel: (3, 1), padding: (1, 0), eps: eps)
            dbl_1 = try BasicConv(r, "branch3x3dbl_1", in: cin, out: 448, kernel: 1, eps: eps)
            dbl_2 = try BasicConv(r, "branch3x3dbl_2", in: 448, out: 384, kernel: 3, padding: 1, eps: eps)
            dbl_3a = try BasicConv(r, "branch3x3dbl_3a", in: 384, out: 384, kernel: (1, 3), padding: (0, 1), eps: eps)
            dbl_3b = try BasicConv(r, "branch3x3dbl_3b", in: 384, out: 384, kernel: (3, 1), padding: (1, 0), eps: eps)
            pool = try BasicConv(r, "branch_pool", in: cin, out: 192, kernel: 1, eps: eps)
        }

        func callAsFunction(_ x: Tensor) throws -> Tensor {
            let a = try b3x3_1(x)
            let d = try dbl_2(dbl_1(x))
            return try concat(b1x1(x), concat(b3x3_2a(a), b3x3_2b(a), axis: 1), concat(dbl_3a(d), dbl_3b(d), axis: 1),
                              pool(InceptionV3.branchPool(x)), axis: 1)
        }
    }

    let conv1a, conv2a, conv2b, conv3b, conv4a: BasicConv
    let mixed5: [BlockA]
    let mixed6a: BlockB
    let mixed6: [BlockC]
    let mixed7a: BlockD
    let mixed7: [BlockE]
    let preprocessing: TrunkPreprocessing

    /// Region features come from Mixed_6e (768 × 17 × 17); the global feature is the spatial mean of Mixed_7c (2048).
    public static let localChannels = 768, globalChannels = 2048

    init(_ r: WeightReader, config: ModelConfig.Backbone) throws {
        let eps = config.bnEps ?? 1e-3
        conv1a = try BasicConv(r, "Conv2d_1a_3x3", in: 3, out: 32, kernel: 3, stride: 2, eps: eps)
        conv2a = try BasicConv(r, "Conv2d_2a_3x3", in: 32, out: 32, kernel: 3, eps: eps)
        conv2b = try BasicConv(r, "Conv2d_2b_3x3", in: 32, out: 64, kernel: 3, padding: 1, eps: eps)
        conv3b = try BasicConv(r, "Conv2d_3b_1x1", in: 64, out: 80, kernel: 1, eps: eps)
        conv4a = try BasicConv(r, "Conv2d_4a_3x3", in: 80, out: 192, kernel: 3, eps: eps)
        mixed5 = try [(192, 32), (256, 64), (288, 64)].enumerated().map { i, c in
            try BlockA(r.scope("Mixed_5\(["b", "c", "d"][i])"), in: c.0, poolFeatures: c.1, eps: eps)
        }
        mixed6a = try BlockB(r.scope("Mixed_6a"), in: 288, eps: eps)
        mixed6 = try [128, 160, 160, 192].enumerated().map { i, c7 in
            try BlockC(r.scope("Mixed_6\(["b", "c", "d", "e"][i])"), c7: c7, eps: eps)
        }
        mixed7a = try BlockD(r.scope("Mixed_7a"), eps: eps)
        mixed7 = try [(1280, "b"), (2048, "c")].map { cin, s in try BlockE(r.scope("Mixed_7\(s)"), in: cin, eps: eps) }
        preprocessing = TrunkPreprocessing(config)
    }

    /// - Parameter image: `[B, 3, H, W]` in [−1, 1].
    /// - Returns: Mixed_6e's output `[B, 768, 17, 17]` (at 299²) and the spatial mean of Mixed_7c, `[B, 2048]`.
    public func callAsFunction(_ image: Tensor) throws -> (local: Tensor, global: Tensor) {
        var x = try conv2b(conv2a(conv1a(preprocessing(image))))
        x = try Self.reduce(x)
        x = try Self.reduce(conv4a(conv3b(x)))
        for block in mixed5 { x = try block(x) }
        x = try mixed6a(x)
        for block in mixed6 { x = try block(x) }
        let local = x
        x = try mixed7a(x)
        for block in mixed7 { x = try block(x) }
        return (local, try spatialMean(x))
    }
}
