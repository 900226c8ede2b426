/// Max pooling as `torch.nn.functional.max_pool2d(x, kernel, stride, padding, dilation=1, ceil_mode=False)`:
/// padding acts as −∞, so only input positions compete.
///
/// - Parameters: `x` `[N, C, H, W]`; `stride` defaults to the kernel size.
/// - Returns: `[N, C, Hout, Wout]` (floor mode).
public func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                      padding: Padding2D = .zero) throws -> Tensor {
    let window = try PoolWindow(op: "maxPool2d", x: x, kernel: kernel, stride: stride ?? kernel, padding: padding)
    let out = TensorBuffer.zeros(window.outputCount)
    x.withUnsafeBufferPointer { xp in
        out.withFreshStorage { o in
            for plane in 0..<window.planes {
                let src = plane * window.h * window.w
                for oy in 0..<window.outH {
                    let (y0, y1, _) = window.rows(oy)
                    for ox in 0..<window.outW {
                        let (x0, x1, _) = window.columns(ox)
                        var best = -Float.infinity
                        for y in y0..<y1 {
                            for xi in x0..<x1 {
                                let v = xp[src + y * window.w + xi]
                                // NaN propagates, as in PyTorch.
                                if v > best || v.isNaN { best = v }
                            }
                        }
                        o[(plane * window.outH + oy) * window.outW + ox] = best
                    }
                }
            }
        }
    }
    return Tensor(uncheckedShape: window.outputShape, data: out)
}
