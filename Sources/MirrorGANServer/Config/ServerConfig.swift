// Server settings: defaults, environment variables (MIRRORGAN_*), and validation. The CLI maps its flags
// onto the same struct through the memberwise initializer.

public struct ServerConfig: Sendable, Equatable {
    /// Address to bind (IPv4 or IPv6 literal). MIRRORGAN_HOST.
    public var host: String
    /// TCP port; 0 picks a free one. MIRRORGAN_PORT.
    public var port: Int
    /// Compute threads for the engine (the server itself only reports it). MIRRORGAN_THREADS.
    public var threads: Int
    /// Requests allowed to wait for a worker; beyond that new ones get 503. MIRRORGAN_QUEUE_SIZE.
    public var queueSize: Int
    /// Largest request body; larger ones get 413. MIRRORGAN_MAX_BODY_BYTES.
    public var maxBodyBytes: Int
    /// Largest uploaded image to caption, in pixels (width × height as its header declares): larger ones are
    /// refused with 413 `image_too_large` before any pixel buffer is allocated. MIRRORGAN_MAX_IMAGE_PIXELS.
    public var maxImagePixels: Int
    /// Longest time (seconds) a request may wait in the queue before it is answered 504. MIRRORGAN_REQUEST_TIMEOUT.
    public var requestTimeout: Double
    /// Allowed CORS origins, comma-separated, or "*"; nil = no CORS headers. MIRRORGAN_CORS_ORIGIN.
    public var corsOrigin: String?
    /// File with one API key per line; nil = no authentication. MIRRORGAN_API_KEY_FILE.
    public var apiKeyFile: String?
    /// Inference worker threads (concurrent engine calls). MIRRORGAN_WORKERS.
    public var workers: Int
    /// libmicrohttpd I/O threads (epoll). MIRRORGAN_IO_THREADS.
    public var ioThreads: Int
    /// Concurrent connections in total (suspended ones included; raised to at least workers + queue size + 16).
    /// MIRRORGAN_CONNECTION_LIMIT.
    public var connectionLimit: Int
    /// Concurrent connections per client address; 0 = unlimited. MIRRORGAN_PER_IP_LIMIT.
    public var perIPConnectionLimit: Int
    /// Seconds an idle or stalled connection is kept (not applied while a request waits for inference).
    /// MIRRORGAN_CONNECTION_TIMEOUT.
    public var connectionTimeout: Int
    /// Write one JSON log line per request to stderr. MIRRORGAN_LOG_REQUESTS (0/1).
    public var logRequests: Bool
    /// Labels of the `mirrorgan_build_info` gauge (e.g. version, blas).
    public var buildInfo: [String: String]

    public static let version = "0.1.0"

    public init(host: String = "127.0.0.1", port: Int = 8080, threads: Int = 2, queueSize: Int = 8,
                maxBodyBytes: Int = 8 << 20, requestTimeout: Double = 120, corsOrigin: String? = nil,
                apiKeyFile: String? = nil, workers: Int = 1, ioThreads: Int = 1, connectionLimit: Int = 128,
                perIPConnectionLimit: Int = 64, connectionTimeout: Int = 30, logRequests: Bool = true,
                buildInfo: [String: String] = ["version": ServerConfig.version],
                maxImagePixels: Int = ServerConfig.defaultMaxImagePixels) {
        self.host = host
        self.port = port
        self.threads = threads
        self.queueSize = queueSize
        self.maxBodyBytes = maxBodyBytes
        self.requestTimeout = requestTimeout
        self.corsOrigin = corsOrigin
        self.apiKeyFile = apiKeyFile
        self.workers = workers
        self.ioThreads = ioThreads
        self.connectionLimit = connectionLimit
        self.perIPConnectionLimit = perIPConnectionLimit
        self.connectionTimeout = connectionTimeout
        self.logRequests = logRequests
        self.buildInfo = buildInfo
        self.maxImagePixels = maxImagePixels
    }

    /// 16 Mpx (16 × 2²⁰ pixels): a 4:3 photo of about 4730 × 3550.
    public static let defaultMaxImagePixels = 16 * 1024 * 1024

    /// Defaults overridden by MIRRORGAN_* variables. Throws ConfigError naming the variable on a bad value.
    public static func fromEnvironment(_ env: [String: String]) throws -> ServerConfig {
        var c = ServerConfig()
        func text(_ name: String) -> String? {
            guard let v = env[name]?.trimmingASCIIWhitespace(), !v.isEmpty else { return nil }
            return v
        }
        func int(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let v = text(name) else { return nil }
            guard let i = Int(v), range.contains(i) else {
                throw ConfigError("\(name): expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(v)'")
            }
            return i
        }
        if let v = text("MIRRORGAN_HOST") { c.host = v }
        if let v = try int("MIRRORGAN_PORT", 0...65535) { c.port = v }
        if let v = try int("MIRRORGAN_THREADS", 1...1024) { c.threads = v }
        if let v = try int("MIRRORGAN_QUEUE_SIZE", 0...100_000) { c.queueSize = v }
        if let v = try int("MIRRORGAN_MAX_BODY_BYTES", 1...(1 << 30)) { c.maxBodyBytes = v }
        if let v = try int("MIRRORGAN_MAX_IMAGE_PIXELS", 1...(1 << 30)) { c.maxImagePixels = v }
        if let v = text("MIRRORGAN_REQUEST_TIMEOUT") {
            guard let d = Double(v), d.isFinite, d > 0 else {
                throw ConfigError("MIRRORGAN_REQUEST_TIMEOUT: expected seconds > 0, got '\(v)'")
            }
            c.requestTimeout = d
        }
        if let v = text("MIRRORGAN_CORS_ORIGIN") { c.corsOrigin = v }
        if let v = text("MIRRORGAN_API_KEY_FILE") { c.apiKeyFile = v }
        if let v = try int("MIRRORGAN_WORKERS", 1...256) { c.workers = v }
        if let v = try int("MIRRORGAN_IO_THREADS", 1...64) { c.ioThreads = v }
        if let v = try int("MIRRORGAN_CONNECTION_LIMIT", 1...100_000) { c.connectionLimit = v }
        if let v = try int("MIRRORGAN_PER_IP_LIMIT", 0...100_000) { c.perIPConnectionLimit = v }
        if let v = try int("MIRRORGAN_CONNECTION_TIMEOUT", 0...86_400) { c.connectionTimeout = v }
        if let v = try int("MIRRORGAN_LOG_REQUESTS", 0...1) { c.logRequests = v == 1 }
        try c.validate()
        return c
    }

    /// Checks ranges and cross-field rules (the CLI should call this after mapping its flags).
    public func validate() throws {
        guard !host.isEmpty else { throw ConfigError("host must not be empty") }
        guard (0...65535).contains(port) else { throw ConfigError("port must be in 0...65535, got \(port)") }
        guard threads >= 1 else { throw ConfigError("threads must be >= 1, got \(threads)") }
        guard queueSize >= 0 else { throw ConfigError("queue size must be >= 0, got \(queueSize)") }
        guard maxBodyBytes >= 1 else { throw ConfigError("max body bytes must be >= 1, got \(maxBodyBytes)") }
        guard (1...(1 << 30)).contains(maxImagePixels) else {
            throw ConfigError("max image pixels must be in 1...\(1 << 30), got \(maxImagePixels)")
        }
        guard requestTimeout.isFinite, requestTimeout > 0 else {
            throw ConfigError("request timeout must be > 0 seconds, got \(requestTimeout)")
        }
        guard workers >= 1 else { throw ConfigError("workers must be >= 1, got \(workers)") }
        guard ioThreads >= 1 else { throw ConfigError("I/O threads must be >= 1, got \(ioThreads)") }
        guard perIPConnectionLimit >= 0, connectionTimeout >= 0 else {
            throw ConfigError("connection limits and timeouts must be >= 0")
        }
        guard connectionLimit >= 1 else { throw ConfigError("connection limit must be >= 1, got \(connectionLimit)") }
    }

    /// The connection limit actually used: suspended connections (queued or running requests) count against
    /// it, so it is raised to leave room for the 503s and probes that must still get through when the queue
    /// is full.
    public var effectiveConnectionLimit: Int {
        max(connectionLimit, workers + queueSize + 16)
    }
}

public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
