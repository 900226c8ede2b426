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
    // Only a mask or the general loop needs x's strides (an array: computed only then, so that the
    // generator's unmasked softmaxes allocate nothing).
    let xStrides = mask != nil || (inner != 1 && inner < 8) ? Tensor.strides(of: x.shape) : []

    // Fast paths: rows (the last axis) with a broadcast padding mask, and a middle axis without a mask
    // vectorised across ≥ 8 contiguous inner positions — the layout of both of the generator's attention
    // softmaxes (GLAttention: words down the columns of the transposed scores, and channels, 16384
    // positions each at 128²). Both use the vectorised exp of the fused kernels and split independent
    // slices over the kernel threads; the sums run in the same order as below, so results do not depend on
    // the thread count. The general loop below handles every other case (and is the tests' reference).
    if x.count == 0 { return x }
    if inner == 1 {
        return softmaxRows(x, length: length, mask: mask, maskStrides: maskStrides, xStrides: xStrides, axis: ax)
    }
    if mask == nil && inner >= 8 {
        return softmaxAcross(x, outer: outer, length: length, inner: inner)
    }
    return softmaxGeneral(x, axis: ax, mask: mask, maskStrides: maskStrides, xStrides: xStrides)
}

/// The general strided loop (libm exp), any axis and mask.
func softmaxGeneral(_ x: Tensor, axis ax: Int, mask: Tensor?, maskStrides: [Int]?, xStrides: [Int]) -> Tensor {
    let length = x.shape[ax]
    let outer = x.shape[..<ax].reduce(1, *)
    let inner = x.shape[(ax + 1)...].reduce(1, *)
    let out = TensorBuffer.zeros(x.count)
    var row = [Float](repeating: 0, count: length)
    var masked = [Bool](repeating: false, count: length)
    x.withUnsafeBufferPointer { xp in
        out.withFreshStorage { o in
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


/// Offset of a flat index's slice start in a (broadcast) mask.
@inline(__always)
private func maskOffset(_ flat: Int, xStrides: [Int], maskStrides: [Int]) -> Int {
    var rest = flat, offset = 0
    for d in 0..<xStrides.count {
        offset += (rest / xStrides[d]) * maskStrides[d]
        rest %= xStrides[d]
    }
    return offset
}

/// Softmax of contiguous rows (the last axis), with an optional broadcast mask.
private func softmaxRows(_ x: Tensor, length: Int, mask: Tensor?, maskStrides: [Int]?, xStrides: [Int], axis: Int) -> Tensor {
    let rows = length == 0 ? 0 : x.count / length
    let out = TensorBuffer.zeros(x.count)
    withOptionalPointer(mask) { mp in
        x.withUnsafeBufferPointer { xb in
            out.withFreshStorage { ob in
                guard let xp = xb.baseAddress, let op = ob.baseAddress else { return }
                parallelFor(rows, (xp, op, mp, length, maskStrides, xStrides, axis)) { operands, r in
                    let (xp, op, mp, length, maskStrides, xStrides, axis) = operands.pointee
                    let src = xp + r * length, dst = op + r * length
                    var mBase = 0, mStride = 0
                    if let maskStrides {
                        mBase = maskOffset(r * length, xStrides: xStrides, maskStrides: maskStrides)
                        mStride = maskStrides[axis]
                    }
                    @inline(__always) func live(_ j: Int) -> Bool { mp.map { $0[mBase + j * mStride] == 0 } ?? true }
                    var maximum = -Float.infinity
                    var anyLive = false
                    for j in 0..<length where live(j) {
                        maximum = Swift.max(maximum, src[j])
                        anyLive = true
                    }
                    guard anyLive else { return }  // fully masked row: stays all zeros
                    var sum: Float = 0
                    var j = 0
                    while j < length {
                        let count = Swift.min(8, length - j)
                        var a = Float8(repeating: 0)
                        for l in 0..<count { a[l] = maximum - src[j + l] }
                        let e = fastExpNegated(a)
                        for l in 0..<count {
                            let v: Float = live(j + l) ? e[l] : 0
                            dst[j + l] = v
                            sum += v
                        }
                        j += 8
                    }
                    let inv = 1 / sum
                    for j in 0..<length { dst[j] *= inv }
                }
            }
        }
    }
    return Tensor(uncheckedShape: x.shape, data: out)
}

/// Softmax over a middle axis without a mask, vectorised across the contiguous inner positions.
private func softmaxAcross(_ x: Tensor, outer: Int, length: Int, inner: Int) -> Tensor {
    let out = TensorBuffer.uninitialized(x.count)  // all written
    let chunk = 256
    let chunks = (inner + chunk - 1) / chunk
    x.withUnsafeBufferPointer { xb in
        out.withFreshStorage { ob in
            guard let xp = xb.baseAddress, let op = ob.baseAddress else { return }
            parallelFor(outer * chunks, (xp, op, length, inner, chunk, chunks)) { operands, item in
                let (xp, op, length, inner, chunk, chunks) = operands.pointee
                let o = item / chunks, k0 = (item % chunks) * chunk
                let n = Swift.min(chunk, inner - k0)
                let src = xp + o * length * inner + k0, dst = op + o * length * inner + k0
                do {
                    let m = ScratchBuffer.perItem.floats(2 * chunk), s = m + chunk
                    m.update(from: src, count: n)
                    for j in 1..<Swift.max(1, length) {
                        let row = src + j * inner
                        for k in 0..<n { m[k] = Swift.max(m[k], row[k]) }
                    }
                    s.update(repeating: 0, count: n)
                    for j in 0..<length {
                        let row = src + j * inner, d = dst + j * inner
                        var k = 0
                        while k + 8 <= n {
                            let e = fastExpNegated(load8(m + k) - load8(row + k))
                            store8(e, d + k)
                            store8(load8(s + k) + e, s + k)
                            k += 8
                        }
                        while k < n {
                            var a = Float8(repeating: 0)
                            a[0] = m[k] - row[k]
                            let e = fastExpNegated(a)[0]
                            d[k] = e
                            s[k] += e
                            k += 1
                        }
                    }
                    for k in 0..<n { s[k] = 1 / s[k] }
                    for j in 0..<length {
                        let d = dst + j * inner
                        for k in 0..<n { d[k] *= s[k] }
                    }
                }
            }
        }
    }
    return Tensor(uncheckedShape: x.shape, data: out)
}
