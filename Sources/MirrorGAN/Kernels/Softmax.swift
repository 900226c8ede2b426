import Foundation

/// Softmax along `axis` (`torch.softmax(x, dim=axis)`), with an optional mask.
///
/// - Parameters:
///   - x: any rank ≥ 1; `axis` may be negative (−1 is the last dimension).
///   - mask: optional tensor of the same rank as `x` whose dimensions each equal x's or are 1 (broadcast);
///     a non-zero entry marks a masked position. Masked entries get −∞ before the softmax (AttnGAN's
///     `masked_fill_(mask, -inf)`) and therefore come out exactly 0.
/// - Returns: same shape as `x`; each slice along `axis` sums to 1 over its unmasked entries.
///
/// A slice whose entries are all masked comes out all zeros. (PyTorch would produce NaN there; zeros
/// keep a padded attention row inert instead of poisoning the whole image.)
public func softmax(_ x: Tensor, axis: Int = -1, mask: Tensor? = nil) throws -> Tensor {
    let op = "softmax"
    guard x.rank >= 1 else { throw TensorError.rankMismatch(op: op, expected: "≥ 1", actual: x.shape) }
    let ax = axis < 0 ? axis + x.rank : axis
    guard ax >= 0 && ax < x.rank else { throw TensorError.indexOutOfRange(op: "softmax axis", index: axis, bound: x.rank) }
    let length = x.shape[ax]
    let outer = x.shape[..<ax].reduce(1, *)
    let inner = x.shape[(ax + 1)...].reduce(1, *)

    // Strides into the mask, 0 along broadcast (size-1) dimensions.
    var maskStrides: [Int]? = nil
    if let mask {
        guard mask.rank == x.rank, zip(mask.shape, x.shape).allSatisfy({ $0 == $1 || $0 == 1 }) else {
            throw TensorError.shapeMismatch(op: "softmax mask (each dimension equal to x's or 1)",
                                            expected: x.shape, actual: mask.shape)
        }
        let strides = Tensor.strides(of: mask.shape)
        maskStrides = zip(strides, mask.shape).map { $1 == 1 ? 0 : $0 }
    }
    let xStrides = Tensor.strides(of: x.shape)

    var out = [Float](repeating: 0, count: x.count)
    var row = [Float](repeating: 0, count: length)
    var masked = [Bool](repeating: false, count: length)
    x.withUnsafeBufferPointer { xp in
        out.withUnsafeMutableBufferPointer { o in
            for outerIndex in 0..<outer {
                for innerIndex in 0..<inner {
                    let base = outerIndex * length * inner + innerIndex
                    if let mask, let maskStrides {
                        // Offset of this slice's first element in the mask (decompose the flat index).
                        var rest = base, maskBase = 0
                        for d in 0..<x.rank {
                            maskBase += (rest / xStrides[d]) * maskStrides[d]
                            rest %= xStrides[d]
                        }
                        for j in 0..<length { masked[j] = mask.data[maskBase + j * maskStrides[ax]] != 0 }
                    }
                    var maximum = -Float.infinity
                    var anyUnmasked = false
                    for j in 0..<length where !masked[j] {
                        row[j] = xp[base + j * inner]
                        maximum = Swift.max(maximum, row[j])
                        anyUnmasked = true
                    }
                    guard anyUnmasked else { continue }  // fully masked slice: stays all zeros
                    var sum: Float = 0
                    for j in 0..<length {
                        let e: Float = masked[j] ? 0 : Foundation.exp(row[j] - maximum)
                        row[j] = e
                        sum += e
                    }
                    let inv = 1 / sum
                    for j in 0..<length { o[base + j * inner] = row[j] * inv }
                }
            }
        }
    }
    return Tensor(uncheckedShape: x.shape, data: out)
}
