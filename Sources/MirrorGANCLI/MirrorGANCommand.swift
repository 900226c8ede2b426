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
