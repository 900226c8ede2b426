// Vectorised exp and sigmoid for the fused conv epilogues (8 lanes; the compiler maps SIMD8 onto
// whatever vector width the target has). exp: Cody–Waite range reduction and a degree-6 polynomial
// (Cephes expf), relative error below 2e-7. Only integer and arithmetic SIMD operations are used (the
// standard library's pointwise min/max/select are lane loops that do not inline), so the clamp and the
// sign selection are done on the bit patterns.

typealias Float8 = SIMD8<Float>
typealias Int8x32 = SIMD8<Int32>

@inline(__always)
func bits(_ v: Float8) -> Int8x32 { unsafeBitCast(v, to: Int8x32.self) }

@inline(__always)
func float8(_ v: Int8x32) -> Float8 { unsafeBitCast(v, to: Float8.self) }

/// e^−a for a ≥ 0 (a larger than 87 is treated as 87: e^−87 ≈ 1.6e-38, still a normal float).
@inline(__always)
func fastExpNegated(_ a: Float8) -> Float8 {
    // min(a, 87) on the bit patterns (both non-negative, so they order like the floats).
    let limit = Int8x32(repeating: 0x42AE_0000)  // 87.0
    let over = (limit &- bits(a)) &>> 31  // all ones where a > 87
    let x = -float8((bits(a) & ~over) | (limit & over))
    // n = round(x / ln 2) with the 1.5·2^23 trick (exact for |n| < 2^22).
    let magic = Float8(repeating: 12_582_912)
    let t = x * Float8(repeating: 1.442_695_04) + magic
    let n = t - magic
    var r = x - n * Float8(repeating: 0.693_359_375)
    r = r - n * Float8(repeating: -2.121_944_4e-4)
    var p = Float8(repeating: 1.987_569_15e-4)
    p = p * r + Float8(repeating: 1.398_199_950_7e-3)
    p = p * r + Float8(repeating: 8.333_451_907_3e-3)
    p = p * r + Float8(repeating: 4.166_579_589_4e-2)
    p = p * r + Float8(repeating: 1.666_666_545_9e-1)
    p = p * r + Float8(repeating: 5.000_000_120_1e-1)
    let e = p * (r * r) + r + Float8(repeating: 1)
    // 2^n: the bit pattern of t is 0x4B40_0000 + n.
    let scale = float8(((bits(t) &- Int8x32(repeating: 0x4B40_0000)) &+ Int8x32(repeating: 127)) &<< Int8x32(repeating: 23))
    return e * scale
}

/// max(x, 0) on the bit patterns (ReLU; −0 and negative lanes become +0, as the scalar `x < 0 ? 0 : x` gives
/// for finite x except that it keeps −0; both compare equal).
@inline(__always)
func relu(_ x: Float8) -> Float8 { float8(bits(x) & ~(bits(x) &>> 31)) }

/// p[i] = f(p[i]) for i < n, 8 lanes at a time; the last n mod 8 elements go through `f` as one zero-padded
/// vector, so every element gets the same lane function wherever it stands in the row. The one loop behind the
/// row epilogues (`reluRow`, `tanhRow`).
@inline(__always)
func mapRow(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ f: (Float8) -> Float8) {
    var i = 0
    while i + 8 <= n {
        store8(f(load8(p + i)), p + i)
        i += 8
    }
    if i < n {
        var v = Float8(repeating: 0)
        for k in 0..<(n - i) { v[k] = p[i + k] }
        let r = f(v)
        for k in 0..<(n - i) { p[i + k] = r[k] }
    }
}

/// row[0..<count] = max(row, 0) (the Winograd kernels' ReLU epilogue).
@inline(__always)
func reluRow(_ row: UnsafeMutablePointer<Float>, _ count: Int) { mapRow(row, count, relu) }

/// min(max(x, 0), 6) on the bit patterns (ReLU6; see the note at the top of the file on min/max). A NaN
/// comes out 6 or 0 by its sign bit (the scalar clamp passes it through); activations are finite.
@inline(__always)
func relu6(_ x: Float8) -> Float8 {
    let nonNegative = bits(x) & ~(bits(x) &>> 31)  // zero where x < 0 (−0 included)
    let six = Int8x32(repeating: 0x40C0_0000)  // 6.0
    let over = (six &- nonNegative) &>> 31  // all ones where x > 6 (non-negative floats order like ints)
    return float8((nonNegative & ~over) | (six & over))
}

/// 1 / (1 + e^−x), computed from e = e^−|x| as 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0 (no overflow;
/// at most ~1e-38 instead of a denormal for x < −87). A NaN input gives a finite value (the
/// callers' inputs are finite: weights are checked at load).
@inline(__always)
func fastSigmoid(_ x: Float8) -> Float8 {
    let sign = bits(x) &>> 31  // all ones where x < 0
    let e = fastExpNegated(float8(bits(x) & Int8x32(repeating: 0x7FFF_FFFF)))
    let r = Float8(repeating: 1) / (Float8(repeating: 1) + e)
    return float8((bits(r) & ~sign) | (bits(e * r) & sign))
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> Float8 {
    UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
}

@inline(__always)
func store8(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
}

/// dst[i] = (a[i] + biasA) · sigmoid(g[i] + biasG) for i < n (the GLU epilogue; dst may alias a or g).
@inline(__always)
func gluRow(_ dst: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ biasA: Float,
            _ g: UnsafePointer<Float>, _ biasG: Float, _ n: Int) {
    let ba = Float8(repeating: biasA), bg = Float8(repeating: biasG)
    var i = 0
    while i + 8 <= n {
        store8((load8(a + i) + ba) * fastSigmoid(load8(g + i) + bg), dst + i)
        i += 8
    }
    if i < n {
        var va = Float8(repeating: 0), vg = Float8(repeating: 0)
        for k in 0..<(n - i) { va[k] = a[i + k]; vg[k] = g[i + k] }
        let r = (va + ba) * fastSigmoid(vg + bg)
        for k in 0..<(n - i) { dst[i + k] = r[k] }
    }
}

/// tanh(x) = sign(x) · (1 − e) / (1 + e) with e = e^−2|x| (no overflow for large |x|). Absolute error
/// below ~2e-7 (relative precision is lost only for |x| ≲ 1e-3, where the value itself is that small).
@inline(__always)
func fastTanh(_ x: Float8) -> Float8 {
    let sign = bits(x) & Int8x32(repeating: Int32(bitPattern: 0x8000_0000))
    let a = float8(bits(x) & Int8x32(repeating: 0x7FFF_FFFF))
    let e = fastExpNegated(a + a)
    let t = (Float8(repeating: 1) - e) / (Float8(repeating: 1) + e)
    return float8(bits(t) | sign)
}

/// p[i] = tanh(p[i]) for i < n (the image heads' epilogue; libm's tanhf is ~10× slower per element).
@inline(__always)
func tanhRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) { mapRow(p, n, fastTanh) }
