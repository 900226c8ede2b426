// ImageDecoder: format detection, JPEG (baseline, progressive, grey, CMYK, all eight EXIF orientations), WebP
// (lossless, lossy, alpha), malformed files and decompression bombs, and the box shrink before the backbone.
// Fixtures: Tests/Fixtures/images (written by make_images.py there).
import Foundation
import Testing
@testable import MirrorGAN

@Suite struct ImageDecoderTests {
    static let dir = Parity.repoRoot.appendingPathComponent("Tests/Fixtures/images")

    func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.dir.appendingPathComponent(name)))
    }

    /// Largest absolute channel difference, or nil if the sizes differ.
    func maxDifference(_ a: RGBImage, _ b: RGBImage) -> Int? {
        guard a.width == b.width, a.height == b.height else { return nil }
        return zip(a.rgb, b.rgb).map { abs(Int($0) - Int($1)) }.max()
    }

    /// Mean absolute channel difference (same sizes).
    func meanDifference(_ a: RGBImage, _ b: RGBImage) -> Double {
        Double(zip(a.rgb, b.rgb).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(max(a.rgb.count, 1))
    }

    var upright: RGBImage { get throws { try PNG.decode(bytes("upright.png")) } }

    @Test func recognisesFormatsBySignature() throws {
        #expect(ImageDecoder.format(of: try bytes("upright.png")) == .png)
        #expect(ImageDecoder.format(of: try bytes("baseline.jpg")) == .jpeg)
        #expect(ImageDecoder.format(of: try bytes("lossy.webp")) == .webp)
        for junk: [UInt8] in [[], Array("GIF89a".utf8), [0xFF, 0xD8], Array("RIFF0000WAVE".utf8), Array("BM".utf8)] {
            #expect(ImageDecoder.format(of: junk) == nil)
            #expect(throws: ImageError.unsupportedFormat) { try ImageDecoder.decode(junk) }
        }
    }

    @Test func jpegBaselineAndProgressiveMatchThePicture() throws {
        let want = try upright
        for name in ["baseline.jpg", "progressive.jpg"] {
            let got = try ImageDecoder.decode(bytes(name))
            let diff = try #require(maxDifference(got, want), "\(name) size")
            #expect(diff <= 12, "\(name): max difference \(diff)")
        }
    }

    @Test func jpegGreyAndCMYKComeOutRGB() throws {
        let want = try upright
        let grey = try ImageDecoder.decode(bytes("grey.jpg"))
        #expect(grey.width == 64 && grey.height == 48)
        for i in stride(from: 0, to: grey.rgb.count, by: 3) {
            #expect(grey.rgb[i] == grey.rgb[i + 1] && grey.rgb[i + 1] == grey.rgb[i + 2])
        }
        let cmyk = try ImageDecoder.decode(bytes("cmyk.jpg"))
        let diff = try #require(maxDifference(cmyk, want))
        #expect(diff <= 16, "CMYK: max difference \(diff)")
    }

    @Test func jpegExifOrientationIsApplied() throws {
        let want = try upright
        for n in 1...8 {
            let got = try ImageDecoder.decode(bytes("orient\(n).jpg"))
            let diff = try #require(maxDifference(got, want), "orientation \(n): \(got.width)×\(got.height)")
            #expect(diff <= 12, "orientation \(n): max difference \(diff)")
        }
    }

    @Test func exifParserReadsBothByteOrdersAndIgnoresJunk() {
        func tiff(littleEndian: Bool, value: UInt16, type: UInt16 = 3) -> [UInt8] {
            func u16(_ v: UInt16) -> [UInt8] { littleEndian ? [UInt8(v & 0xFF), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 0xFF)] }
            func u32(_ v: UInt32) -> [UInt8] { littleEndian ? (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } : (0..<4).reversed().map { UInt8((v >> (8 * $0)) & 0xFF) } }
            return (littleEndian ? Array("II".utf8) : Array("MM".utf8)) + u16(42) + u32(8) + u16(1)
                + u16(0x0112) + u16(type) + u32(1) + u16(value) + u16(0) + u32(0)
        }
        func orientation(_ t: [UInt8]) -> Int { t.withUnsafeBufferPointer { JPEGExif.orientation(tiff: $0) } }
        #expect(orientation(tiff(littleEndian: true, value: 6)) == 6)
        #expect(orientation(tiff(littleEndian: false, value: 8)) == 8)
        #expect(orientation(tiff(littleEndian: true, value: 9)) == 1)
        #expect(orientation(tiff(littleEndian: true, value: 6, type: 4)) == 1)
        #expect(orientation(Array(tiff(littleEndian: true, value: 6).prefix(20))) == 1)
        #expect(orientation([]) == 1)
        #expect(orientation(Array("XX*\0".utf8)) == 1)
    }

    @Test func webpLosslessLossyAndAlpha() throws {
        let want = try upright
        #expect(try ImageDecoder.decode(bytes("lossless.webp")) == want)
        // Lossy WebP subsamples chroma (4:2:0), so sharp colour edges blur: the mean, not the maximum, is close.
        let lossy = try ImageDecoder.decode(bytes("lossy.webp"))
        #expect(lossy.width == 64 && lossy.height == 48)
        let mean = meanDifference(lossy, want)
        #expect(mean <= 6, "lossy WebP: mean difference \(mean)")
        // Left half fully transparent: white after compositing; right half as drawn.
        let alpha = try ImageDecoder.decode(bytes("alpha.webp"))
        #expect(alpha.width == 64 && alpha.height == 48)
        for y in 0..<48 {
            for x in [0, 31, 32, 63] {
                let i = (y * 64 + x) * 3
                let px = Array(alpha.rgb[i..<(i + 3)])
                #expect(px == (x < 32 ? [255, 255, 255] : Array(want.rgb[i..<(i + 3)])), "(\(x), \(y))")
            }
        }
    }

    @Test func bombsAreRefusedFromTheHeader() throws {
        #expect(throws: ImageError.tooLarge(format: .jpeg, width: 65000, height: 65000, limit: ImageDecoder.defaultMaxPixels)) {
            try ImageDecoder.decode(bytes("huge.jpg"))
        }
        #expect(throws: ImageError.tooLarge(format: .webp, width: 16384, height: 16384, limit: ImageDecoder.defaultMaxPixels)) {
            try ImageDecoder.decode(bytes("huge.webp"))
        }
        #expect(throws: ImageError.tooLarge(format: .png, width: 100000, height: 100000, limit: ImageDecoder.defaultMaxPixels)) {
            try ImageDecoder.decode(bytes("huge.png"))
        }
        // The limit is the caller's: 64×48 = 3072 pixels passes at 3072 and fails at 3071, in every format.
        for name in ["upright.png", "baseline.jpg", "lossless.webp"] {
            #expect(try ImageDecoder.decode(bytes(name), maxPixels: 3072).width == 64)
            #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes(name), maxPixels: 3071) }
        }
    }

    @Test func malformedFilesAreTypedErrors() throws {
        #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes("truncated.jpg")) }
        let webp = try bytes("lossy.webp")
        #expect(throws: ImageError.self) { try ImageDecoder.decode(Array(webp.prefix(webp.count / 2))) }
        let jpg = try bytes("baseline.jpg")
        for cut in [3, 4, 20, 200] {
            #expect(throws: ImageError.self) { try ImageDecoder.decode(Array(jpg.prefix(cut))) }
        }
        // Corrupt entropy-coded data: libjpeg's warning is an error here.
        var bad = jpg
        for i in stride(from: bad.count - 200, to: bad.count - 20, by: 7) { bad[i] ^= 0x5A }
        do {
            _ = try ImageDecoder.decode(bad)
        } catch let e as ImageError {
            guard case .corrupt(.jpeg, _) = e else { Issue.record("unexpected \(e)"); return }
        }
    }

    @Test func strayBytesBetweenSegmentsAreToleratedButTruncationIsNot() throws {
        // Garbage before the EOI marker: libjpeg's "extraneous bytes" warning, which loses no data.
        let jpg = try bytes("baseline.jpg")
        #expect(Array(jpg.suffix(2)) == [0xFF, 0xD9])
        let stray = Array(jpg.dropLast(2)) + [0x00, 0x13, 0x37] + [0xFF, 0xD9]
        #expect(try ImageDecoder.decode(stray) == (try ImageDecoder.decode(jpg)))
        // No EOI at all and a cut scan: premature end, refused.
        #expect(throws: ImageError.self) { try ImageDecoder.decode(Array(jpg.dropLast(40))) }
    }

    @Test func boxShrinkAveragesBlocks() throws {
        // 4×2 image, shrunk 2×2: two pixels, each the rounded mean of its block.
        let img = try RGBImage(width: 4, height: 2, rgb: [
            0, 0, 0, 10, 20, 30, 100, 100, 100, 200, 200, 200,
            1, 1, 1, 11, 21, 31, 101, 101, 101, 201, 201, 201,
        ])
        let s = try img.boxShrunk(fx: 2, fy: 2)
        #expect(s.width == 2 && s.height == 1)
        #expect(s.rgb == [6, 11, 16, 151, 151, 151])
        #expect(try img.boxShrunk(fx: 1, fy: 1) == img)
        #expect(try img.boxShrunk(fx: 3, fy: 1).width == 1)
        #expect(throws: PNGError.self) { try img.boxShrunk(fx: 0, fy: 1) }
    }
}
