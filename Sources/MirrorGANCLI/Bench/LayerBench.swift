import Foundation
import MirrorGAN

/// `mirrorgan bench --layers`: each fused generator layer against the unfused reference composition it
/// replaces (the kernels the runtime used before), on the official birds shapes, random data.
enum LayerBench {
    static func run(iterations: Int, warmup: Int) throws {
        var rng = MirrorRNG(seed: 7)
        func random(_ shape: [Int], _ scale: Float = 1) -> Tensor {
            let n = shape.reduce(1, *)
            return try! Tensor(shape: shape, data: (0..<n).map { _ in Float(rng.uniform() * 2 - 1) * scale })
        }
        func time(_ body: () throws -> Tensor) rethrows -> (ms: Double, cpu: Double, out: Tensor) {
            var wall = [Double](), cpu = [Double]()
            var out = Tensor(shape: [0])
            for it in 0..<(warmup + iterations) {
                let t0 = DispatchTime.now().uptimeNanoseconds, c0 = Bench.cpuNanoseconds()
                out = try body()
                let t1 = DispatchTime.now().uptimeNanoseconds, c1 = Bench.cpuNanoseconds()
                if it >= warmup { wall.append(Double(t1 - t0) / 1e6); cpu.append(Double(c1 - c0) / 1e6) }
            }
            return (wall.sorted()[wall.count / 2], cpu.sorted()[cpu.count / 2], out)
        }
        print("layer                                  ref ms  fused ms   ref cpu fused cpu  speed-up  GMAC ref→fused  max|diff|")
        func report(_ name: String, _ macRef: Double, _ macFused: Double, _ ref: () throws -> Tensor, _ fused: () throws -> Tensor) throws {
            let r = try time(ref), f = try time(fused)
            var diff: Float = 0
            for (a, b) in zip(r.out.data, f.out.data) { diff = max(diff, abs(a - b)) }
            let pad = { (s: String, n: Int) in s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
            print(pad(name, 36) + String(format: "%9.2f %9.2f %9.2f %9.2f %8.2fx   %5.3f → %5.3f  %.1e",
                                          r.ms, f.ms, r.cpu, f.cpu, r.cpu / f.cpu, macRef / 1e9, macFused / 1e9, diff))
        }
        let shapesUp: [(String, Int, Int, Int)] = [("h_net1.upsample1 512→512 @4²→8²", 512, 512, 4),
                                                    ("h_net1.upsample4 64→64 @32²→64²", 64, 64, 32),
                                                    ("h_net2.upsample 64→64 @64²→128²", 64, 64, 64),
                                                    ("h_net3.upsample 64→64 @128²→256²", 64, 64, 128)]
        for (name, c, o, h) in shapesUp {
            let x = random([1, c, h, h]), w = random([o, c, 3, 3], 0.05), b = random([o], 0.1)
            let fused = try UpsampleConv3x3(weight: w, bias: b)
            let mac = Double(o * c * 9 * 4 * h * h)
            let ref = { try glu(conv2d(upsampleNearest2x(x), weight: w, bias: b, padding: Padding2D(1))) }
            try report(name + " phases", mac, mac * 4 / 9, ref, { try fused(x, glu: true) })
            if c * o <= 128 * 128 {  // the Winograd variant's kernel transform is 16× the weights
                let wino = try WinogradF4x4(upsampling: w, bias: b)
                try report(name + " F(4,3)", mac, mac / 4, ref, { try wino(x, epilogue: .glu) })
            }
        }
        for (stage, h) in [("h_net2", 64), ("h_net3", 128)] {
            let x = random([1, 64, h, h])
            let w1 = random([128, 64, 3, 3], 0.05), b1 = random([128], 0.1)
            let w2 = random([64, 64, 3, 3], 0.05), b2 = random([64], 0.1)
            let m1 = Double(128 * 64 * 9 * h * h), m2 = Double(64 * 64 * 9 * h * h)
            // F(2×2, 3×3) (what the residual blocks used before) and F(4×4, 3×3) (what they use now).
            let f1 = try WinogradF2x2(weight: w1, bias: b1), f2 = try WinogradF2x2(weight: w2, bias: b2)
            let g1 = try WinogradF4x4(weight: w1, bias: b1), g2 = try WinogradF4x4(weight: w2, bias: b2)
            let ref1 = { try glu(conv2d(x, weight: w1, bias: b1, padding: Padding2D(1))) }
            let ref2 = { try add(conv2d(x, weight: w2, bias: b2, padding: Padding2D(1)), x) }
            try report("\(stage).res conv1+GLU F(2,3) @\(h)²", m1, m1 * 4 / 9, ref1, { try f1(x, epilogue: .glu) })
            try report("\(stage).res conv1+GLU F(4,3) @\(h)²", m1, m1 / 4, ref1, { try g1(x, epilogue: .glu) })
            try report("\(stage).res conv2+add F(2,3) @\(h)²", m2, m2 * 4 / 9, ref2, { try f2(x, epilogue: .residual(x)) })
            try report("\(stage).res conv2+add F(4,3) @\(h)²", m2, m2 / 4, ref2, { try g2(x, epilogue: .residual(x)) })
        }
        let xh = random([1, 32, 256, 256]), wh = random([3, 32, 3, 3], 0.1)
        let head = try WinogradF2x2(weight: wh, bias: nil)
        let mh = Double(3 * 32 * 9 * 256 * 256)
        try report("img_net3 conv 32→3 + tanh @256²", mh, mh * 4 / 9,
                   { MirrorGAN.tanh(try conv2d(xh, weight: wh, padding: Padding2D(1))) }, { try head(xh, epilogue: .tanh) })
    }
}
