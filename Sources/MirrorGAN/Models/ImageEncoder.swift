/// DAMSM image heads (`CNN_ENCODER`'s `emb_features` and `emb_cnn_code`) over the backbone features:
/// region features `[B, nef, 14, 14]` and the global code `[B, nef]` used by R-precision. The global code is
/// `emb_cnn_code(global)` (the linear head, official and converted models), or, with model.json
/// `"image_encoder": {"code_head": "local_conv", "width": W}`, `LocalConvCodeHead`'s over the region map as well.
public struct ImageEncoder: Sendable {
    let embFeatures: ConvLayer
    let embCnnCode: LinearLayer
    /// nil: the linear head.
    let localConv: LocalConvCodeHead?

    /// Which head gives the global code.
    public var codeHead: ImageEncoderCodeHead { localConv.map { .localConv(width: $0.width) } ?? .linear }

    /// - Parameter codeHead: the global-code head (`ModelConfig.codeHead(file:)`); its tensors are read from `r`
    ///   too, so `r.finish()` reports a checkpoint of the other head.
    init(_ r: WeightReader, nef: Int, localChannels: Int, globalChannels: Int, codeHead: ImageEncoderCodeHead = .linear) throws {
        embFeatures = try ConvLayer(r, "emb_features", in: localChannels, out: nef, kernel: 1, padding: .fixed(.zero))
        embCnnCode = try LinearLayer(r, "emb_cnn_code", in: globalChannels, out: nef)
        switch codeHead {
        case .linear: localConv = nil
        case let .localConv(width):
            guard width > 0 else {
                throw ModelLoadError.invalidConfig(file: "model.json", message:
                    "image_encoder.width must be a positive integer for code_head \"\(ModelConfig.ImageEncoder.localConv)\", got \(width)")
            }
            localConv = try LocalConvCodeHead(r, nef: nef, localChannels: localChannels, width: width)
        }
    }

    public func regions(_ local: Tensor) throws -> Tensor { try embFeatures(local) }

    /// The DAMSM global code `[B, nef]` of the backbone's region map `local` `[B, Cl, H, W]` and global feature
    /// `global` `[B, Cg]` (the linear head reads only `global`).
    public func code(local: Tensor, global: Tensor) throws -> Tensor {
        let linearCode = try embCnnCode(global)
        guard let localConv else { return linearCode }
        return try localConv(local: local, linearCode: linearCode)
    }

    /// The local_conv code head, BatchNorm (eps 1e-5) folded into its convolutions at load:
    /// `x = relu(bn2(conv2(relu(bn1(conv1(local))))))` (3×3, padding 1; conv2 stride 2), then
    /// `code_out(cat([x.mean((2, 3)), relu(emb_cnn_code(global))], dim=1))`.
    struct LocalConvCodeHead: Sendable {
        let conv1: ConvLayer
        let conv2: ConvLayer
        let out: LinearLayer
        let width: Int

        init(_ r: WeightReader, nef: Int, localChannels: Int, width: Int) throws {
            conv1 = try ConvLayer(r, "code_conv1", in: localChannels, out: width, kernel: 3, padding: .fixed(Padding2D(1)),
                                  bias: true)
                .folding(r.batchNorm("code_bn1", channels: width, eps: 1e-5)).withTransposedWeight()
            conv2 = try ConvLayer(r, "code_conv2", in: width, out: width, kernel: 3, stride: 2, padding: .fixed(Padding2D(1)),
                                  bias: true)
                .folding(r.batchNorm("code_bn2", channels: width, eps: 1e-5)).withTransposedWeight()
            out = try LinearLayer(r, "code_out", in: width + nef, out: nef)
            self.width = width
        }

        /// relu(conv(x)), the ReLU in the GEMM's bias pass; a 1-channel input (which `conv2d` runs as a depthwise
        /// convolution, without that epilogue) in a pass of its own.
        private static func convRelu(_ layer: ConvLayer, _ x: Tensor) throws -> Tensor {
            guard x.rank == 4, x.shape[1] == 1 else { return try layer(x, relu: true) }
            return mapElements(try layer(x)) { max($0, 0) }
        }

        /// - Parameters:
        ///   - local: `[B, Cl, H, W]`.
        ///   - linearCode: `emb_cnn_code(global)`, `[B, nef]` (ReLU'd here, as it is copied into the concatenation).
        func callAsFunction(local: Tensor, linearCode: Tensor) throws -> Tensor {
            let x = try Self.convRelu(conv2, Self.convRelu(conv1, local))
            let (b, w, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
            let nef = linearCode.shape.last ?? 0
            guard linearCode.shape == [b, nef] else {
                throw TensorError.shapeMismatch(op: "ImageEncoder.code (global feature batch vs region map batch)",
                                                expected: [b, nef], actual: linearCode.shape)
            }
            // [mean over H×W of x, relu(linearCode)] per sample: one small pass, no intermediate tensors.
            let joined = Tensor.filled([b, w + nef]) { dst in
                x.withUnsafeBufferPointer { xs in
                    linearCode.withUnsafeBufferPointer { cs in
                        for i in 0..<b {
                            let row = i * (w + nef)
                            for c in 0..<w {
                                let plane = (i * w + c) * hw
                                var s: Float = 0
                                for k in 0..<hw { s += xs[plane + k] }
                                dst[row + c] = s / Float(hw)
                            }
                            for j in 0..<nef { dst[row + w + j] = max(cs[i * nef + j], 0) }
                        }
                    }
                }
            }
            return try out(joined)
        }
    }
}
