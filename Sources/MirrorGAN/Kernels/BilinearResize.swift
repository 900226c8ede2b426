/// Bilinear resize to a fixed output size, exactly as
/// `torch.nn.functional.interpolate(x, size=(height, width), mode='bilinear', align_corners=…)` on CPU
/// (no antialiasing, also when downsampling).
///
/// Source coordinate of output index d (computed in Float, as PyTorch does for float tensors):
/// - `alignCorners == true`: s = d · (in − 1) / (out − 1) (s = 0 when out == 1);
/// - `alignCorners == false`: s = max((d + 0.5) · in / out − 0.5, 0).
/// Then i0 = ⌊s⌋, i1 = min(i0 + 1, in − 1), λ = s − i0, value = (1 − λ)·v[i0] + λ·v[i1], per axis.
///
/// - Parameter x: `[N, C, H, W]`. - Returns: `[N, C, height, width]`.
public func resizeBilinear(_ x: Tensor, height: Int, width: Int, alignCorners: Bool) throws -> Tensor {
    let op = "resizeBilinear"
    try requireRank(op, x, 4, "4 ([N, C, H, W])")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    try requireArgument(op, height >= 1 && width >= 1, "output size must be ≥ 1, got \(height)×\(width)")
    try requireArgument(op, h >= 1 && w >= 1, "input spatial size must be ≥ 1, got \(h)×\(w)")
    // The taps live in the thread's scratch buffer (two arrays of them were two allocations per call).
    let tapFloats = MemoryLayout<BilinearTap>.stride / MemoryLayout<Float>.stride
    let scratch = UnsafeMutableRawPointer(ScratchBuffer.current.floats((height + width) * tapFloats))
    let ys = UnsafeMutableBufferPointer(start: scratch.bindMemory(to: BilinearTap.self, capacity: height + width),
                                        count: height)
    let xs = UnsafeMutableBufferPointer(start: ys.baseAddress.map { $0 + height }, count: width)
    for d in 0..<height { ys[d] = bilinearTap(d, input: h, output: height, alignCorners: alignCorners) }
    for d in 0..<width { xs[d] = bilinearTap(d, input: w, output: width, alignCorners: alignCorners) }
    let out = TensorBuffer.zeros(n * c * height * width)
    x.withUnsafeBufferPointer { xp in
        out.withFreshStorage { o in
            for plane in 0..<(n * c) {
                let src = plane * h * w, dst = plane * height * width
                for oy in 0..<height {
                    let ty = ys[oy]
                    let row0 = src + ty.i0 * w, row1 = src + ty.i1 * w
                    for ox in 0..<width {
                        let tx = xs[ox]
                        let top = tx.w0 * xp[row0 + tx.i0] + tx.w1 * xp[row0 + tx.i1]
                        let bottom = tx.w0 * xp[row1 + tx.i0] + tx.w1 * xp[row1 + tx.i1]
                        o[dst + oy * width + ox] = ty.w0 * top + ty.w1 * bottom
                    }
                }
            }
        }
    }
    return Tensor(uncheckedShape: [n, c, height, width], data: out)
}

/// The two source indices and weights of each output index along one axis.
struct BilinearTap { let i0: Int, i1: Int, w0: Float, w1: Float }

/// The tap of output index `d`.
func bilinearTap(_ d: Int, input: Int, output: Int, alignCorners: Bool) -> BilinearTap {
    let scale: Float = alignCorners
        ? (output > 1 ? Float(input - 1) / Float(output - 1) : 0)
        : Float(input) / Float(output)
    let s: Float = alignCorners ? scale * Float(d) : Swift.max(scale * (Float(d) + 0.5) - 0.5, 0)
    let i0 = Swift.min(Int(s), input - 1)
    let i1 = i0 + (i0 < input - 1 ? 1 : 0)
    let lambda = Swift.min(Swift.max(s - Float(i0), 0), 1)
    return BilinearTap(i0: i0, i1: i1, w0: 1 - lambda, w1: lambda)
}
