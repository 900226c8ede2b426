/// Hands out the tensors of one safetensors file by official key name, checking each shape against the
/// architecture, and reports any tensor that no module asked for (so a checkpoint of another width or
/// variant cannot half-load). Used at load time only.
///
/// A reader can also *make* the tensors a module asks for (`init(generating:)`): `SyntheticTrunk` builds a trunk's
/// random weight file that way, with the module's own names and shapes, so the architecture has one owner.
final class WeightReader {
    let file: String
    private let tensors: SafeTensorsFile?
    private let generate: ((String, [Int]) -> Tensor)?
    private var used = Set<String>()
    /// The tensors a generating reader handed out, by name.
    private(set) var generated: [String: Tensor] = [:]
    private let prefix: String

    init(path: String, displayName: String) throws {
        file = displayName
        do {
            tensors = try SafeTensorsFile(path: path)
        } catch let error as SafeTensorsError {
            throw ModelLoadError.unreadableFile(file: displayName, reason: error.description)
        }
        generate = nil
        prefix = ""
    }

    /// A reader that answers every request with `generate(name, shape)` (and records it in `generated`).
    init(generating generate: @escaping (String, [Int]) -> Tensor, displayName: String) {
        file = displayName
        tensors = nil
        self.generate = generate
        prefix = ""
    }

    private init(parent: WeightReader, prefix: String) {
        file = parent.file
        tensors = parent.tensors
        generate = parent.generate
        self.prefix = prefix
        root = parent.root ?? parent
    }

    /// The reader that tracks used names for this file (children forward to it).
    private var root: WeightReader?

    /// A view whose names are relative to `name.` (mirrors a submodule of the checkpoint's tree).
    func scope(_ name: String) -> WeightReader {
        WeightReader(parent: self, prefix: prefix + name + ".")
    }

    private func markUsed(_ key: String) {
        if let root { root.used.insert(key) } else { used.insert(key) }
    }

    /// Tensor `name` (relative to this scope) with exactly `shape`.
    func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
        let key = prefix + name
        if let generate {
            let t = generate(key, shape)
            (root ?? self).generated[key] = t
            markUsed(key)
            return t
        }
        guard let tensors else { throw ModelLoadError.missingTensor(file: file, tensor: key) }
        guard let entry = tensors.entries[key] else { throw ModelLoadError.missingTensor(file: file, tensor: key) }
        guard entry.shape == shape else {
            throw ModelLoadError.shapeMismatch(file: file, tensor: key, expected: shape, actual: entry.shape)
        }
        let t: Tensor
        do { t = try tensors.tensor(key) } catch let error as SafeTensorsError {
            throw ModelLoadError.unreadableFile(file: file, reason: error.description)
        }
        guard t.data.allSatisfy({ $0.isFinite }) else {
            throw ModelLoadError.invalidTensor(file: file, tensor: key, message: "contains NaN or infinity")
        }
        markUsed(key)
        return t
    }

    func has(_ name: String) -> Bool { tensors?.entries[prefix + name] != nil }

    /// Inference-mode BatchNorm parameters under `name` (`weight`, `bias`, `running_mean`, `running_var`).
    func batchNorm(_ name: String, channels: Int, eps: Float) throws -> BatchNormParameters {
        let s = scope(name)
        return try BatchNormParameters(weight: s.tensor("weight", [channels]), bias: s.tensor("bias", [channels]),
                                       runningMean: s.tensor("running_mean", [channels]),
                                       runningVar: s.tensor("running_var", [channels]), eps: eps)
    }

    /// Number of parameters and buffers in the file (`num_batches_tracked` excluded).
    var parameterCount: Int {
        (tensors?.entries ?? [:]).filter { !$0.key.hasSuffix("num_batches_tracked") }.reduce(0) { $0 + $1.value.shape.reduce(1, *) }
    }

    /// Fails if the file holds tensors that no module used (`num_batches_tracked` counters are ignored).
    func finish() throws {
        let owner = root ?? self
        let extra = (tensors?.entries ?? [:]).keys.filter { !owner.used.contains($0) && !$0.hasSuffix("num_batches_tracked") }
        if !extra.isEmpty { throw ModelLoadError.unexpectedTensors(file: file, tensors: extra.sorted()) }
    }
}
