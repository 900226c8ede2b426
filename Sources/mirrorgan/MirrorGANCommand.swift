import ArgumentParser
import Foundation
import MirrorGAN

@main
struct MirrorGANCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirrorgan",
        abstract: "MirrorGAN text-to-image-to-text: generate, caption, evaluate and serve.",
        subcommands: [Serve.self, Generate.self, CaptionCommand.self, Eval.self, Inspect.self, Bench.self])
}

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

/// Writes a progress line on a terminal (and nothing when stderr is not one).
struct Progress {
    let total: Int
    let label: String
    let start = Date()
    let isTTY = isatty(STDERR_FILENO) != 0

    func update(_ done: Int, extra: String = "") {
        guard isTTY else { return }
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        FileHandle.standardError.write("\r\(label) \(done)/\(total)  \(extra)  eta \(Int(eta)) s   ".data(using: .utf8)!)
        if done == total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}
