/// Nearest-neighbour ×2 upsampling (`nn.Upsample(scale_factor=2, mode='nearest')`, AttnGAN's `upBlock`):
/// out[n, c, y, x] = in[n, c, y / 2, x / 2].
///
/// - Parameter x: `[N, C, H, W]`. - Returns: `[N, C, 2H, 2W]`.
public func upsampleNearest2x(_ x: Tensor) throws -> Tensor {
    try requireRank("upsampleNearest2x", x, 4, "4 ([N, C, H, W])")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let ow = 2 * w
    let out = TensorBuffer.zeros(n * c * 4 * h * w)
    x.withUnsafeBufferPointer { xp in
        out.withFreshStorage { o in
            for plane in 0..<(n * c) {
                let src = plane * h * w, dst = plane * 4 * h * w
                for y in 0..<h {
                    let top = dst + 2 * y * ow
                    for xi in 0..<w {
                        let v = xp[src + y * w + xi]
                        o[top + 2 * xi] = v
                        o[top + 2 * xi + 1] = v
                    }
                    // The second output row repeats the first.
                    for i in 0..<ow { o[top + ow + i] = o[top + i] }
                }
            }
        }
    }
    return Tensor(uncheckedShape: [n, c, 2 * h, 2 * w], data: out)
}
