import CPNGShim

/// An 8-bit RGB image: `rgb` holds `width × height × 3` bytes, rows top to bottom, pixels R, G, B.
public struct RGBImage: Sendable, Equatable {
    public let width: Int, height: Int
    public let rgb: [UInt8]

    /// Throws `PNGError.invalidInput` unless `rgb.count == width × height × 3` and both sizes are ≥ 1.
    public init(width: Int, height: Int, rgb: [UInt8]) throws {
        guard width >= 1, height >= 1 else { throw PNGError.zeroSize }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= Int.max / 3, rgb.count == pixels * 3 else {
            throw PNGError.invalidInput("\(rgb.count) bytes do not hold a \(width)×\(height) RGB8 image")
        }
        self.width = width; self.height = height; self.rgb = rgb
    }

    /// The image as a `[3, H, W]` tensor in [−1, 1]: x = p / 127.5 − 1 (the inverse of the output mapping
    /// up to truncation).
    public func tensor() -> Tensor {
        let plane = width * height
        return Tensor.filled([3, height, width]) { d in
            rgb.withUnsafeBufferPointer { p in
                for i in 0..<plane {
                    for ch in 0..<3 { d[ch * plane + i] = Float(p[3 * i + ch]) / 127.5 - 1 }
                }
            }
        }
    }

    /// The official MirrorGAN/AttnGAN output mapping from a `[3, H, W]` tensor in [−1, 1]:
    /// p = UInt8((clamp(x, −1, 1) + 1) · 127.5), truncated toward zero (so 1 maps to 255, 0 to 127,
    /// −1 to 0). NaN maps to 0.
    public init(tensor: Tensor) throws {
        guard tensor.rank == 3, tensor.shape[0] == 3 else {
            throw PNGError.invalidInput("expected a [3, H, W] image tensor, got shape \(tensor.shape)")
        }
        let (h, w) = (tensor.shape[1], tensor.shape[2])
        guard h >= 1, w >= 1 else { throw PNGError.zeroSize }
        let plane = h * w
        var bytes = [UInt8](repeating: 0, count: 3 * plane)
        tensor.withUnsafeBufferPointer { d in
            bytes.withUnsafeMutableBufferPointer { p in
                for i in 0..<plane {
                    for ch in 0..<3 { p[3 * i + ch] = RGBImage.byte(d[ch * plane + i]) }
                }
            }
        }
        try self.init(width: w, height: h, rgb: bytes)
    }

    /// One value of the mapping above.
    @inline(__always)
    static func byte(_ x: Float) -> UInt8 {
        let clamped = x.isNaN ? -1 : Swift.min(Swift.max(x, -1), 1)
        return UInt8((clamped + 1) * 127.5)  // Float → UInt8 truncates
    }
}

/// PNG encoding and decoding through libpng (`CPNGShim`).
public enum PNG {
    /// Default decoder limit: 16 Mpx (16 × 2²⁰ pixels).
    public static let defaultMaxPixels = 16 * 1024 * 1024

    /// Encodes an RGB8 image as an 8-bit RGB, non-interlaced PNG.
    public static func encode(_ image: RGBImage) throws -> [UInt8] {
        try image.rgb.withUnsafeBufferPointer { rgb in
            try encode(rgb: rgb, width: image.width, height: image.height)
        }
    }

    /// Encodes a `[3, H, W]` tensor (or a batch of one, `[1, 3, H, W]`, as the generator returns it) in [−1, 1]
    /// with the official mapping (see `RGBImage.init(tensor:)`): the one place a generated image becomes a PNG.
    /// The RGB bytes are staged in the thread's scratch buffer, and libpng's and zlib's memory comes from
    /// the thread's encoder pool, so the returned array is the only allocation in steady state.
    public static func encode(_ tensor: Tensor) throws -> [UInt8] {
        let batchOfOne = tensor.rank == 4 && tensor.shape[0] == 1
        let c = batchOfOne ? 1 : 0  // index of the channel axis
        guard tensor.rank == 3 || batchOfOne, tensor.shape[c] == 3 else {
            throw PNGError.invalidInput("expected a [3, H, W] or [1, 3, H, W] image tensor, got shape \(tensor.shape)")
        }
        let (h, w) = (tensor.shape[c + 1], tensor.shape[c + 2])
        guard h >= 1, w >= 1 else { throw PNGError.zeroSize }
        let plane = h * w
        let bytes = UnsafeMutableRawPointer(ScratchBuffer.current.floats((3 * plane + 3) / 4))
            .bindMemory(to: UInt8.self, capacity: 3 * plane)
        tensor.withUnsafeBufferPointer { d in
            for i in 0..<plane {
                for ch in 0..<3 { bytes[3 * i + ch] = RGBImage.byte(d[ch * plane + i]) }
            }
        }
        return try encode(rgb: UnsafeBufferPointer(start: bytes, count: 3 * plane), width: w, height: h)
    }

    private static func encode(rgb: UnsafeBufferPointer<UInt8>, width: Int, height: Int) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        // The error text's buffer is on the stack (256 bytes: below withUnsafeTemporaryAllocation's heap threshold).
        return try withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { message in
            message.initialize(repeating: 0)
            let status = cpng_encode_rgb8(rgb.baseAddress, UInt32(width), UInt32(height), &out, &size,
                                          message.baseAddress, message.count)
            defer { cpng_free_encoded(out) }
            try check(status, message: UnsafeBufferPointer(message))
            guard let out else { throw PNGError.outOfMemory }
            return Array(UnsafeBufferPointer(start: out, count: size))
        }
    }

    /// Decodes any PNG (grey, grey + alpha, palette, RGB, RGBA, 1–16 bits, interlaced) to RGB8.
    /// Transparency is composited over white: p = (c · a + 255 · (255 − a)) / 255, rounded.
    /// The header's size is checked against `maxPixels` before any pixel buffer is allocated.
    public static func decode(_ bytes: [UInt8], maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var width: UInt32 = 0, height: UInt32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let limit = UInt64(Swift.max(maxPixels, 0))
        let status = bytes.withUnsafeBufferPointer { data in
            cpng_decode_rgb8(data.baseAddress, data.count, limit, &out, &width, &height, &message, message.count)
        }
        defer { cpng_free(out) }
        if status == Int32(CPNG_ERR_TOO_LARGE.rawValue) {
            throw PNGError.tooLarge(width: Int(width), height: Int(height), limit: maxPixels)
        }
        try message.withUnsafeBufferPointer { try check(status, message: $0) }
        guard let out else { throw PNGError.outOfMemory }
        let count = Int(width) * Int(height) * 3
        return try RGBImage(width: Int(width), height: Int(height),
                            rgb: Array(UnsafeBufferPointer(start: out, count: count)))
    }

    private static func check(_ status: Int32, message: UnsafeBufferPointer<CChar>) throws {
        if status == Int32(CPNG_OK.rawValue) { return }
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch UInt32(bitPattern: status) {
        case CPNG_OK.rawValue: return
        case CPNG_ERR_SIGNATURE.rawValue: throw PNGError.notPNG
        case CPNG_ERR_ZERO_SIZE.rawValue: throw PNGError.zeroSize
        case CPNG_ERR_NO_MEMORY.rawValue: throw PNGError.outOfMemory
        case CPNG_ERR_ARGUMENT.rawValue: throw PNGError.invalidInput(text)
        default: throw PNGError.corrupt(message: text)
        }
    }
}
