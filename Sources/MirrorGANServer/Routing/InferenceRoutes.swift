// POST /v1/images/generations, POST /v1/captions and POST /v1/chat/completions: validated on the I/O thread,
// run on a worker.
import Dispatch
import Foundation

extension Router {
    func generations(_ ctx: RequestContext, _ finish: @escaping @Sendable (HTTPResponse) -> Void) {
        guard let req = parse(ctx, finish, { try GenerationRequest(ctx.request, limits: servedLimits) }) else { return }
        if let e = modelMismatch(req.model) { return finish(ctx.error(e)) }
        // Random seeds stay below 2^53 so JavaScript clients can send them back exactly.
        let seed = req.seed ?? UInt64.random(in: 0..<(1 << 53))
        let params = GenerationParams(caption: req.caption, seed: seed, n: req.n,
                                      returnAttention: req.returnAttention, beamSize: req.beamSize)
        let png = req.wantsPNG(accept: ctx.request.headers["Accept"])
        submit(ctx, finish) { [self] engine in
            let out = try engine.generate(params)
            guard let first = out.images.first else {
                throw EngineError.internalFailure("the engine returned no image")
            }
            record(out.timings, ctx)
            recordImages(out)
            if png {
                var r = HTTPResponse(status: 200, contentType: "image/png", body: first.png)
                r.headers.add("X-Seed", String(first.seed))
                if let text = first.redescription {
                    r.headers.add("X-Redescription", PercentEncoding.encode(text))
                } else {
                    r.headers.add("X-Notice", PercentEncoding.encode(Self.noRedescriptionNotice(engine.info.id)))
                }
                r.headers.add("X-R-Precision-Rank", String(first.rank))
                return r
            }
            return json(200, generationBody(out, engine.info, ctx, attention: params.returnAttention))
        }
    }

    func captions(_ ctx: RequestContext, _ finish: @escaping @Sendable (HTTPResponse) -> Void) {
        guard let req = parse(ctx, finish, { try CaptionRequest(ctx.request, limits: servedLimits) }) else { return }
        if let e = noCaptioner() { return finish(ctx.error(e)) }
        submit(ctx, finish) { [self] engine in
            let out = try caption(engine, req.image, beamSize: req.beamSize, ctx)
            return json(200, [
                ("caption", .string(out.caption)),
                ("tokens", .array(out.tokens.map { .string($0) })),
                ("log_probs", .array(out.logProbs.map { .float($0) })),
                ("log_prob", .float(out.logProb)),
            ])
        }
    }

    /// POST /v1/chat/completions: the image of the last user message captioned, answered as a chat completion
    /// (or, with `stream`, as server-sent chunks, written once the caption is decoded).
    func chatCompletions(_ ctx: RequestContext, _ finish: @escaping @Sendable (HTTPResponse) -> Void) {
        guard let req = parse(ctx, finish, { try ChatCompletionRequest(ctx.request, limits: servedLimits) }) else { return }
        if let e = modelMismatch(req.model) ?? noCaptioner() { return finish(ctx.error(e)) }
        submit(ctx, finish) { [self] engine in
            let out = try caption(engine, req.image, beamSize: req.beamSize, ctx)
            let completion = ChatCompletion(caption: out, maxTokens: req.maxTokens, id: "chatcmpl-\(ctx.requestID)",
                                            model: engine.info.id, created: Int64(Date().timeIntervalSince1970))
            if req.stream {
                var r = HTTPResponse(status: 200, contentType: "text/event-stream; charset=utf-8",
                                     body: completion.eventStream(includeUsage: req.streamUsage))
                r.headers.add("Cache-Control", "no-cache")
                return r
            }
            return json(200, completion.object)
        }
    }

    /// The captioner's run, its stage timings recorded as a generation's are.
    /// The request body parsed by `body`, or nil once its error (400, 415, …) has been answered.
    private func parse<Request>(_ ctx: RequestContext, _ finish: @Sendable (HTTPResponse) -> Void,
                                _ body: () throws -> Request) -> Request? {
        do {
            return try body()
        } catch {
            finish(ctx.error(APIError.from(engine: error)))
            return nil
        }
    }

    private func caption(_ engine: InferenceEngine, _ image: [UInt8], beamSize: Int, _ ctx: RequestContext) throws -> CaptionOutput {
        let out = try engine.caption(image: image, beamSize: beamSize)
        record(out.timings, ctx)
        return out
    }

    /// 501 no_captioner, before queueing, when the served model has no captioner (the engine would answer the same).
    private func noCaptioner() -> APIError? {
        guard let info = currentEngine?.info, !info.captioner else { return nil }
        return .noCaptioner(model: info.id)
    }

    /// What a generation response of a model without a captioner says (JSON `notice`, PNG `X-Notice`).
    static func noRedescriptionNotice(_ model: String) -> String {
        "no redescription is available: the model '\(model)' has no captioner (STREAM), so 'redescription' is null"
    }

    /// The served engine's request limits (n, beam_size); before a model is installed, `.unknown` (the request
    /// is answered 503 not_ready after its types are checked).
    private var servedLimits: GenerationLimits { currentEngine?.info.limits ?? .unknown }

    /// 404 model_not_found (OpenAI's answer) when a request names a model other than the served one. Without an
    /// engine the request goes on to get 503 not_ready.
    private func modelMismatch(_ requested: String?) -> APIError? {
        guard let requested, let served = currentEngine?.info.id, requested != served else { return nil }
        return .modelNotFound(requested, served: served)
    }

    /// Admission (ready, draining, queue space) and the hop to a worker. `work` runs on the worker; its
    /// errors become API errors (EngineError mapping).
    private func submit(_ ctx: RequestContext, _ finish: @escaping @Sendable (HTTPResponse) -> Void,
                        work: @escaping (InferenceEngine) throws -> HTTPResponse) {
        if isDraining { return finish(ctx.error(.draining)) }
        guard let engine = currentEngine else { return finish(ctx.error(.notReady)) }
        let timeout = config.requestTimeout
        let deadline = ctx.request.receivedAt &+ UInt64(timeout * 1e9)
        let accepted = scheduler.submit(deadline: deadline, run: { waited in
            ctx.queueSeconds = Double(waited) / 1e9
            let response: HTTPResponse
            do {
                response = try work(engine)
            } catch {
                response = ctx.error(APIError.from(engine: error))
            }
            finish(response)
        }, expire: { [metrics] waited in
            ctx.queueSeconds = Double(waited) / 1e9
            metrics.increment("mirrorgan_rejected_total", [("reason", "timeout")])
            finish(ctx.error(.timeout(seconds: timeout)))
        })
        if !accepted {
            metrics.increment("mirrorgan_rejected_total", [("reason", "queue_full")])
            finish(ctx.error(.queueFull(retryAfter: scheduler.retryAfterSeconds)))
        }
    }

    /// The engine's stage timings (both routes: the engine times its stages, the router only records them) into
    /// metrics and Server-Timing.
    private func record(_ timings: [String: Double], _ ctx: RequestContext) {
        for (stage, seconds) in timings.sorted(by: { $0.key < $1.key }) {
            metrics.observe("mirrorgan_inference_seconds", [("stage", stage)], seconds)
            ctx.stages.append((stage, seconds))
        }
    }

    /// Image and R-precision counters.
    private func recordImages(_ out: GenerationOutput) {
        metrics.increment("mirrorgan_images_generated_total", by: Double(out.images.count))
        for image in out.images where image.candidates > 0 {
            metrics.increment("mirrorgan_rprecision_trials_total")
            if image.rank == 1 { metrics.increment("mirrorgan_rprecision_hits_total") }
        }
    }

    private func generationBody(_ out: GenerationOutput, _ info: ModelInfo, _ ctx: RequestContext,
                                attention: Bool) -> [(String, JSONValue)] {
        let data: [JSONValue] = out.images.map { image in
            var item: [(String, JSONValue)] = [
                ("b64_json", .string(Data(image.png).base64EncodedString())),
                ("seed", .uint(image.seed)),
                ("redescription", image.redescription.map { .string($0) } ?? .null),
                ("r_precision", .object([
                    ("rank", .int(image.rank)),
                    ("hit", .bool(image.rank == 1)),
                    ("candidates", .int(image.candidates)),
                    ("cosine", .float(image.cosine)),
                ])),
            ]
            if attention, let maps = image.attention {
                item.append(("attention", .array(maps.map { map in
                    .object([("word", .string(map.word)), ("b64_png", .string(Data(map.png).base64EncodedString()))])
                })))
            }
            return .object(item)
        }
        var timings: [(String, JSONValue)] = out.timings.sorted(by: { $0.key < $1.key }).map { ($0.key, .double($0.value)) }
        if let q = ctx.queueSeconds { timings.append(("queue", .double(q))) }
        var body: [(String, JSONValue)] = [
            ("id", .string(ctx.requestID)),
            ("model", .string(info.id)),
            ("created", .int(Int64(Date().timeIntervalSince1970))),
            ("data", .array(data)),
            ("tokens", .array(out.tokens.map { .string($0) })),
            ("unknown_words", .array(out.unknownWords.map { .string($0) })),
            ("truncated", .bool(out.truncated)),
            ("timings", .object(timings)),
        ]
        if !info.captioner { body.append(("notice", .string(Self.noRedescriptionNotice(info.id)))) }
        return body
    }
}

enum PercentEncoding {
    /// RFC 3986 percent-encoding of UTF-8, leaving only unreserved characters (safe in any header).
    static func encode(_ s: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in s.utf8 {
            let unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
            if unreserved {
                out.append(b)
            } else {
                out.append(contentsOf: [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
