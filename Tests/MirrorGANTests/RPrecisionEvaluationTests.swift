// `mirrorgan eval`'s protocol against numpy and the toolkit's own evaluation code (Tests/Fixtures/eval, written by
// make_eval_fixtures.py): the same hits give the same fold numbers, bit for bit, and the same images get the same
// candidates.
import Foundation
import Testing
@testable import MirrorGAN

private struct EvalFixture: Decodable {
    struct Permutation: Decodable { let seed: UInt64; let n: Int; let order: [Int] }
    struct Folds: Decodable { let hits: [Int]; let seed: UInt64; let mean: Double; let std: Double; let fold_means: [Double] }
    struct Candidates: Decodable { let classes: [Int]; let picks: [[Int]] }
    let permutations: [Permutation]
    let folds: [Folds]
    let candidates: [Candidates]

    static func load() throws -> EvalFixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/eval/eval_protocol.json")
        return try JSONDecoder().decode(EvalFixture.self, from: Data(contentsOf: url))
    }
}

@Suite("R-precision evaluation protocol = evaluate.py's")
struct RPrecisionEvaluationTests {
    @Test func seedSequenceAndPCG64MatchNumPy() {
        // np.random.SeedSequence(0).generate_state(4, np.uint64)
        #expect(NumPyPCG64.seedSequenceWords(entropy: 0, count: 4)
                == [0xDB2C_D7E7_B0F4_78BE, 0xABF4_641A_2C71_BA49, 0x20C6_ED6D_9D7B_8D41, 0x2C40_99DE_223C_39D4])
    }

    @Test func permutationsAreNumPysDefaultRng() throws {
        let f = try EvalFixture.load()
        #expect(!f.permutations.isEmpty)
        for p in f.permutations {
            #expect(NumPyPCG64.permutation(count: p.n, seed: p.seed) == p.order, "seed \(p.seed), n \(p.n)")
        }
    }

    @Test func foldStatisticsAreTheToolkitsBitForBit() throws {
        let f = try EvalFixture.load()
        for c in f.folds {
            let s = RPrecisionEvaluation.foldStatistics(hits: c.hits.map { $0 == 1 }, seed: c.seed)
            #expect(s.mean == c.mean, "n \(c.hits.count) seed \(c.seed)")
            #expect(s.std == c.std, "n \(c.hits.count) seed \(c.seed)")
            #expect(s.foldMeans == c.fold_means)
            #expect(s.count == c.hits.count)
        }
    }

    @Test func candidatesAreTheToolkitsDraws() throws {
        let f = try EvalFixture.load()
        for c in f.candidates {
            for (i, picks) in c.picks.enumerated() {
                let q = RPrecisionEvaluation.query(image: i)
                #expect(RPrecisionEvaluation.otherClassCandidates(imageSeed: UInt64(i), query: q, classes: c.classes, k: 99)
                        == picks, "image \(i)")
            }
        }
    }

    @Test func aTieIsAMissForTheEvaluationAndAHitForServing() {
        let tied = RPrecision(rank: 1, candidates: 100, cosine: 0.5, tiedCandidates: 1)
        #expect(tied.hit)
        #expect(!RPrecisionEvaluation.isHit(tied))
        #expect(RPrecisionEvaluation.isHit(RPrecision(rank: 1, candidates: 100, cosine: 0.5)))
        #expect(!RPrecisionEvaluation.isHit(RPrecision(rank: 2, candidates: 100, cosine: 0.5)))
        #expect(RPrecisionEvaluation.foldStatistics(hits: []).count == 0)
    }
}
