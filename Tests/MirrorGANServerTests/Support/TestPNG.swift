// Hand-encoded grey PNGs for the fake engine: zlib "stored" blocks, so no compressor is needed.

enum TestPNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// An 8-bit greyscale PNG of `width` x `height` pixels (row-major `pixels`, default a ramp).
    static func grey(width: Int = 2, height: Int = 2, pixels: [UInt8]? = nil) -> [UInt8] {
        let px = pixels ?? (0..<(width * height)).map { UInt8(truncatingIfNeeded: $0 * 64) }
        var raw: [UInt8] = []
        for y in 0..<height {
            raw.append(0) // filter: none
            raw.append(contentsOf: px[(y * width)..<((y + 1) * width)])
        }
        return signature + chunk("IHDR", ihdr(width: width, height: height)) + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
    }

    /// Signature and IHDR only, declaring a huge image (the fake engine refuses it as too many pixels).
    static func hugeHeader(width: Int = 100_000, height: Int = 100_000) -> [UInt8] {
        signature + chunk("IHDR", ihdr(width: width, height: height)) + chunk("IEND", [])
    }

    static func ihdr(width: Int, height: Int) -> [UInt8] {
        be32(UInt32(width)) + be32(UInt32(height)) + [8, 0, 0, 0, 0]
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        return be32(UInt32(data.count)) + t + data + be32(crc32(t + data))
    }

    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, data.count - offset)
            let final: UInt8 = offset + n == data.count ? 1 : 0
            out.append(final)
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        return out + be32(adler32(data))
    }

    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in data {
            a = (a + UInt32(x)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    /// Width and height from the IHDR chunk, if the bytes start like a PNG.
    static func dimensions(_ png: [UInt8]) -> (Int, Int)? {
        guard png.count >= 24, png.starts(with: signature), Array(png[12..<16]) == Array("IHDR".utf8) else { return nil }
        let w = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let h = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        return (w, h)
    }
}
