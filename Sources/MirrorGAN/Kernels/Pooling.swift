/// Max and average pooling as `torch.nn.functional.max_pool2d` / `avg_pool2d` (dilation 1, `ceil_mode=False`),
/// on NCHW input: the Inception-v3 and ResNet-152 trunks' pools (3×3 stride-2 max pools, without padding in
/// Inception and with padding 1 in ResNet's stem; Inception's 3×3 stride-1 average pools with padding 1 and
/// `count_include_pad=True`). Planes are split over the kernel threads; each output is the same arithmetic at
/// any thread count.

/// Max pooling: padding acts as −∞, so only input positions compete; NaN propagates, as in PyTorch.
///
/// - Parameters: `x` `[N, C, H, W]`; `stride` defaults to the kernel size.
/// - Returns: `[N, C, Hout, Wout]` (floor mode).
public func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                      padding: Padding2D = .zero) throws -> Tensor {
    let window = try PoolWindow(op: "maxPool2d", x: x, kernel: kernel, stride: stride ?? kernel, padding: padding)
    return pool(x, window, max: true)
}

/// Average pooling.
///
/// - Parameters:
///   - x: `[N, C, H, W]`.
///   - kernel: (kH, kW); `stride` defaults to the kernel size, as in PyTorch.
///   - padding: implicit zero padding per side (at most half the kernel, PyTorch's rule).
///   - countIncludePad: `true` divides every window by its size clipped to the padded input (padding counts
///     as zeros: PyTorch's default, and torchvision Inception-v3's); `false` by the number of window positions
///     inside the input.
/// - Returns: `[N, C, Hout, Wout]` (floor mode). Each window is summed row by row in Float.
public func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: Padding2D = .zero,
                      countIncludePad: Bool = true) throws -> Tensor {
    let window = try PoolWindow(op: "avgPool2d", x: x, kernel: kernel, stride: stride ?? kernel, padding: padding,
                                countIncludePad: countIncludePad)
    return pool(x, window, max: false)
}

/// Every output element (the window's maximum, or its average), planes split over the kernel threads.
private func pool(_ x: Tensor, _ window: PoolWindow, max isMax: Bool) -> Tensor {
    let out = TensorBuffer.uninitialized(window.outputCount)
    x.withUnsafeBufferPointer { xp in
        out.withFreshStorage { o in
            guard let src = xp.baseAddress, let dst = o.baseAddress else { return }
            parallelFor(window.planes, (src, dst, window, isMax)) { operands, plane in
                let (src, dst, window, isMax) = operands.pointee
                let input = src + plane * window.h * window.w
                let output = dst + plane * window.outH * window.outW
                for oy in 0..<window.outH {
                    let (y0, y1, yPadded) = window.rows(oy)
                    for ox in 0..<window.outW {
                        let (x0, x1, xPadded) = window.columns(ox)
                        var value: Float
                        if isMax {
                            value = -Float.infinity
                            for y in y0..<y1 {
                                for xi in x0..<x1 {
                                    let v = input[y * window.w + xi]
                                    if v > value || v.isNaN { value = v }  // NaN propagates, as in PyTorch
                                }
                            }
                        } else {
                            var sum: Float = 0
                            for y in y0..<y1 {
                                for xi in x0..<x1 { sum += input[y * window.w + xi] }
                            }
                            let divisor = window.countIncludePad ? yPadded * xPadded : (y1 - y0) * (x1 - x0)
                            value = divisor > 0 ? sum / Float(divisor) : 0
                        }
                        output[oy * window.outW + ox] = value
                    }
                }
            }
        }
    }
    return Tensor(uncheckedShape: window.outputShape, data: out)
}

/// Geometry of a pooling window sliding over NCHW input (shared by average and max pooling).
struct PoolWindow {
    let planes: Int, h: Int, w: Int, kh: Int, kw: Int, sh: Int, sw: Int
    let padding: Padding2D
    let countIncludePad: Bool
    let outH: Int, outW: Int
    let outputShape: Shape
    var outputCount: Int { planes * outH * outW }

    init(op: String, x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: Padding2D,
         countIncludePad: Bool = true) throws {
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
        self.countIncludePad = countIncludePad
        outH = Padding2D.outputSize(input: h, before: padding.top, after: padding.bottom, kernel: kh, stride: sh)
        outW = Padding2D.outputSize(input: w, before: padding.left, after: padding.right, kernel: kw, stride: sw)
        try requireArgument(op, outH > 0 && outW > 0, "input \(h)×\(w) is smaller than the window \(kernel)")
        outputShape = [x.shape[0], x.shape[1], outH, outW]
    }

    /// Input rows [y0, y1) of output row oy, and the window height clipped to the padded input.
    @inline(__always)
    func rows(_ oy: Int) -> (Int, Int, Int) {
        Self.window(oy, stride: sh, kernel: kh, before: padding.top, after: padding.bottom, size: h)
    }

    /// Input columns [x0, x1) of output column ox, and the window width clipped to the padded input.
    @inline(__always)
    func columns(_ ox: Int) -> (Int, Int, Int) {
        Self.window(ox, stride: sw, kernel: kw, before: padding.left, after: padding.right, size: w)
    }

    /// Along one axis: input [i0, i1) of output index o, and the window length clipped to the padded input.
    @inline(__always)
    static func window(_ o: Int, stride: Int, kernel: Int, before: Int, after: Int, size: Int) -> (Int, Int, Int) {
        let start = o * stride - before
        let end = min(start + kernel, size + after)
        return (max(start, 0), min(end, size), end - start)
    }
}

/// The mean over space of `[N, C, H, W]` → `[N, C]` (the trunks' global feature; `x.mean(dim=(2, 3))`), each
/// plane summed in order in Float. Planes are split over the kernel threads.
func spatialMean(_ x: Tensor) throws -> Tensor {
    try requireRank("spatialMean", x, 4, "4 ([N, C, H, W])")
    let (planes, hw) = (x.shape[0] * x.shape[1], x.shape[2] * x.shape[3])
    let out = TensorBuffer.uninitialized(planes)
    x.withUnsafeBufferPointer { xp in
        out.withFreshStorage { o in
            guard let src = xp.baseAddress, let dst = o.baseAddress else { return }
            parallelFor(planes, (src, dst, hw)) { operands, plane in
                let (src, dst, hw) = operands.pointee
                var s: Float = 0
                for k in 0..<hw { s += src[plane * hw + k] }
                dst[plane] = s / Float(hw)
            }
        }
    }
    return Tensor(uncheckedShape: [x.shape[0], x.shape[1]], data: out)
}
