/// `CA_NET`: Linear(nef → 4·ncf) + GLU → μ (first ncf) and log σ² (last ncf); c = μ + ε ⊙ exp(½ log σ²).
/// The official code samples ε even at inference (pitfall 5); ε = 0 gives the mean-only variant.
public struct ConditioningAugmentation: Sendable {
    let fc: LinearLayer
    public let conditionDim: Int

    init(_ r: WeightReader, nef: Int, ncf: Int) throws {
        fc = try LinearLayer(r, "fc", in: nef, out: ncf * 4)
        conditionDim = ncf
    }

    /// - Parameters: sentence `[B, nef]`; epsilon `[B, ncf]`.
    /// - Returns: c, μ, log σ², each `[B, ncf]`.
    public func callAsFunction(_ sentence: Tensor, epsilon: Tensor) throws -> (c: Tensor, mu: Tensor, logvar: Tensor) {
        let x = try glu(fc(sentence))  // [B, 2·ncf]
        let b = sentence.shape[0], n = conditionDim
        guard epsilon.shape == [b, n] else {
            throw TensorError.shapeMismatch(op: "CA epsilon", expected: [b, n], actual: epsilon.shape)
        }
        let mu = TensorBuffer.uninitialized(b * n), lv = TensorBuffer.uninitialized(b * n)
        let c = TensorBuffer.uninitialized(b * n)
        x.withUnsafeBufferPointer { xp in
            epsilon.withUnsafeBufferPointer { ep in
                mu.withFreshStorage { mp in
                    lv.withFreshStorage { lp in
                        c.withFreshStorage { cp in
                            for i in 0..<b {
                                for j in 0..<n {
                                    let m = xp[i * 2 * n + j], l = xp[i * 2 * n + n + j]
                                    mp[i * n + j] = m
                                    lp[i * n + j] = l
                                    cp[i * n + j] = ep[i * n + j] * Foundation.exp(0.5 * l) + m
                                }
                            }
                        }
                    }
                }
            }
        }
        return (Tensor(uncheckedShape: [b, n], data: c), Tensor(uncheckedShape: [b, n], data: mu),
                Tensor(uncheckedShape: [b, n], data: lv))
    }
}

import Foundation
