import Testing
@testable import MirrorGAN

@Suite struct PNGTests {
    /// Compositing over white, as the decoder documents.
    func overWhite(_ c: Int, _ a: Int) -> UInt8 { UInt8((c * a + 255 * (255 - a) + 127) / 255) }

    func expectDecodes(_ builder: PNGBuilder, _ expected: (Int, Int) -> [UInt8], _ what: String) throws {
        let image = try PNG.decode(builder.build())
        #expect(image.width == builder.width && image.height == builder.height, "\(what) size")
        var want = [UInt8]()
        for y in 0..<builder.height { for x in 0..<builder.width { want += expected(x, y) } }
        #expect(image.rgb == want, "\(what) pixels")
    }

    @Test func rgb8RoundTripThroughEncoder() throws {
        var rng = TestRandom(seed: 3)
        for (w, h) in [(1, 1), (7, 5), (64, 3)] {
            let bytes = (0..<(w * h * 3)).map { _ in UInt8(rng.int(0..<256)) }
            let image = try RGBImage(width: w, height: h, rgb: bytes)
            let png = try PNG.encode(image)
            #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            #expect(try PNG.decode(png) == image)
        }
    }

    @Test func decodesEveryColourTypeToRGB() throws {
        func v(_ x: Int, _ y: Int, _ k: Int) -> Int { (x * 37 + y * 91 + k * 53) % 256 }
        try expectDecodes(PNGBuilder(width: 5, height: 3, colorType: 0) { x, y in [UInt16(v(x, y, 0))] },
                          { x, y in [UInt8(v(x, y, 0)), UInt8(v(x, y, 0)), UInt8(v(x, y, 0))] }, "grey 8")
        try expectDecodes(PNGBuilder(width: 11, height: 2, bitDepth: 1, colorType: 0) { x, y in [UInt16((x + y) % 2)] },
                          { x, y in Array(repeating: (x + y) % 2 == 1 ? 255 : 0, count: 3) }, "grey 1-bit")
        try expectDecodes(PNGBuilder(width: 3, height: 4, bitDepth: 4, colorType: 0) { x, y in [UInt16((x * 4 + y) % 16)] },
                          { x, y in Array(repeating: UInt8((x * 4 + y) % 16 * 17), count: 3) }, "grey 4-bit")
        try expectDecodes(PNGBuilder(width: 4, height: 3, colorType: 4) { x, y in [UInt16(v(x, y, 0)), UInt16(v(x, y, 3))] },
                          { x, y in Array(repeating: overWhite(v(x, y, 0), v(x, y, 3)), count: 3) }, "grey + alpha")
        try expectDecodes(PNGBuilder(width: 6, height: 5, colorType: 6) { x, y in (0..<4).map { UInt16(v(x, y, $0)) } },
                          { x, y in (0..<3).map { overWhite(v(x, y, $0), v(x, y, 3)) } }, "RGBA 8")
        try expectDecodes(PNGBuilder(width: 3, height: 2, bitDepth: 16, colorType: 2) { x, y in (0..<3).map { UInt16(v(x, y, $0) * 257) } },
                          { x, y in (0..<3).map { UInt8(v(x, y, $0)) } }, "RGB 16")
        try expectDecodes(PNGBuilder(width: 2, height: 2, bitDepth: 16, colorType: 6) { x, y in
            (0..<3).map { UInt16(v(x, y, $0) * 257) } + [UInt16(x == 0 ? 0xFFFF : 0)] },
                          { x, y in x == 0 ? (0..<3).map { UInt8(v(x, y, $0)) } : [255, 255, 255] }, "RGBA 16")
        let palette: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 128, 0), (10, 20, 30), (200, 100, 50)]
        try expectDecodes(PNGBuilder(width: 5, height: 4, bitDepth: 2, colorType: 3, palette: palette, transparency: [255, 0, 128]) { x, y in
            [UInt16((x + 2 * y) % 4)] }, { x, y in
                let i = (x + 2 * y) % 4, p = palette[i], a = [255, 0, 128, 255][i]
                return [overWhite(Int(p.0), a), overWhite(Int(p.1), a), overWhite(Int(p.2), a)] }, "palette 2-bit + tRNS")
        try expectDecodes(PNGBuilder(width: 9, height: 7, colorType: 2, interlaced: true) { x, y in (0..<3).map { UInt16(v(x, y, $0)) } },
                          { x, y in (0..<3).map { UInt8(v(x, y, $0)) } }, "RGB interlaced")
        try expectDecodes(PNGBuilder(width: 1, height: 1, colorType: 2, interlaced: true) { _, _ in [1, 2, 3] },
                          { _, _ in [1, 2, 3] }, "1×1 interlaced")
    }

    @Test func tensorMappingTruncatesAfterClamping() throws {
        let values: [Float] = [-1, -0.5, 0, 0.999, 1, 2, -3, .nan]
        let t = try Tensor(shape: [3, 1, values.count], data: values + values + values)
        let image = try RGBImage(tensor: t)
        let expected: [UInt8] = [0, 63, 127, 254, 255, 255, 0, 0]
        #expect(image.rgb == expected.flatMap { [$0, $0, $0] })
        let back = try RGBImage(width: 2, height: 1, rgb: [0, 127, 255, 255, 128, 1]).tensor()
        #expect(back.shape == [3, 1, 2])
        let g0: Float = 127 / 127.5 - 1, g1: Float = 128 / 127.5 - 1, b1: Float = 1 / 127.5 - 1
        let expectedBack: [Float] = [-1, 1, g0, g1, 1, b1]
        #expect(Array(back.data) == expectedBack)
        // encode(tensor) decodes to the mapped bytes
        #expect(try PNG.decode(PNG.encode(t)).rgb == image.rgb)
        #expect(throws: PNGError.self) { try RGBImage(tensor: Tensor(shape: [1, 2, 2])) }
        #expect(throws: PNGError.zeroSize) { try RGBImage(tensor: Tensor(shape: [3, 0, 2])) }
        #expect(throws: PNGError.self) { try RGBImage(width: 2, height: 2, rgb: [1, 2, 3]) }
    }

    @Test func generatorBatchOfOneEncodesLikeItsImage() throws {
        let values: [Float] = [-1, -0.5, 0, 0.999, 1, 2]
        let t = try Tensor(shape: [3, 2, 3], data: values + values.reversed() + values)
        #expect(try PNG.encode(t.reshaped([1, 3, 2, 3])) == PNG.encode(t))
        #expect(throws: PNGError.self) { try PNG.encode(Tensor(shape: [2, 3, 2, 3])) }
        #expect(throws: PNGError.self) { try PNG.encode(Tensor(shape: [1, 1, 2, 3])) }
    }

    @Test func attentionMapsAreGreyAndScaledToTheirOwnPeak() throws {
        // Two 1×3 maps: the first peaks at 0.5, the second is all zero (black, not NaN).
        let att = try Tensor(shape: [2, 1, 3], data: [0, 0.25, 0.5, 0, 0, 0])
        let pngs = try PNG.encodeAttentionMaps(att, count: 5)
        #expect(pngs.count == 2)  // at most T maps
        let first = try PNG.decode(pngs[0])
        #expect(first.width == 3 && first.height == 1)
        #expect(first.rgb == [0, 0, 0, 128, 128, 128, 255, 255, 255])
        #expect(try PNG.decode(pngs[1]).rgb == [UInt8](repeating: 0, count: 9))
        #expect(try PNG.encodeAttentionMaps(att, count: 1).count == 1)
        #expect(throws: PNGError.self) { try PNG.encodeAttentionMaps(Tensor(shape: [1, 2, 1, 3]), count: 1) }
    }

    @Test func malformedPNGsGiveTypedErrors() throws {
        let valid = PNGBuilder(width: 8, height: 8, colorType: 2) { x, y in [UInt16(x), UInt16(y), 7] }.build()
        _ = try PNG.decode(valid)

        for cut in [valid.count - 1, valid.count - 13, valid.count / 2, 40, 20, 9] {
            #expect(throws: PNGError.self, "truncated at \(cut)") { try PNG.decode(Array(valid.prefix(cut))) }
        }
        #expect(throws: PNGError.notPNG) { try PNG.decode(Array(valid.prefix(5))) }
        #expect(throws: PNGError.notPNG) { try PNG.decode([]) }
        #expect(throws: PNGError.notPNG) { try PNG.decode(Array("GIF89a not a png at all".utf8)) }

        // Flip a bit of the IDAT chunk's CRC (the data stays valid, so only the CRC check can fail).
        var badCRC = valid
        let idat = (0..<(badCRC.count - 4)).first { Array(badCRC[$0..<($0 + 4)]) == Array("IDAT".utf8) } ?? 0
        let idatLength = badCRC[(idat - 4)..<idat].reduce(0) { $0 << 8 | Int($1) }
        badCRC[idat + 4 + idatLength] ^= 0x01
        do {
            _ = try PNG.decode(badCRC)
            Issue.record("bad CRC accepted")
        } catch let PNGError.corrupt(message) {
            #expect(message.lowercased().contains("crc"), "libpng message: \(message)")
        }
        // Corrupt the IHDR CRC.
        var badHeaderCRC = valid
        badHeaderCRC[29] ^= 0xFF
        #expect(throws: PNGError.self) { try PNG.decode(badHeaderCRC) }

        let zeroWidth = PNGBuilder(width: 0, height: 4, colorType: 2) { _, _ in [0, 0, 0] }.build()
        #expect(throws: PNGError.zeroSize) { try PNG.decode(zeroWidth) }
        let zeroHeight = PNGBuilder(width: 4, height: 0, colorType: 0) { _, _ in [0] }.build()
        #expect(throws: PNGError.zeroSize) { try PNG.decode(zeroHeight) }

        // A header claiming 100000 × 100000 with no pixel data: rejected before any allocation.
        var huge: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        huge += chunk("IHDR", be32(100_000) + be32(100_000) + [8, 2, 0, 0, 0])
        huge += chunk("IEND", [])
        #expect(throws: PNGError.tooLarge(width: 100_000, height: 100_000, limit: PNG.defaultMaxPixels)) { try PNG.decode(huge) }
        // The limit is configurable.
        #expect(throws: PNGError.tooLarge(width: 8, height: 8, limit: 63)) { try PNG.decode(valid, maxPixels: 63) }
        #expect(try PNG.decode(valid, maxPixels: 64).width == 8)
        // Bad IHDR fields (bit depth 7) and a missing IDAT.
        var badDepth: [UInt8] = Array(valid.prefix(8))
        badDepth += chunk("IHDR", be32(2) + be32(2) + [7, 2, 0, 0, 0]) + chunk("IEND", [])
        #expect(throws: PNGError.self) { try PNG.decode(badDepth) }
    }

    @Test func garbageAfterSignatureNeverCrashes() {
        var rng = TestRandom(seed: 77)
        let valid = PNGBuilder(width: 6, height: 6, colorType: 6) { x, y in [UInt16(x), UInt16(y), 1, 200] }.build()
        for _ in 0..<300 {
            var bytes = valid
            for _ in 0..<rng.int(1..<6) { bytes[rng.int(8..<bytes.count)] = UInt8(rng.int(0..<256)) }
            _ = try? PNG.decode(bytes)  // must return or throw, never crash
        }
    }
}
