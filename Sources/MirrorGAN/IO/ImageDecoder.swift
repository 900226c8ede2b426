import CJPEGShim
import CWebPShim

/// The encoded formats `ImageDecoder` reads, recognised by their signatures.
public enum ImageFormat: String, Sendable, CaseIterable {
    case png, jpeg, webp

    public var name: String {
        switch self {
        case .png: return "PNG"
        case .jpeg: return "JPEG"
        case .webp: return "WebP"
        }
    }
}

/// The one place uploaded images are decoded: format detection by signature (the declared media type is not
/// trusted), the pixel limit checked against each header before allocation, and every format delivered as
/// upright RGB8 (alpha composited over white, JPEG's EXIF orientation applied).
public enum ImageDecoder {
    /// 16 Mpx (16 × 2²⁰ pixels), the server's default too (`ServerConfig.defaultMaxImagePixels`).
    public static let defaultMaxPixels = PNG.defaultMaxPixels

    public static func format(of bytes: [UInt8]) -> ImageFormat? {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) {
            return .webp
        }
        return nil
    }

    /// Decodes PNG (any bit depth, palette, grey, alpha, 16-bit, interlaced), JPEG (baseline and progressive;
    /// grey, YCbCr, CMYK) or WebP (still; lossy or lossless, alpha) to RGB8. Throws `ImageError`.
    public static func decode(_ bytes: [UInt8], maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        guard let format = format(of: bytes) else { throw ImageError.unsupportedFormat }
        switch format {
        case .png:
            do {
                return try PNG.decode(bytes, maxPixels: maxPixels)
            } catch let e as PNGError {
                switch e {
                case let .tooLarge(w, h, limit): throw ImageError.tooLarge(format: .png, width: w, height: h, limit: limit)
                case .zeroSize: throw ImageError.zeroSize(format: .png)
                case .outOfMemory: throw ImageError.outOfMemory
                case .notPNG: throw ImageError.unsupportedFormat
                case let .corrupt(message): throw ImageError.corrupt(format: .png, message: message)
                case let .invalidInput(message): throw ImageError.corrupt(format: .png, message: message)
                }
            }
        case .jpeg:
            return try decodeC(format: .jpeg, bytes, maxPixels: maxPixels) { data, count, limit, out, w, h, msg, cap in
                var orientation: Int32 = 1
                let status = cjpeg_decode_rgb8(data, count, limit, out, w, h, &orientation, msg, cap)
                return (status, UInt32(bitPattern: status) == CJPEG_ERR_TOO_LARGE.rawValue,
                        UInt32(bitPattern: status) == CJPEG_ERR_ZERO_SIZE.rawValue,
                        UInt32(bitPattern: status) == CJPEG_ERR_NO_MEMORY.rawValue)
            } free: { cjpeg_free($0) }
        case .webp:
            return try decodeC(format: .webp, bytes, maxPixels: maxPixels) { data, count, limit, out, w, h, msg, cap in
                let status = cwebp_decode_rgb8(data, count, limit, out, w, h, msg, cap)
                return (status, UInt32(bitPattern: status) == CWEBP_ERR_TOO_LARGE.rawValue,
                        UInt32(bitPattern: status) == CWEBP_ERR_ZERO_SIZE.rawValue,
                        UInt32(bitPattern: status) == CWEBP_ERR_NO_MEMORY.rawValue)
            } free: { cwebp_free($0) }
        }
    }

    /// (status, tooLarge, zeroSize, outOfMemory) from one of the C shims, whose contracts are the same.
    private typealias ShimCall = (UnsafePointer<UInt8>?, Int, UInt64, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>,
                                  UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<UInt32>,
                                  UnsafeMutablePointer<CChar>, Int) -> (Int32, Bool, Bool, Bool)

    private static func decodeC(format: ImageFormat, _ bytes: [UInt8], maxPixels: Int, _ call: ShimCall,
                                free: (UnsafeMutableRawPointer?) -> Void) throws -> RGBImage {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var width: UInt32 = 0, height: UInt32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let limit = UInt64(Swift.max(maxPixels, 0))
        let (status, tooLarge, zeroSize, noMemory) = bytes.withUnsafeBufferPointer { data in
            message.withUnsafeMutableBufferPointer { msg -> (Int32, Bool, Bool, Bool) in
                guard let text = msg.baseAddress else { return (-1, false, false, true) }
                return call(data.baseAddress, data.count, limit, &out, &width, &height, text, msg.count)
            }
        }
        defer { free(out) }
        if status != 0 {
            if tooLarge { throw ImageError.tooLarge(format: format, width: Int(width), height: Int(height), limit: maxPixels) }
            if zeroSize { throw ImageError.zeroSize(format: format) }
            if noMemory { throw ImageError.outOfMemory }
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError.corrupt(format: format, message: text)
        }
        guard let out, width > 0, height > 0 else { throw ImageError.outOfMemory }
        let count = Int(width) * Int(height) * 3
        do {
            return try RGBImage(width: Int(width), height: Int(height), rgb: Array(UnsafeBufferPointer(start: out, count: count)))
        } catch {
            throw ImageError.corrupt(format: format, message: "\(error)")
        }
    }
}

extension RGBImage {
    /// Shrinks by averaging `fx` × `fy` blocks (integer factors ≥ 1; a partial last block is dropped), so that a
    /// large photo is low-pass filtered before the backbone's bilinear resize instead of aliasing.
    public func boxShrunk(fx: Int, fy: Int) throws -> RGBImage {
        guard fx >= 1, fy >= 1 else { throw PNGError.invalidInput("shrink factors must be >= 1, got \(fx)×\(fy)") }
        if fx == 1 && fy == 1 { return self }
        let ow = Swift.max(1, width / fx), oh = Swift.max(1, height / fy)
        let bw = Swift.min(fx, width), bh = Swift.min(fy, height)
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        let area = UInt32(bw * bh)
        rgb.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var sums = [UInt32](repeating: 0, count: ow * 3)
                for oy in 0..<oh {
                    for i in 0..<sums.count { sums[i] = 0 }
                    for y in (oy * bh)..<(oy * bh + bh) {
                        let row = y * width * 3
                        for ox in 0..<ow {
                            let start = row + ox * bw * 3
                            for x in 0..<bw {
                                sums[ox * 3] += UInt32(src[start + x * 3])
                                sums[ox * 3 + 1] += UInt32(src[start + x * 3 + 1])
                                sums[ox * 3 + 2] += UInt32(src[start + x * 3 + 2])
                            }
                        }
                    }
                    for i in 0..<sums.count { dst[oy * ow * 3 + i] = UInt8((sums[i] + area / 2) / area) }
                }
            }
        }
        return try RGBImage(width: ow, height: oh, rgb: out)
    }
}

/// The EXIF reader of the JPEG shim, for tests.
enum JPEGExif {
    /// The orientation (1–8) in a TIFF structure (an APP1 payload after "Exif\0\0"); 1 when absent or invalid.
    static func orientation(tiff: UnsafeBufferPointer<UInt8>) -> Int {
        Int(cjpeg_exif_orientation(tiff.baseAddress, tiff.count))
    }
}
