// The HTTP API without sockets: HTTPRequest in, HTTPResponse out (through a completion, because inference
// requests finish on a worker thread). Cross-cutting concerns live here: request IDs, 404/405/OPTIONS,
// body-size rejections, API keys, CORS, metrics, the request log, readiness and draining.
import Dispatch
import Foundation

public final class Router: @unchecked Sendable {
    public let config: ServerConfig
    let metrics = Metrics()
    let scheduler: Scheduler
    /// Static files (replaceable in tests).
    var resources: ResourceStore
    private let apiKeys: APIKeys?
    private let cors: CORSPolicy?
    private let logger: RequestLogger?

    private let lock = NSLock()
    private var engine: InferenceEngine?
    private var draining = false
    private var warm = false
    private var inflight = 0
    /// Open connections, supplied by the transport (Server) when there is one.
    var connectionCount: @Sendable () -> Int? = { nil }

    struct Route {
        enum Kind { case root, healthz, readyz, metrics, models, openapi, generations, captions, chatCompletions }
        let path: String
        let methods: [String]
        let open: Bool // reachable without an API key
        let kind: Kind
    }

    static let routes: [Route] = [
        // The page and the spec are static and public; the page asks for a key for its API calls.
        Route(path: "/", methods: ["GET"], open: true, kind: .root),
        Route(path: "/healthz", methods: ["GET"], open: true, kind: .healthz),
        Route(path: "/readyz", methods: ["GET"], open: true, kind: .readyz),
        Route(path: "/metrics", methods: ["GET"], open: true, kind: .metrics),
        Route(path: "/v1/models", methods: ["GET"], open: false, kind: .models),
        Route(path: "/openapi.yaml", methods: ["GET"], open: true, kind: .openapi),
        Route(path: "/v1/images/generations", methods: ["POST"], open: false, kind: .generations),
        Route(path: "/v1/captions", methods: ["POST"], open: false, kind: .captions),
        Route(path: "/v1/chat/completions", methods: ["POST"], open: false, kind: .chatCompletions),
    ]

    /// Unix time the router was made: the served model's `created` in /v1/models.
    let createdAt = Int64(Date().timeIntervalSince1970)

    /// `apiKeys` overrides `config.apiKeyFile` (tests); `logSink` receives each JSON log line (default:
    /// stderr when config.logRequests). Throws ConfigError if the config is invalid or the key file unreadable.
    public init(config: ServerConfig, engine: InferenceEngine? = nil, apiKeys: APIKeys? = nil,
                logSink: (@Sendable (String) -> Void)? = nil) throws {
        try config.validate()
        self.config = config
        self.engine = engine
        if let apiKeys {
            self.apiKeys = apiKeys
        } else if let path = config.apiKeyFile {
            self.apiKeys = try APIKeys.load(path: path)
        } else {
            self.apiKeys = nil
        }
        cors = config.corsOrigin.flatMap(CORSPolicy.init(setting:))
        if let logSink {
            logger = RequestLogger(sink: logSink)
        } else {
            logger = config.logRequests ? RequestLogger(sink: RequestLogger.stderr) : nil
        }
        resources = ResourceStore()
        let metrics = self.metrics
        scheduler = Scheduler(workers: config.workers, capacity: config.queueSize) { wait in
            metrics.observe("mirrorgan_queue_wait_seconds", [], wait)
        }
    }

    deinit { scheduler.shutdown() }

    // MARK: state

    /// Installs (or replaces) the model; /readyz turns 200 unless draining.
    public func setEngine(_ engine: InferenceEngine) {
        lock.withLock { self.engine = engine }
    }

    var currentEngine: InferenceEngine? {
        lock.withLock { engine }
    }

    /// Marks the engine's background warm-up (the `serve` command's R-precision bank) finished: `/readyz`
    /// reports `"warm": true` and the `mirrorgan_model_warm` gauge turns 1. Memory and latency are in their steady
    /// state from then on (the soak test waits for it before taking its RSS baseline).
    public func setWarm() {
        lock.withLock { warm = true }
    }

    public var isWarm: Bool {
        lock.withLock { warm }
    }

    public var isReady: Bool {
        lock.withLock { engine != nil && !draining }
    }

    public var isDraining: Bool {
        lock.withLock { draining }
    }

    /// /readyz and new inference requests answer 503 from now on; queued and running work continues.
    public func beginDrain() {
        lock.withLock { draining = true }
    }

    /// Requests received and not yet answered.
    public var inflightRequests: Int {
        lock.withLock { inflight }
    }

    /// Inference requests queued or running.
    public var pendingInference: Int { scheduler.pending }

    /// The rest of a drain (after `beginDrain`): waits at most `timeout` seconds for queued and running inference
    /// to finish, then at most one second more for the responses produced just now to pass through the router
    /// to their clients. The transport closes after this returns.
    public func waitUntilDrained(timeout: Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = scheduler.waitUntilIdle(timeout: timeout)
        while inflightRequests > 0, Double(DispatchTime.now().uptimeNanoseconds &- start) / 1e9 < timeout + 1 {
            usleep(10_000)
        }
    }

    /// Stops the inference workers once the transport is closed (nothing more can be submitted); work still
    /// queued is not run. Safe to call more than once.
    public func shutdown() { scheduler.shutdown() }

    // MARK: handling

    /// Answers `request`; `respond` is called exactly once, on this thread for cheap routes or on an
    /// inference worker for generations and captions.
    public func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        let ctx = RequestContext(request: request)
        lock.withLock { inflight += 1 }
        let finish: @Sendable (HTTPResponse) -> Void = { [self] response in complete(ctx, response, respond) }

        let route = Router.routes.first(where: { $0.path == request.path })
        if let route { ctx.route = route.path }
        if request.bodyTooLarge {
            metrics.increment("mirrorgan_rejected_total", [("reason", "too_large")])
            return finish(ctx.error(.tooLarge(limit: config.maxBodyBytes)))
        }
        guard let route else { return finish(ctx.error(.notFound(request.path))) }
        let method = request.method == "HEAD" ? "GET" : request.method
        if method == "OPTIONS" { return finish(preflight(route, ctx)) }
        guard route.methods.contains(method) else {
            return finish(ctx.error(.methodNotAllowed(request.method, allow: allowed(route))))
        }
        if !route.open, let keys = apiKeys, !keys.accepts(authorization: request.headers["Authorization"]) {
            metrics.increment("mirrorgan_rejected_total", [("reason", "auth")])
            return finish(ctx.error(.unauthorized))
        }
        switch route.kind {
        case .root: finish(root(ctx))
        case .healthz: finish(healthz(ctx))
        case .readyz: finish(readyz(ctx))
        case .metrics: finish(metricsPage(ctx))
        case .models: finish(models(ctx))
        case .openapi: finish(openAPI(ctx))
        case .generations: generations(ctx, finish)
        case .captions: captions(ctx, finish)
        case .chatCompletions: chatCompletions(ctx, finish)
        }
    }

    /// Synchronous form for tests and tools: blocks until the response is ready. Do not call it from an
    /// inference worker thread.
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        final class Box: @unchecked Sendable { var response: HTTPResponse? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        handle(request) { r in
            box.response = r
            done.signal()
        }
        done.wait()
        return box.response ?? HTTPResponse(status: 500)
    }

    private func allowed(_ route: Route) -> [String] {
        var m = route.methods
        if m.contains("GET") { m.append("HEAD") }
        m.append("OPTIONS")
        return m
    }

    private func preflight(_ route: Route, _ ctx: RequestContext) -> HTTPResponse {
        var r = HTTPResponse(status: 204)
        let methods = allowed(route).joined(separator: ", ")
        r.headers.add("Allow", methods)
        if let cors, cors.allowOrigin(ctx.request.headers["Origin"]) != nil {
            r.headers.add("Access-Control-Allow-Methods", methods)
            r.headers.add("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Request-ID")
            r.headers.add("Access-Control-Max-Age", "600")
        }
        return r
    }

    /// Common response decoration, metrics and the log line; then hands the response to the transport.
    private func complete(_ ctx: RequestContext, _ response: HTTPResponse, _ respond: (HTTPResponse) -> Void) {
        var r = response
        let elapsed = ctx.elapsedSeconds
        r.headers.set("X-Request-ID", ctx.requestID)
        if let cors, let origin = cors.allowOrigin(ctx.request.headers["Origin"]) {
            r.headers.set("Access-Control-Allow-Origin", origin)
            if origin != "*" { r.headers.add("Vary", "Origin") }
            r.headers.set("Access-Control-Expose-Headers", CORSPolicy.exposedHeaders)
        }
        if ctx.queueSeconds != nil || !ctx.stages.isEmpty {
            r.headers.set("Server-Timing", ServerTiming.header(queue: ctx.queueSeconds, stages: ctx.stages, total: elapsed))
        }
        metrics.increment("mirrorgan_http_requests_total", [("route", ctx.route), ("code", String(r.status))])
        metrics.observe("mirrorgan_http_request_duration_seconds", [("route", ctx.route)], elapsed)
        logger?.log(ctx, status: r.status, seconds: elapsed)
        lock.withLock { inflight -= 1 }
        respond(r)
    }
}

/// Which origins get CORS headers: a comma-separated allow-list, or "*".
struct CORSPolicy: Sendable {
    static let exposedHeaders = "X-Request-ID, X-Seed, X-Redescription, X-R-Precision-Rank, X-Notice, Server-Timing, Retry-After"
    let origins: [String]

    init?(setting: String) {
        origins = setting.split(separator: ",").map { $0.trimmingASCIIWhitespace() }.filter { !$0.isEmpty }
        if origins.isEmpty { return nil }
    }

    /// The Access-Control-Allow-Origin value for a request from `origin`, or nil for none.
    func allowOrigin(_ origin: String?) -> String? {
        if origins.contains("*") { return "*" }
        guard let origin, origins.contains(origin) else { return nil }
        return origin
    }
}

enum ServerTiming {
    /// `queue;dur=1.2, generator;dur=30.5, total;dur=33.0` (milliseconds).
    static func header(queue: Double?, stages: [(String, Double)], total: Double) -> String {
        var parts: [String] = []
        if let queue { parts.append("queue;dur=\(ms(queue))") }
        for (name, s) in stages { parts.append("\(token(name));dur=\(ms(s))") }
        parts.append("total;dur=\(ms(total))")
        return parts.joined(separator: ", ")
    }

    private static func ms(_ s: Double) -> String {
        String(format: "%.1f", max(0, s) * 1000)
    }

    private static func token(_ s: String) -> String {
        let t = String(s.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-") })
        return t.isEmpty ? "stage" : t
    }
}
