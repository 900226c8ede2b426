import Foundation

/// Deterministic random weights for a trunk (Inception-v3, ResNet-152), made from a seed: the twin of
/// training/mirrorgan_train/synthetic_trunk.py, value for value (the rule is in that file's docstring). The parity
/// fixtures of converted models commit no trunk weights (88 and 232 MB): the tests make them here, and
/// `mirrorgan bench` times converted-layout models on them. The names and shapes are the ones the trunk's own
/// loader asks for (a generating `WeightReader`), so the architecture has one owner.
public enum SyntheticTrunk {
    /// Every tensor of the trunk `config` names.
    public static func weights(_ config: ModelConfig.Backbone, seed: UInt64) throws -> [String: Tensor] {
        let r = WeightReader(generating: { name, shape in value(name, shape, seed: seed) }, displayName: "synthetic")
        _ = try ImageTrunk(r, config: config)
        return r.generated
    }

    /// Writes the trunk's weights as a safetensors file at `path`.
    public static func write(_ config: ModelConfig.Backbone, seed: UInt64, to path: String) throws {
        try SafeTensorsWriter.write(weights(config, seed: seed), to: path)
    }

    static func fnv1a64(_ name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }

    /// The tensor `name` of `shape` (see the Python twin for the rule).
    static func value(_ name: String, _ shape: [Int], seed: UInt64) -> Tensor {
        let n = shape.reduce(1, *)
        let s = fnv1a64(name) ^ seed
        let scale: Float, offset: Float
        if shape.count >= 2 {
            (scale, offset) = (Float((6.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot()), 0)
        } else if name.hasSuffix("running_var") {
            (scale, offset) = (0.25, 1)
        } else if name.hasSuffix("running_mean") || name.hasSuffix("bias") {
            (scale, offset) = (0.1, 0)
        } else if name.hasSuffix("bn3.weight") {
            (scale, offset) = (0.05, 0.2)
        } else {
            (scale, offset) = (0.1, 1)
        }
        var out = [Float](repeating: 0, count: n)  // ordinary memory: weights outlive any request's arena
        do {
            for i in 0..<n {
                var z = s &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                let v = Float(z >> 40) / 8_388_608 - 1
                // The same float32 operations as the twin: offset + scale·v (rank ≥ 2: scale·v, offset 0).
                out[i] = shape.count >= 2 ? v * scale : offset + scale * v
            }
        }
        return Tensor(uncheckedShape: Shape(shape), data: TensorBuffer(out))
    }
}
