import ArgumentParser
import Foundation
import MirrorGAN

/// Options every model-using subcommand shares.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model directory (docs/MODEL_FORMAT.md).")
    var weights: String = ProcessInfo.processInfo.environment["MIRRORGAN_WEIGHTS"] ?? "Weights/synthbirds"

    @Option(help: "Compute threads (fixed at start).")
    var threads: Int = Int(ProcessInfo.processInfo.environment["MIRRORGAN_THREADS"] ?? "") ?? 2

    func load() throws -> MirrorGANModel {
        Runtime.setThreads(threads)
        do {
            return try MirrorGANModel(directory: weights)
        } catch let error as ModelLoadError {
            throw ValidationError("cannot load model \(weights): \(error)")
        }
    }
}
