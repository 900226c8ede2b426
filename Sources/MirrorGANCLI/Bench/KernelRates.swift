import Foundation
import MirrorGAN

/// The rate of the generator's 3×3 convolutions against the large-square SGEMM rate, same process and
/// threads (issue #7's measure): every 3×3 convolution of the official birds generator, run at its shape by
/// the kernel the generator dispatches to (upBlocks with in·out ≤ 64·64 at ≥ 32²: F(4×4, 3×3) on the phases;
/// other upBlocks: 2×2 phase convolutions; residual blocks: F(4×4, 3×3); image heads: F(2×2, 3×3)), counted
/// in direct-convolution multiply-adds (O·C·9 per output pixel) per second. SGEMM: 1024³ through the same
/// `sgemm` the kernels use.
enum KernelRates {
    static func run(iterations: Int) throws {
        var rng = MirrorRNG(seed: 11)
        func random(_ shape: [Int], _ scale: Float = 1) -> Tensor {
            let n = shape.reduce(1, *)
            return try! Tensor(shape: shape, data: (0..<n).map { _ in Float(rng.uniform() * 2 - 1) * scale })
        }
        func best(_ body: () throws -> Void) rethrows -> Double {
            try body()
            var t = Double.infinity
            for _ in 0..<iterations {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try body()
                t = min(t, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            return t
        }
        let nSq = 1024
        let a = random([nSq, nSq]), b = random([nSq, nSq])
        let sgemmSeconds = try best { _ = try matmul(a, b) }
        let sgemmRate = Double(nSq * nSq * nSq) / sgemmSeconds / 1e9

        var macs = 0.0, seconds = 0.0
        // upBlocks: (in, conv out = 2·out, low-res size)
        for (c, o, h) in [(512, 512, 4), (256, 256, 8), (128, 128, 16), (64, 64, 32), (64, 64, 64), (64, 64, 128)] {
            let x = random([1, c, h, h]), w = random([o, c, 3, 3], 0.05), bias = random([o], 0.1)
            if c * (o / 2) <= 64 * 64 && h >= 32 {
                let k = try WinogradF4x4(upsampling: w, bias: bias)
                seconds += try best { _ = try k(x, epilogue: .glu) }
            } else {
                let k = try UpsampleConv3x3(weight: w, bias: bias)
                seconds += try best { _ = try k(x, glu: true) }
            }
            macs += Double(o * c * 9 * 4 * h * h)
        }
        // residual blocks: two per stage, conv1 64 → 128 + GLU, conv2 64 → 64 + residual
        for h in [64, 128] {
            let x = random([1, 64, h, h])
            let k1 = try WinogradF4x4(weight: random([128, 64, 3, 3], 0.05), bias: random([128], 0.1))
            let k2 = try WinogradF4x4(weight: random([64, 64, 3, 3], 0.05), bias: random([64], 0.1))
            seconds += 2 * (try best { _ = try k1(x, epilogue: .glu) })
            seconds += 2 * (try best { _ = try k2(x, epilogue: .residual(x)) })
            macs += 2 * Double((128 + 64) * 64 * 9 * h * h)
        }
        // image heads 32 → 3 + tanh
        for h in [64, 128, 256] {
            let x = random([1, 32, h, h])
            let k = try WinogradF2x2(weight: random([3, 32, 3, 3], 0.1), bias: nil)
            seconds += try best { _ = try k(x, epilogue: .tanh) }
            macs += Double(3 * 32 * 9 * h * h)
        }
        let convRate = macs / seconds / 1e9
        print(String(format: "kernel rates: SGEMM 1024³ %.1f GMAC/s; generator 3×3 convolutions %.2f direct GMAC in %.1f ms = %.1f GMAC/s (%.0f%% of SGEMM)",
                     sgemmRate, macs / 1e9, seconds * 1e3, convRate, 100 * convRate / sgemmRate))
        print(String(format: "sgemm_gmacs=%.2f", sgemmRate))
        print(String(format: "conv3x3_gmacs=%.2f", convRate))
    }
}
