// Cheap GET routes answered on the I/O thread: /, /healthz, /readyz, /metrics, /v1/models, /openapi.yaml.
import Foundation

extension Router {
    func root(_ ctx: RequestContext) -> HTTPResponse {
        if let html = resources.file("index.html") {
            return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: html)
        }
        let endpoints = Router.routes.filter { $0.path != "/" }.map { route in
            JSONValue.string("\(route.methods.joined(separator: ","))\u{20}\(route.path)")
        }
        return json(200, [
            ("name", .string("mirrorgan")),
            ("version", .string(ServerConfig.version)),
            ("description", .string("MirrorGAN text-to-image-to-text inference server")),
            ("openapi", .string("/openapi.yaml")),
            ("endpoints", .array(endpoints)),
        ])
    }

    func healthz(_ ctx: RequestContext) -> HTTPResponse {
        json(200, [("status", .string("ok"))])
    }

    func readyz(_ ctx: RequestContext) -> HTTPResponse {
        if isDraining { return ctx.error(.draining) }
        guard let engine = currentEngine else { return ctx.error(.notReady) }
        return json(200, [("status", .string("ready")), ("model", .string(engine.info.id)), ("warm", .bool(isWarm))])
    }

    func models(_ ctx: RequestContext) -> HTTPResponse {
        guard let engine = currentEngine else { return ctx.error(.notReady) }
        let info = engine.info
        let files = info.files.sorted(by: { $0.key < $1.key }).map { ($0.key, JSONValue.string($0.value)) }
        var model: [(String, JSONValue)] = [
            ("id", .string(info.id)),
            ("object", .string("model")),
            ("created", .int(createdAt)),
            ("owned_by", .string("mirrorgan")),
            ("description", .string(info.description)),
            ("parameters", .int(info.parameters)),
            ("files", .object(files)),
            ("threads", .int(info.threads)),
            ("captioner", .bool(info.captioner)),
        ]
        if !info.captioner { model.append(("notice", .string(APIError.noCaptionerMessage(model: info.id)))) }
        return json(200, [("object", .string("list")), ("data", .array([.object(model)]))])
    }

    func openAPI(_ ctx: RequestContext) -> HTTPResponse {
        guard let spec = resources.file("openapi.yaml") else {
            return ctx.error(.internalError("openapi.yaml is missing from the server's resources"))
        }
        return HTTPResponse(status: 200, contentType: "application/yaml", body: spec)
    }

    func metricsPage(_ ctx: RequestContext) -> HTTPResponse {
        typealias S = Metrics.Sample
        var gauges: [String: [S]] = [
            "mirrorgan_inflight_requests": [S(labels: [], value: Double(inflightRequests))],
            "mirrorgan_queue_depth": [S(labels: [], value: Double(scheduler.depth))],
            "mirrorgan_queue_capacity": [S(labels: [], value: Double(scheduler.capacity))],
            "mirrorgan_model_ready": [S(labels: [], value: isReady ? 1 : 0)],
            "mirrorgan_model_warm": [S(labels: [], value: isWarm ? 1 : 0)],
            "mirrorgan_build_info": [S(labels: config.buildInfo.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value) },
                                       value: 1)],
        ]
        if let connections = connectionCount() {
            gauges["mirrorgan_http_connections"] = [S(labels: [], value: Double(connections))]
        }
        if let info = currentEngine?.info {
            gauges["mirrorgan_model_info"] = [S(labels: [("model", info.id), ("threads", String(info.threads))], value: 1)]
            gauges["mirrorgan_model_parameters"] = [S(labels: [("model", info.id)], value: Double(info.parameters))]
        }
        let text = metrics.render(gauges: gauges)
        return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(text.utf8))
    }

    func json(_ status: Int, _ members: [(String, JSONValue)]) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: JSONWriter.object(members))
    }
}
