import Foundation
import Testing
@testable import MirrorGAN

/// Checks MirrorRNG against numbers produced by its Python twin (training/mirrorgan_train/rng.py),
/// stored in Tests/Fixtures/kernels/mirror_rng.json by kernel_fixtures.py. Integers above 2⁵³ and
/// doubles are stored as strings so no JSON number parser can round them.
@Suite struct MirrorRNGTests {
    func reference() throws -> [String: Any] {
        let data = try Data(contentsOf: fixtureURL("mirror_rng.json"))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SafeTensorsError.invalidHeader(file: "mirror_rng.json", reason: "not an object")
        }
        return json
    }

    @Test func matchesPythonTwin() throws {
        let json = try reference()
        let cases = json["cases"] as? [[String: Any]] ?? []
        #expect(cases.count == 2)
        for c in cases {
            let seed = UInt64((c["seed"] as? NSNumber)?.int64Value ?? -1)
            var a = MirrorRNG(seed: seed)
            let u64 = (c["u64"] as? [String] ?? []).compactMap(UInt64.init)
            #expect(u64.count == 8)
            #expect(u64 == (0..<8).map { _ in a.nextUInt64() }, "seed \(seed) u64")
            var b = MirrorRNG(seed: seed)
            let uniforms = (c["uniform"] as? [String] ?? []).compactMap(Double.init)
            #expect(uniforms.count == 8)
            #expect(uniforms == (0..<uniforms.count).map { _ in b.uniform() }, "seed \(seed) uniform")
            var n = MirrorRNG(seed: seed)
            let normals = (c["normals"] as? [String] ?? []).compactMap(Double.init).map { Float($0) }
            #expect(normals.count == 10)
            #expect(normals == n.normals(count: 10), "seed \(seed) normals")
        }
        var odd = MirrorRNG(seed: 7)
        let oddExpected = (json["odd"] as? [String] ?? []).compactMap(Double.init).map { Float($0) }
        #expect(oddExpected.count == 5)
        #expect(oddExpected == odd.normals(count: 5))
    }

    @Test func candidatesMatchPythonTwin() throws {
        let json = try reference()
        let bank = (json["bank"] as? [[NSNumber]] ?? []).map { $0.map(\.intValue) }
        let query = (json["query"] as? [NSNumber] ?? []).map(\.intValue)
        let expected = (json["candidates_seed_12345"] as? [NSNumber] ?? []).map(\.intValue)
        let got = MirrorRNG.candidateIndices(imageSeed: 12345, bank: bank, query: query)
        #expect(got == expected)
        #expect(got.count == 99)
        #expect(Set(got).count == 99)
        #expect(got.allSatisfy { bank[$0] != query })
        let small = Array(bank.prefix(20))
        let expectedSmall = (json["candidates_small_seed_3"] as? [NSNumber] ?? []).map(\.intValue)
        #expect(MirrorRNG.candidateIndices(imageSeed: 3, bank: small, query: query) == expectedSmall)
        #expect(expectedSmall == (0..<20).filter { small[$0] != query })
    }

    @Test func seedingAndNoiseLayout() {
        #expect(MirrorRNG.imageSeed(UInt64.max, index: 2) == 1)
        var rng = MirrorRNG(seed: 42)
        let all = rng.normals(count: 200)
        let (z, eps) = MirrorRNG.noise(imageSeed: 42, zDim: 100, conditionDim: 100)
        #expect(z == Array(all[0..<100]))
        #expect(eps == Array(all[100..<200]))
        let mean = all.reduce(0, +) / 200
        #expect(abs(mean) < 0.3)
        var u = MirrorRNG(seed: 1)
        #expect((0..<1000).allSatisfy { _ in let v = u.uniform(); return v >= 0 && v < 1 })
    }
}
