/// Element types the reader accepts; every tensor is converted to Float32 on load.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"

    public var byteSize: Int { self == .f32 ? 4 : 2 }

    /// Decodes `count` little-endian elements starting at `source` (no alignment required).
    func decode(_ source: UnsafeRawPointer, count: Int) -> [Float] {
        switch self {
        case .f32:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0, let base = buffer.baseAddress {
                    UnsafeMutableRawPointer(base).copyMemory(from: source, byteCount: count * 4)
                }
                initialized = count
            }
        case .f16:
            return (0..<count).map { i in halfToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            return (0..<count).map { i in
                Float(bitPattern: UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
            }
        }
    }

    /// Little-endian bytes of `values` in this type (F16/BF16 round to nearest even).
    func encode(_ values: [Float]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * byteSize)
        for v in values {
            switch self {
            case .f32:
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            case .f16:
                withUnsafeBytes(of: floatToHalf(v).littleEndian) { bytes.append(contentsOf: $0) }
            case .bf16:
                withUnsafeBytes(of: floatToBFloat16(v).littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        return bytes
    }
}

/// IEEE 754 binary16 → binary32 (exact; handles subnormals, infinities and NaN).
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa · 2^-24.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
}

/// binary32 → binary16 with round-to-nearest-even (overflow gives ±∞).
func floatToHalf(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    if f.isNaN { return sign | 0x7E00 }
    let magnitude = abs(f)
    if magnitude >= 65520 { return sign | 0x7C00 }  // rounds to infinity
    if magnitude < Float(sign: .plus, exponent: -14, significand: 1) {
        // Subnormal half: round magnitude / 2^-24 to an integer (ties to even via rounded()).
        let q = (magnitude * Float(sign: .plus, exponent: 24, significand: 1)).rounded(.toNearestOrEven)
        return sign | UInt16(q)
    }
    let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
    var mantissa = bits & 0x7F_FFFF
    var half = UInt32(exponent) << 10 | (mantissa >> 13)
    mantissa &= 0x1FFF
    if mantissa > 0x1000 || (mantissa == 0x1000 && (half & 1) == 1) { half += 1 }  // carries into exponent correctly
    return sign | UInt16(half)
}

/// binary32 → bfloat16 with round-to-nearest-even.
func floatToBFloat16(_ f: Float) -> UInt16 {
    if f.isNaN { return UInt16(f.bitPattern >> 16) | 0x40 }
    let bits = f.bitPattern
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}
