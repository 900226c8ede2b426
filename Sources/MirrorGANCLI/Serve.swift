import ArgumentParser
import Foundation
import MirrorGAN
import MirrorGANEngine
import MirrorGANServer

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over HTTP (flags override MIRRORGAN_* environment variables).")

    @OptionGroup var model: ModelOptions
    @Option(help: "Address to bind.") var host: String?
    @Option(help: "TCP port (0 picks a free one).") var port: Int?
    @Option(help: "Requests allowed to wait for a worker before 503.") var queueSize: Int?
    @Option(help: "Largest request body in bytes (413 above).") var maxBodyBytes: Int?
    @Option(help: "Largest image to caption, in pixels (413 above, checked before decoding).") var maxImagePixels: Int?
    @Option(help: "Seconds a request may wait in the queue before 504.") var requestTimeout: Double?
    @Option(help: "Allowed CORS origin(s), comma-separated, or *.") var corsOrigin: String?
    @Option(help: "File with one Bearer API key per line.") var apiKeyFile: String?
    @Option(help: "Concurrent inference workers.") var workers: Int?

    func run() throws {
        var config: ServerConfig
        do { config = try ServerConfig.fromEnvironment(ProcessInfo.processInfo.environment) } catch { throw ValidationError("\(error)") }
        if let host { config.host = host }
        if let port { config.port = port }
        if let queueSize { config.queueSize = queueSize }
        if let maxBodyBytes { config.maxBodyBytes = maxBodyBytes }
        if let maxImagePixels { config.maxImagePixels = maxImagePixels }
        if let requestTimeout { config.requestTimeout = requestTimeout }
        if let corsOrigin { config.corsOrigin = corsOrigin }
        if let apiKeyFile { config.apiKeyFile = apiKeyFile }
        if let workers { config.workers = workers }
        config.threads = model.threads
        config.buildInfo = ["version": ServerConfig.version, "blas": "openblas"]

        do { try config.validate() } catch { throw ValidationError("\(error)") }
        let server = try Server(config: config)
        try server.start()
        // After a signal the drain ends in stop(), which lets `waitUntilStopped` below return, and this function's
        // return is the one way out of the process. The handlers' default follow-up, exit(0) on the drain thread,
        // raced that return: two threads in exit() at once ran the atexit handlers twice (SIGSEGV after "stopped",
        // seen in CI's drain and browser tests).
        server.installSignalHandlers(then: {})
        // Readiness stays 503 until the weights are loaded and verified.
        let loaded: MirrorGANModel
        do {
            loaded = try model.load()
        } catch {
            FileHandle.standardError.write("mirrorgan: refusing to serve: \(error)\n".data(using: .utf8)!)
            server.stop()
            throw ExitCode(2)
        }
        server.setEngine(ModelEngine(model: loaded, threads: model.threads, maxPixels: config.maxImagePixels))
        // R-precision's candidate features, encoded once each; requests encode the ones still missing.
        let warmUp = WarmUp()
        DispatchQueue.global(qos: .utility).async {
            let start = DispatchTime.now().uptimeNanoseconds
            let complete = (try? loaded.warmBankSentences(until: { warmUp.stopRequested })) ?? false
            if complete { server.setWarm(seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            warmUp.finished.signal()
        }
        server.waitUntilStopped()
        // The warm-up runs the text encoder (OpenBLAS) on a background thread; returning from `run` while it is
        // busy would let exit() tear the libraries down under it. Stop it at its next block (≤ 256 captions,
        // ~50 ms) and wait for it.
        warmUp.requestStop()
        warmUp.finished.wait()
    }
}

/// The bank warm-up's stop request and completion signal, shared with its background thread.
private final class WarmUp: @unchecked Sendable {
    private let lock = NSLock()
    private var stop = false
    let finished = DispatchSemaphore(value: 0)

    var stopRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stop
    }

    func requestStop() {
        lock.lock()
        stop = true
        lock.unlock()
    }
}
