import Testing
@testable import MirrorGAN

@Suite struct LinearMatmulTests {
    /// y[r, o] = Σ_i x[r, i] · w[o, i] + b[o], in Double.
    func naiveLinear(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        let (out, inF) = (w.shape[0], w.shape[1])
        let rows = x.count / inF
        var y = [Float](repeating: 0, count: rows * out)
        for r in 0..<rows {
            for o in 0..<out {
                var s = Double(b?.data[o] ?? 0)
                for i in 0..<inF { s += Double(x.data[r * inF + i]) * Double(w.data[o * inF + i]) }
                y[r * out + o] = Float(s)
            }
        }
        return try! Tensor(shape: Array(x.shape.dropLast()) + [out], data: y)
    }

    @Test(arguments: [([1, 1], 1), ([3, 7], 5), ([2, 3, 17], 9), ([5, 300], 33)])
    func linearMatchesNaive(shape: [Int], outFeatures: Int) throws {
        var rng = TestRandom(seed: UInt64(shape.reduce(1, *) + outFeatures))
        let x = rng.tensor(shape)
        let w = rng.tensor([outFeatures, shape.last ?? 1])
        let b = rng.tensor([outFeatures])
        expectClose(try linear(x, weight: w, bias: b), naiveLinear(x, w, b), tolerance: 1e-5, relative: 1e-4, "with bias")
        expectClose(try linear(x, weight: w), naiveLinear(x, w, nil), tolerance: 1e-5, relative: 1e-4, "no bias")
    }

    @Test func linearRejectsBadShapes() {
        let x = Tensor(shape: [2, 3])
        #expect(throws: TensorError.self) { try linear(x, weight: Tensor(shape: [4, 5])) }
        #expect(throws: TensorError.shapeMismatch(op: "linear bias", expected: [4], actual: [5])) {
            try linear(x, weight: Tensor(shape: [4, 3]), bias: Tensor(shape: [5]))
        }
    }

    func naiveMatmul(_ a: Tensor, _ b: Tensor, ta: Bool, tb: Bool) -> Tensor {
        let batch = max(a.rank == 3 ? a.shape[0] : 1, b.rank == 3 ? b.shape[0] : 1)
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc
        var out = [Float](repeating: 0, count: batch * m * n)
        for p in 0..<batch {
            let ao = (a.rank == 3 && a.shape[0] > 1) ? p * ar * ac : 0
            let bo = (b.rank == 3 && b.shape[0] > 1) ? p * br * bc : 0
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for q in 0..<k {
                        let av = ta ? a.data[ao + q * ac + i] : a.data[ao + i * ac + q]
                        let bv = tb ? b.data[bo + j * bc + q] : b.data[bo + q * bc + j]
                        s += Double(av) * Double(bv)
                    }
                    out[(p * m + i) * n + j] = Float(s)
                }
            }
        }
        let shape = a.rank == 2 && b.rank == 2 ? [m, n] : [batch, m, n]
        return try! Tensor(shape: shape, data: out)
    }

    @Test func matmulAllTransposesAndBroadcasts() throws {
        var rng = TestRandom(seed: 11)
        let (m, k, n) = (5, 7, 3)
        for ta in [false, true] {
            for tb in [false, true] {
                let a2 = rng.tensor(ta ? [k, m] : [m, k])
                let b2 = rng.tensor(tb ? [n, k] : [k, n])
                let a3 = rng.tensor(ta ? [4, k, m] : [4, m, k])
                let b3 = rng.tensor(tb ? [4, n, k] : [4, k, n])
                let b31 = rng.tensor(tb ? [1, n, k] : [1, k, n])
                for (a, b) in [(a2, b2), (a3, b3), (a3, b2), (a2, b3), (a3, b31)] {
                    let got = try matmul(a, b, transposeA: ta, transposeB: tb)
                    expectClose(got, naiveMatmul(a, b, ta: ta, tb: tb), "matmul \(a.shape) \(b.shape) ta \(ta) tb \(tb)")
                }
            }
        }
    }

    @Test func matmulRejectsInnerMismatch() {
        #expect(throws: TensorError.self) { try matmul(Tensor(shape: [2, 3]), Tensor(shape: [4, 2])) }
        #expect(throws: TensorError.self) { try matmul(Tensor(shape: [2, 2, 3]), Tensor(shape: [3, 3, 2])) }
    }
}
