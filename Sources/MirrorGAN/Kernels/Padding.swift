/// Zero padding of a 2-D convolution or pooling window, per side. Asymmetric padding is needed for
/// TensorFlow "SAME" convolutions (EfficientNet), where the odd extra row/column goes at the bottom/right.
public struct Padding2D: Equatable, Sendable {
    public var top: Int, bottom: Int, left: Int, right: Int

    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }

    /// The same padding `p` on all four sides (PyTorch `padding=p`).
    public init(_ p: Int) { self.init(top: p, bottom: p, left: p, right: p) }

    /// PyTorch `padding=(ph, pw)`: `ph` rows at top and bottom, `pw` columns at left and right.
    public init(vertical: Int, horizontal: Int) {
        self.init(top: vertical, bottom: vertical, left: horizontal, right: horizontal)
    }

    public static let zero = Padding2D(0)

    /// TensorFlow "SAME" padding for one spatial dimension (dilation 1): the output size is
    /// ceil(input / stride) and the total padding max((out − 1)·stride + kernel − input, 0) is split with
    /// the smaller half before and the larger half after — as `Conv2dStaticSamePadding` in
    /// efficientnet-pytorch computes it.
    public static func tfSame(input: Int, kernel: Int, stride: Int) -> (before: Int, after: Int) {
        let out = (input + stride - 1) / stride
        let total = max((out - 1) * stride + kernel - input, 0)
        return (total / 2, total - total / 2)
    }

    /// TensorFlow "SAME" padding of a 2-D window for an input of `height` × `width`.
    public static func tfSame(height: Int, width: Int, kernel: (h: Int, w: Int),
                              stride: (h: Int, w: Int)) -> Padding2D {
        let v = tfSame(input: height, kernel: kernel.h, stride: stride.h)
        let h = tfSame(input: width, kernel: kernel.w, stride: stride.w)
        return Padding2D(top: v.before, bottom: v.after, left: h.before, right: h.after)
    }

    /// Output size of a window of size `kernel` sliding by `stride` over `input` padded by `before`/`after`
    /// (floor mode, as PyTorch with `ceil_mode=False`).
    static func outputSize(input: Int, before: Int, after: Int, kernel: Int, stride: Int) -> Int {
        let padded = input + before + after
        return padded < kernel ? 0 : (padded - kernel) / stride + 1
    }
}
