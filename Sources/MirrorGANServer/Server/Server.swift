// Binds the Router to libmicrohttpd through CHTTP, and owns the server's lifecycle:
// start -> (setEngine) -> drain -> stopped.
import CHTTP
import Dispatch
import Foundation

public struct ServerError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

public final class Server: @unchecked Sendable {
    public let config: ServerConfig
    public let router: Router

    private let lock = NSLock()
    private var handle: OpaquePointer?           // chttp_server*
    private var boundPort = 0
    private var stopped = false
    private let stoppedSignal = DispatchSemaphore(value: 0)
    private var signalSources: [DispatchSourceSignal] = []
    private let events: @Sendable (String) -> Void

    /// Builds the router (validates `config`, reads the API key file). Nothing listens until start().
    /// `logSink` receives every JSON log line (default: stderr).
    public init(config: ServerConfig, engine: InferenceEngine? = nil, apiKeys: APIKeys? = nil,
                logSink: (@Sendable (String) -> Void)? = nil) throws {
        self.config = config
        router = try Router(config: config, engine: engine, apiKeys: apiKeys, logSink: logSink)
        events = logSink ?? RequestLogger.stderr
    }

    /// Binds and starts the I/O threads. Throws ServerError (e.g. the port is in use).
    public func start() throws {
        lock.lock()
        defer { lock.unlock() }
        guard handle == nil, !stopped else { throw ServerError(description: "start() may be called once per Server") }
        // MHD sends with MSG_NOSIGNAL on Linux; ignoring SIGPIPE also covers any other write to a dead peer.
        signal(SIGPIPE, SIG_IGN)
        router.connectionCount = { [weak self] in self?.connectionCount() }
        var errbuf = [CChar](repeating: 0, count: 256)
        let user = Unmanaged.passRetained(self) // released in stop(), after the last callback
        let h: OpaquePointer? = config.host.withCString { host in
            var c = chttp_config()
            c.host = host
            c.port = UInt16(clamping: config.port)
            c.threads = UInt32(clamping: config.ioThreads)
            c.connection_limit = UInt32(clamping: config.effectiveConnectionLimit)
            c.per_ip_limit = UInt32(clamping: config.perIPConnectionLimit)
            c.timeout_s = UInt32(clamping: config.connectionTimeout)
            c.max_body_bytes = config.maxBodyBytes
            return chttp_start(&c, chttpHandler, user.toOpaque(), &errbuf, errbuf.count)
        }
        guard let h else {
            user.release()
            let message = String(decoding: errbuf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ServerError(description: message.isEmpty ? "cannot start the HTTP server" : message)
        }
        handle = h
        boundPort = Int(chttp_port(h))
        events(RequestLogger.event("listening", [("host", .string(config.host)), ("port", .int(boundPort)),
                                                 ("ready", .bool(router.isReady))]))
    }

    /// The bound port (the real one when config.port is 0); 0 before start().
    public var port: Int {
        lock.lock()
        defer { lock.unlock() }
        return boundPort
    }

    /// Installs the model once loaded; /readyz turns 200.
    public func setEngine(_ engine: InferenceEngine) {
        router.setEngine(engine)
        events(RequestLogger.event("model ready", [("model", .string(engine.info.id))]))
    }

    /// The engine's background warm-up has finished (see `Router.setWarm`).
    public func setWarm(seconds: Double) {
        router.setWarm()
        events(RequestLogger.event("model warm", [("seconds", .double(seconds))]))
    }

    /// Graceful shutdown: /readyz and new inference requests answer 503 at once; queued and running
    /// requests finish (for at most `timeout` seconds, default request timeout + 10 s); then the listener
    /// closes and the server stops. Blocks until stopped. Safe to call more than once.
    public func drain(timeout: Double? = nil) {
        router.beginDrain()
        events(RequestLogger.event("draining", [("pending", .int(router.pendingInference))]))
        router.waitUntilDrained(timeout: timeout ?? config.requestTimeout + 10)
        stop()
    }

    /// Stops at once: requests still waiting for inference are answered 503 by CHTTP.
    public func stop() {
        lock.lock()
        let h = handle
        handle = nil
        let first = !stopped
        stopped = true
        lock.unlock()
        guard first else { return }
        if let h {
            chttp_stop(h, 2000)
            Unmanaged.passUnretained(self).release() // balances passRetained in start()
        }
        router.shutdown()
        events(RequestLogger.event("stopped"))
        stoppedSignal.signal()
    }

    /// Blocks the calling thread until the server has stopped (after drain() or stop()).
    public func waitUntilStopped() {
        stoppedSignal.wait()
        stoppedSignal.signal() // let other waiters through too
    }

    /// On SIGTERM or SIGINT: drain(), then `then` (default: exit(0)). A second signal during the drain
    /// exits at once with status 1.
    public func installSignalHandlers(signals: [Int32] = [SIGTERM, SIGINT], drainTimeout: Double? = nil,
                                      then: @escaping @Sendable () -> Void = { exit(0) }) {
        let queue = DispatchQueue(label: "mirrorgan.signals")
        let once = NSLock()
        nonisolated(unsafe) var draining = false
        for sig in signals {
            signal(sig, SIG_IGN) // let the dispatch source, not the default action, see it
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [weak self] in
                once.lock()
                let again = draining
                draining = true
                once.unlock()
                if again {
                    self?.events(RequestLogger.event("second signal; exiting now", level: "warn"))
                    exit(1)
                }
                guard let server = self else { return then() }
                server.events(RequestLogger.event("signal received; draining", [("signal", .int(Int(sig)))]))
                Thread.detachNewThread { // drain blocks; keep it off the shared dispatch pool
                    server.drain(timeout: drainTimeout)
                    then()
                }
            }
            source.resume()
            lock.lock()
            signalSources.append(source)
            lock.unlock()
        }
    }

    private func connectionCount() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard let h = handle else { return nil }
        let n = chttp_connection_count(h)
        return n >= 0 ? Int(n) : nil
    }

    // Called by CHTTP on an I/O thread for each complete request.
    fileprivate func dispatch(_ req: OpaquePointer) {
        let request = Server.makeRequest(req)
        let responder = Responder(req)
        router.handle(request) { response in responder.send(response) }
    }

    private static func makeRequest(_ req: OpaquePointer) -> HTTPRequest {
        func str(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
        var headers = HTTPHeaders()
        for i in 0..<chttp_request_header_count(req) {
            headers.add(str(chttp_request_header_name(req, i)), str(chttp_request_header_value(req, i)))
        }
        var query: [(name: String, value: String)] = []
        for i in 0..<chttp_request_query_count(req) {
            query.append((name: str(chttp_request_query_name(req, i)), value: str(chttp_request_query_value(req, i))))
        }
        var body: [UInt8] = []
        if let p = chttp_request_body(req) {
            body = Array(UnsafeBufferPointer(start: p, count: chttp_request_body_length(req)))
        }
        return HTTPRequest(method: str(chttp_request_method(req)), path: str(chttp_request_path(req)), query: query,
                           headers: headers, body: body, bodyTooLarge: chttp_request_body_too_large(req) != 0,
                           peer: str(chttp_request_peer(req)))
    }
}

private let chttpHandler: chttp_handler = { req, user in
    guard let req, let user else { return }
    Unmanaged<Server>.fromOpaque(user).takeUnretainedValue().dispatch(req)
}

/// Owns one CHTTP request until it is answered; guarantees chttp_respond is called at most once.
private final class Responder: @unchecked Sendable {
    private let lock = NSLock()
    private var req: OpaquePointer?

    init(_ req: OpaquePointer) { self.req = req }

    func send(_ response: HTTPResponse) {
        lock.lock()
        let r = req
        req = nil
        lock.unlock()
        guard let r else { return }
        // C copies of the header strings; CR/LF/NUL would split or truncate a header, so they become spaces.
        var owned: [UnsafeMutablePointer<CChar>] = []
        var headers: [chttp_header] = []
        for (name, value) in response.headers where name.lowercased() != "content-length" {
            guard let n = strdup(Responder.clean(name)), let v = strdup(Responder.clean(value)) else { continue }
            owned.append(n)
            owned.append(v)
            headers.append(chttp_header(name: n, value: v))
        }
        let status = UInt32(clamping: response.status)
        _ = response.body.withUnsafeBytes { body in
            headers.withUnsafeBufferPointer { hs in
                chttp_respond(r, status, hs.baseAddress, hs.count, body.baseAddress, body.count)
            }
        }
        owned.forEach { free($0) }
    }

    private static func clean(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else { return s }
        return String(decoding: s.utf8.map { $0 == 13 || $0 == 10 || $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }
}
