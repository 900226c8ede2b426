/// Word attention maps as images: the other place, beside `PNG.encode(_: Tensor)`, where a tensor becomes a
/// PNG (the server's `return_attention`).
extension PNG {
    /// `[T, H, W]` attention (the generator's last-stage word attention, batch dropped) → the first `count` maps
    /// (at most T) as grey 8-bit PNGs, each scaled to its own maximum (0 → black, the map's peak → white).
    public static func encodeAttentionMaps(_ attention: Tensor, count: Int) throws -> [[UInt8]] {
        guard attention.rank == 3 else {
            throw PNGError.invalidInput("expected [T, H, W] attention maps, got shape \(attention.shape)")
        }
        let (t, h, w) = (attention.shape[0], attention.shape[1], attention.shape[2])
        let data = attention.data
        return try (0..<Swift.max(0, Swift.min(t, count))).map { k in
            let plane = data[(k * h * w)..<((k + 1) * h * w)]
            let peak = Swift.max(plane.max() ?? 0, 1e-12)
            var rgb = [UInt8](repeating: 0, count: h * w * 3)
            for (i, v) in plane.enumerated() {
                let g = UInt8(Swift.max(0, Swift.min(255, (v / peak * 255).rounded())))
                rgb[i * 3] = g; rgb[i * 3 + 1] = g; rgb[i * 3 + 2] = g
            }
            return try encode(RGBImage(width: w, height: h, rgb: rgb))
        }
    }
}
