/// The R-precision evaluation protocol `mirrorgan eval` shares with `python -m mirrorgan_train.evaluate`
/// (docs/EVALUATION.md), step for step:
///
/// - generated image i (seed i) comes from test image i's caption i mod 10: bank index i·10 + i mod 10;
/// - its 99 candidates are bank captions whose class differs from the query's, drawn as `next() % bank.count` from
///   MirrorRNG(i XOR 0x5DEECE66D) without repeats (fewer eligible than 99: the eligible ones repeated cyclically to
///   99, as numpy's `resize`);
/// - a hit is every candidate's cosine strictly below the caption's (a tie is a miss);
/// - the 0/1 hits are shuffled by numpy's `default_rng(seed).permutation`, split into 10 near-equal folds
///   (`array_split`), and the result is the mean and standard deviation (ddof 0) of the fold means, summed as
///   numpy sums (pairwise), so that both tools print the same numbers for the same hits.
public enum RPrecisionEvaluation {
    /// Captions per test image in the caption bank (image-major order).
    public static let captionsPerImage = 10
    public static let folds = 10

    /// Bank index of generated image `i`'s caption.
    public static func query(image i: Int) -> Int { i * captionsPerImage + i % captionsPerImage }

    /// `k` bank indices of captions of other classes than `classes[query]`, drawn for image seed `imageSeed`.
    public static func otherClassCandidates(imageSeed: UInt64, query: Int, classes: [Int], k: Int) -> [Int] {
        guard k > 0, classes.indices.contains(query) else { return [] }
        let own = classes[query]
        let eligible = classes.indices.filter { classes[$0] != own }
        if eligible.count < k {
            return eligible.isEmpty ? [] : (0..<k).map { eligible[$0 % eligible.count] }
        }
        var rng = MirrorRNG(seed: imageSeed ^ MirrorRNG.candidateSeedMask)
        var taken = Set<Int>(), out: [Int] = []
        out.reserveCapacity(k)
        while out.count < k {
            let j = Int(rng.nextUInt64() % UInt64(classes.count))
            if classes[j] == own || taken.contains(j) { continue }
            taken.insert(j)
            out.append(j)
        }
        return out
    }

    /// A hit as the evaluation counts it: ranked first with no candidate tied (serving's rank lets ties favour the
    /// caption; the evaluation, like AttnGAN's, does not).
    public static func isHit(_ r: RPrecision) -> Bool { r.rank == 1 && r.tiedCandidates == 0 }

    public struct FoldStatistics: Sendable, Equatable {
        public var mean: Double
        public var std: Double
        public var foldMeans: [Double]
        public var count: Int
    }

    /// `fold_stats(hits, folds, seed)` of the toolkit: shuffled, split, mean and std (ddof 0) of the fold means.
    public static func foldStatistics(hits: [Bool], folds: Int = folds, seed: UInt64 = 0) -> FoldStatistics {
        guard !hits.isEmpty, folds > 0 else { return FoldStatistics(mean: .nan, std: .nan, foldMeans: [], count: 0) }
        let order = NumPyPCG64.permutation(count: hits.count, seed: seed)
        let x = order.map { hits[$0] ? 1.0 : 0.0 }
        let parts = min(folds, x.count)
        // array_split: the first n mod parts folds hold one more element.
        var means: [Double] = []
        var start = 0
        for p in 0..<parts {
            let size = x.count / parts + (p < x.count % parts ? 1 : 0)
            means.append(numpySum(x[start..<(start + size)]) / Double(size))
            start += size
        }
        let mean = numpySum(means[...]) / Double(means.count)
        let squares = means.map { ($0 - mean) * ($0 - mean) }
        let std = (numpySum(squares[...]) / Double(means.count)).squareRoot()
        return FoldStatistics(mean: mean, std: std, foldMeans: means, count: x.count)
    }

    /// numpy's pairwise summation of float64 (`pairwise_sum`): a plain loop below 8 elements, eight accumulators up
    /// to 128, halves above; the order of additions decides the last bit, so it is followed exactly.
    static func numpySum(_ a: ArraySlice<Double>) -> Double {
        let n = a.count, b = a.startIndex
        if n < 8 {
            var s = -0.0
            for v in a { s += v }
            return s
        }
        if n <= 128 {
            var r = (0..<8).map { a[b + $0] }
            var i = 8
            while i < n - n % 8 {
                for j in 0..<8 { r[j] += a[b + i + j] }
                i += 8
            }
            var s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n {
                s += a[b + i]
                i += 1
            }
            return s
        }
        var half = n / 2
        half -= half % 8
        return numpySum(a[b..<(b + half)]) + numpySum(a[(b + half)...])
    }
}
