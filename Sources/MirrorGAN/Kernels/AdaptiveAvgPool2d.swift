/// Adaptive average pooling as `torch.nn.functional.adaptive_avg_pool2d(x, (outH, outW))`: output cell i
/// along an axis of input size `in` averages input indices [⌊i·in/out⌋, ⌈(i+1)·in/out⌉). Windows may
/// overlap and differ in size. `(1, 1)` is the global average pool.
///
/// - Parameter x: `[N, C, H, W]`. - Returns: `[N, C, outH, outW]`.
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) throws -> Tensor {
    let op = "adaptiveAvgPool2d"
    try requireRank(op, x, 4, "4 ([N, C, H, W])")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = outputSize
    try requireArgument(op, oh >= 1 && ow >= 1, "output size must be ≥ 1, got \(outputSize)")
    try requireArgument(op, h >= 1 && w >= 1, "input spatial size must be ≥ 1, got \(h)×\(w)")
    func start(_ i: Int, _ input: Int, _ output: Int) -> Int { (i * input) / output }
    func end(_ i: Int, _ input: Int, _ output: Int) -> Int { ((i + 1) * input + output - 1) / output }
    let out = TensorBuffer.zeros(n * c * oh * ow)
    x.withUnsafeBufferPointer { xp in
        out.withFreshStorage { o in
            for plane in 0..<(n * c) {
                let src = plane * h * w
                for oy in 0..<oh {
                    let y0 = start(oy, h, oh), y1 = end(oy, h, oh)
                    for ox in 0..<ow {
                        let x0 = start(ox, w, ow), x1 = end(ox, w, ow)
                        var sum: Float = 0
                        for y in y0..<y1 {
                            for xi in x0..<x1 { sum += xp[src + y * w + xi] }
                        }
                        o[(plane * oh + oy) * ow + ox] = sum / Float((y1 - y0) * (x1 - x0))
                    }
                }
            }
        }
    }
    return Tensor(uncheckedShape: [n, c, oh, ow], data: out)
}
