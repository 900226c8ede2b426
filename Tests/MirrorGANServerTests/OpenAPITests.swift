// The spec at the top of the repository and the copy the server serves must be the same bytes, and the
// spec must cover every route the router has.
import Foundation
import Testing
@testable import MirrorGANServer

@Suite struct OpenAPITests {
    @Test func servedCopyIsByteIdentical() throws {
        let top = try Data(contentsOf: RepoFiles.topSpec)
        let served = try Data(contentsOf: RepoFiles.servedSpec)
        #expect(!top.isEmpty)
        #expect(top == served, "copy openapi.yaml to Sources/MirrorGANServer/Resources/openapi.yaml")
    }

    @Test func specCoversRoutesErrorCodesAndMetrics() throws {
        let spec = String(decoding: try Data(contentsOf: RepoFiles.topSpec), as: UTF8.self)
        #expect(spec.hasPrefix("openapi: 3.1"))
        for route in Router.routes {
            #expect(spec.contains("\n  \(route.path):\n"), "route \(route.path) is not documented")
        }
        let codes = ["no_captioner", "invalid_json", "invalid_type", "missing_field", "invalid_value", "invalid_image", "invalid_multipart",
                     "not_found", "method_not_allowed", "payload_too_large", "image_too_large", "unsupported_media_type",
                     "unauthorized", "queue_full", "not_ready", "draining", "shutting_down", "timeout", "internal_error"]
        for code in codes { #expect(spec.contains(code), "error code \(code) is not documented") }
        for header in ["X-Request-ID", "X-Seed", "X-Redescription", "X-Notice", "X-R-Precision-Rank", "Retry-After", "Server-Timing", "Allow",
                       "WWW-Authenticate"] {
            #expect(spec.contains(header), "header \(header) is not documented")
        }
    }
}
