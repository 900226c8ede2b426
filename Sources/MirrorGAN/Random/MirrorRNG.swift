import Foundation

/// The seeded generator shared by the Swift runtime and the PyTorch toolkit
/// (`training/mirrorgan_train/rng.py`), as specified in docs/MODEL_FORMAT.md, "Noise (z, ε) and
/// candidate sampling": xoshiro256** seeded by four splitmix64 outputs, uniform doubles from the top 53
/// bits, Box–Muller normals computed in Double and rounded to Float.
public struct MirrorRNG: Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// Seeds xoshiro256** with four successive splitmix64 outputs starting from `seed`.
    public init(seed: UInt64) {
        var sm = seed
        func splitmix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Next raw xoshiro256** output.
    public mutating func nextUInt64() -> UInt64 {
        let result = MirrorRNG.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = MirrorRNG.rotl(s3, 45)
        return result
    }

    /// Uniform double in [0, 1): (next >> 11) · 2⁻⁵³.
    public mutating func uniform() -> Double {
        Double(nextUInt64() >> 11) * 0x1.0p-53
    }

    /// `count` standard normals by Box–Muller, drawn in pairs: u1 = 1 − uniform() ∈ (0, 1], u2 = uniform();
    /// r = sqrt(−2 ln u1), θ = 2π·u2; emit r·cos θ then r·sin θ (Double, rounded to Float). For an odd
    /// `count` the second value of the last pair is discarded (the generator keeps no spare).
    public mutating func normals(count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: max(count, 0)) { buffer, initialized in
            fillNormals(buffer)
            initialized = buffer.count
        }
    }

    /// `normals(count: out.count)` written into `out`: pairs (cos, sin) from one Box–Muller draw each, the odd
    /// last pair's sine dropped (the next draw starts from a fresh pair).
    public mutating func fillNormals(_ out: UnsafeMutableBufferPointer<Float>) {
        var i = 0
        while i < out.count {
            let u1 = 1.0 - uniform()
            let u2 = uniform()
            let r = (-2.0 * Foundation.log(u1)).squareRoot()
            let theta = 2.0 * Double.pi * u2
            out[i] = Float(r * Foundation.cos(theta))
            if i + 1 < out.count { out[i + 1] = Float(r * Foundation.sin(theta)) }
            i += 2
        }
    }

    /// Seed of image `index` of a request seeded with `seed`: seed + index, wrapping.
    public static func imageSeed(_ seed: UInt64, index: Int) -> UInt64 {
        seed &+ UInt64(truncatingIfNeeded: index)
    }

    /// The generator noise of one image: z (`zDim` normals), then ε (`conditionDim` normals), both drawn
    /// from one generator seeded with `imageSeed`.
    public static func noise(imageSeed: UInt64, zDim: Int, conditionDim: Int) -> (z: [Float], epsilon: [Float]) {
        var rng = MirrorRNG(seed: imageSeed)
        let z = rng.normals(count: zDim)
        let epsilon = rng.normals(count: conditionDim)
        return (z, epsilon)
    }

    /// `noise(imageSeed:zDim:conditionDim:)` as `[1, zDim]` and `[1, conditionDim]` tensors, written straight into
    /// the thread's tensor arena (no heap allocation in steady state); ε is all zeros with `meanOnly` (it is still
    /// drawn, so z never depends on the option).
    public static func noiseTensors(imageSeed: UInt64, zDim: Int, conditionDim: Int,
                                    meanOnly: Bool = false) -> (z: Tensor, epsilon: Tensor) {
        var rng = MirrorRNG(seed: imageSeed)
        let z = Tensor.filled([1, zDim]) { rng.fillNormals($0) }
        let epsilon = Tensor.filled([1, conditionDim]) { d in
            rng.fillNormals(d)
            if meanOnly { d.update(repeating: 0) }
        }
        return (z, epsilon)
    }

    /// The XOR mask that separates candidate sampling from noise for the same image seed.
    public static let candidateSeedMask: UInt64 = 0x5_DEEC_E66D

    /// R-precision candidates for one image: bank indices drawn as `next() % bank.count` from a generator
    /// seeded with `imageSeed ^ 0x5DEECE66D`, skipping indices already drawn and captions equal to
    /// `query`, until `k` are drawn, in draw order. If fewer than `k` captions are eligible, all eligible
    /// indices are returned in ascending order (nothing is drawn).
    public static func candidateIndices(imageSeed: UInt64, bank: [[Int]], query: [Int], k: Int = 99) -> [Int] {
        guard k > 0 else { return [] }
        // Counted, not collected: a list of the ~20,000 eligible indices and a `taken` flag per bank
        // caption were 14 allocations per request; k draws are checked against the ≤ 99 drawn so far.
        let eligible = bank.reduce(0) { $1 != query ? $0 + 1 : $0 }
        if eligible < k { return bank.indices.filter { bank[$0] != query } }
        var rng = MirrorRNG(seed: imageSeed ^ candidateSeedMask)
        var drawn = [Int]()
        drawn.reserveCapacity(k)
        let modulus = UInt64(bank.count)
        while drawn.count < k {
            let index = Int(rng.nextUInt64() % modulus)
            if drawn.contains(index) || bank[index] == query { continue }
            drawn.append(index)
        }
        return drawn
    }
}
