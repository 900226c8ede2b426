/// numpy's `np.random.default_rng(seed)` (SeedSequence → PCG64, numpy ≥ 1.17) and `Generator.permutation` of a 1-D
/// array, bit for bit: `mirrorgan eval` shuffles its R-precision hits into folds exactly as
/// `training/mirrorgan_train`'s `fold_stats` does, so both print the same mean ± std for the same hits
/// (`Tests/Fixtures/eval`, written by numpy, checks it).
public struct NumPyPCG64: Sendable {
    private var state: UInt128
    private let increment: UInt128
    /// PCG64 hands out 32-bit values from halves of one 64-bit output (low half first).
    private var spare: UInt32?

    private static let multiplier: UInt128 = 0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645

    /// `PCG64(SeedSequence(seed))`: the 128-bit state and increment come from the seed sequence's first four
    /// 64-bit words (state = w0·2⁶⁴ + w1, sequence = w2·2⁶⁴ + w3), seeded as `pcg_setseq_128_srandom_r`.
    public init(seed: UInt64) {
        let w = Self.seedSequenceWords(entropy: seed, count: 4)
        let initState = UInt128(w[0]) << 64 | UInt128(w[1])
        let sequence = UInt128(w[2]) << 64 | UInt128(w[3])
        increment = sequence << 1 | 1
        state = 0
        step()
        state &+= initState
        step()
    }

    private mutating func step() { state = state &* Self.multiplier &+ increment }

    /// XSL-RR output of the advanced state.
    public mutating func next64() -> UInt64 {
        step()
        let x = UInt64(truncatingIfNeeded: state >> 64) ^ UInt64(truncatingIfNeeded: state)
        let r = UInt64(truncatingIfNeeded: state >> 122)
        return x >> r | x << ((64 &- r) & 63)
    }

    public mutating func next32() -> UInt32 {
        if let s = spare {
            spare = nil
            return s
        }
        let n = next64()
        spare = UInt32(truncatingIfNeeded: n >> 32)
        return UInt32(truncatingIfNeeded: n)
    }

    /// numpy's `random_interval`: uniform in 0...max by masked rejection (32-bit draws while max fits in 32 bits).
    public mutating func interval(_ max: UInt64) -> UInt64 {
        if max == 0 { return 0 }
        var mask = max
        for s: UInt64 in [1, 2, 4, 8, 16, 32] { mask |= mask >> s }
        while true {
            let v = max <= UInt64(UInt32.max) ? UInt64(next32()) & mask : next64() & mask
            if v <= max { return v }
        }
    }

    /// `default_rng(seed).permutation(n)` as indices: Fisher–Yates from the end, j = interval(i) for i = n−1 … 1.
    /// `permutation(x)` of a 1-D array of n elements is `x` read in this order.
    public static func permutation(count n: Int, seed: UInt64) -> [Int] {
        var a = Array(0..<max(0, n))
        var g = NumPyPCG64(seed: seed)
        var i = a.count - 1
        while i > 0 {
            let j = Int(g.interval(UInt64(i)))
            a.swapAt(i, j)
            i -= 1
        }
        return a
    }

    /// `SeedSequence(entropy).generate_state(count, np.uint64)` for a non-negative integer entropy (O'Neill's
    /// seed_seq hash with numpy's constants: a pool of four 32-bit words, each output word the little-endian pair
    /// of 32-bit outputs).
    static func seedSequenceWords(entropy: UInt64, count: Int) -> [UInt64] {
        let (initA, multA, initB, multB): (UInt32, UInt32, UInt32, UInt32) = (0x43B0_D7E5, 0x931E_8875, 0x8B51_F9DD, 0x58F3_8DED)
        let (mixL, mixR): (UInt32, UInt32) = (0xCA01_F9DD, 0x4973_F715)
        // The integer as little-endian 32-bit words ([0] for zero).
        var words: [UInt32] = []
        var e = entropy
        repeat {
            words.append(UInt32(truncatingIfNeeded: e))
            e >>= 32
        } while e > 0
        var hashConst = initA
        func hashmix(_ value: UInt32) -> UInt32 {
            var v = value ^ hashConst
            hashConst = hashConst &* multA
            v = v &* hashConst
            return v ^ (v >> 16)
        }
        func mix(_ x: UInt32, _ y: UInt32) -> UInt32 {
            let r = mixL &* x &- mixR &* y
            return r ^ (r >> 16)
        }
        var pool = (0..<4).map { hashmix($0 < words.count ? words[$0] : 0) }
        for src in 0..<4 {
            for dst in 0..<4 where src != dst { pool[dst] = mix(pool[dst], hashmix(pool[src])) }
        }
        for src in 4..<max(4, words.count) {
            for dst in 0..<4 { pool[dst] = mix(pool[dst], hashmix(words[src])) }
        }
        var h = initB
        let out32: [UInt32] = (0..<(2 * count)).map { i in
            var v = pool[i % 4] ^ h
            h = h &* multB
            v = v &* h
            return v ^ (v >> 16)
        }
        return (0..<count).map { UInt64(out32[2 * $0]) | UInt64(out32[2 * $0 + 1]) << 32 }
    }
}
