/// Average pooling as `torch.nn.functional.avg_pool2d(x, kernel, stride, padding, ceil_mode=False,
/// count_include_pad=…)`.
///
/// - Parameters:
///   - x: `[N, C, H, W]`.
///   - kernel: (kH, kW); `stride` defaults to the kernel size, as in PyTorch.
///   - padding: implicit zero padding per side.
///   - countIncludePad: `true` divides every window by kH·kW (padding counts as zeros, PyTorch's default);
///     `false` divides by the number of window positions that fall inside the input.
/// - Returns: `[N, C, Hout, Wout]` (floor mode).
public func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: Padding2D = .zero,
                      countIncludePad: Bool = true) throws -> Tensor {
    let window = try PoolWindow(op: "avgPool2d", x: x, kernel: kernel, stride: stride ?? kernel, padding: padding)
    let out = TensorBuffer.zeros(window.outputCount)
    x.withUnsafeBufferPointer { xp in
        out.withFreshStorage { o in
            for plane in 0..<window.planes {
                let src = plane * window.h * window.w
                for oy in 0..<window.outH {
                    let (y0, y1, yPadded) = window.rows(oy)
                    for ox in 0..<window.outW {
                        let (x0, x1, xPadded) = window.columns(ox)
                        var sum: Float = 0
                        for y in y0..<y1 {
                            for xi in x0..<x1 { sum += xp[src + y * window.w + xi] }
                        }
                        let divisor = countIncludePad ? yPadded * xPadded : (y1 - y0) * (x1 - x0)
                        o[(plane * window.outH + oy) * window.outW + ox] = divisor > 0 ? sum / Float(divisor) : 0
                    }
                }
            }
        }
    }
    return Tensor(uncheckedShape: window.outputShape, data: out)
}

/// Geometry of a pooling window sliding over NCHW input (shared by avg and max pooling).
struct PoolWindow {
    let planes: Int, h: Int, w: Int, kh: Int, kw: Int, sh: Int, sw: Int
    let padding: Padding2D
    let outH: Int, outW: Int
    let outputShape: Shape
    var outputCount: Int { planes * outH * outW }

    init(op: String, x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: Padding2D) throws {
        try requireRank(op, x, 4, "4 ([N, C, H, W])")
        try requireArgument(op, kernel.0 >= 1 && kernel.1 >= 1, "kernel must be ≥ 1, got \(kernel)")
        try requireArgument(op, stride.0 >= 1 && stride.1 >= 1, "stride must be ≥ 1, got \(stride)")
        try requireArgument(op, padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0,
                            "padding must be ≥ 0, got \(padding)")
        // PyTorch's rule: padding at most half the kernel, so every window overlaps the input.
        try requireArgument(op, max(padding.top, padding.bottom) <= kernel.0 / 2 && max(padding.left, padding.right) <= kernel.1 / 2,
                            "padding \(padding) must be at most half the kernel \(kernel)")
        (h, w) = (x.shape[2], x.shape[3])
        planes = x.shape[0] * x.shape[1]
        (kh, kw) = kernel
        (sh, sw) = stride
        self.padding = padding
        outH = Padding2D.outputSize(input: h, before: padding.top, after: padding.bottom, kernel: kh, stride: sh)
        outW = Padding2D.outputSize(input: w, before: padding.left, after: padding.right, kernel: kw, stride: sw)
        try requireArgument(op, outH > 0 && outW > 0, "input \(h)×\(w) is smaller than the window \(kernel)")
        outputShape = [x.shape[0], x.shape[1], outH, outW]
    }

    /// Input rows [y0, y1) of output row oy, and the window height clipped to the padded input.
    @inline(__always)
    func rows(_ oy: Int) -> (Int, Int, Int) {
        let start = oy * sh - padding.top
        let end = min(start + kh, h + padding.bottom)
        return (max(start, 0), min(end, h), end - start)
    }

    /// Input columns [x0, x1) of output column ox, and the window width clipped to the padded input.
    @inline(__always)
    func columns(_ ox: Int) -> (Int, Int, Int) {
        let start = ox * sw - padding.left
        let end = min(start + kw, w + padding.right)
        return (max(start, 0), min(end, w), end - start)
    }
}
