// Edge parsers: JSON, multipart, Accept, percent-encoding, configuration from the environment.
import Foundation
import Testing
@testable import MirrorGANServer

@Suite struct ParsingTests {
    @Test func jsonParser() throws {
        let v = try JSONParser.parse(Array(#" {"a":[1,-2.5e3,true,false,null],"b":"x\"\\\/\n\u0041\ud83d\ude00","a":0} "#.utf8))
        #expect(v["b"] == .string("x\"\\/\nA😀"))
        #expect(v["a"] == .number("0")) // the last of repeated members wins
        for bad in ["", "{", "{\"a\"}", "[1,]", "01", "1.", "-", "tru", "\"\\u12\"", "\"\t\"", "{\"a\":1}}", "[\"\\udc00\"]"] {
            #expect(throws: JSONSyntaxError.self, "\(bad)") { try JSONParser.parse(Array(bad.utf8)) }
        }
        let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: JSONParser.maxDepth + 1)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(deep.utf8)) }
        let ok = String(repeating: "[", count: JSONParser.maxDepth - 1) + String(repeating: "]", count: JSONParser.maxDepth - 1)
        #expect(throws: Never.self) { try JSONParser.parse(Array(ok.utf8)) }
    }

    @Test func jsonWriterEscapes() {
        let out = String(decoding: JSONWriter.encode(.object([("k", .string("a\"b\\c\n\u{1}/é")), ("n", .double(.infinity)),
                                                               ("u", .uint(.max)), ("f", .float(0.1))])), as: UTF8.self)
        #expect(out == #"{"k":"a\"b\\c\n\u0001/é","n":null,"u":18446744073709551615,"f":0.1}"#)
    }

    @Test func multipartFraming() throws {
        let body = multipart(boundary: "B", fields: [("image", "x.png", "image/png", [0, 13, 10, 45, 45, 65, 1])])
        let parts = try Multipart.parse(body: body, boundary: "B")
        #expect(parts.count == 1)
        #expect(parts[0].name == "image")
        #expect(parts[0].filename == "x.png")
        #expect(Array(parts[0].body) == [0, 13, 10, 45, 45, 65, 1])
        #expect(Multipart.boundary(contentType: "multipart/form-data; charset=utf-8; boundary=abc") == "abc")
        #expect(Multipart.boundary(contentType: "multipart/form-data; boundary=\"a b\"") == "a b")
        #expect(Multipart.boundary(contentType: "multipart/form-data") == nil)
        #expect(throws: APIError.self) { try Multipart.parse(body: Array("no delimiter".utf8), boundary: "B") }
        #expect(throws: APIError.self) { try Multipart.parse(body: Array("--B\r\nX: y\r\n\r\nunterminated".utf8), boundary: "B") }
    }

    /// `Multipart.find` (memmem) against a naive search: offsets, overlaps, edges, and the dash runs that
    /// made the old scan quadratic-ish.
    @Test func multipartFindMatchesNaiveSearch() {
        func naive(_ n: [UInt8], _ h: [UInt8], _ from: Int) -> Int? {
            guard !n.isEmpty, from >= 0, n.count <= h.count else { return nil }
            var i = from
            while i + n.count <= h.count {
                if Array(h[i..<(i + n.count)]) == n { return i }
                i += 1
            }
            return nil
        }
        let dashes = Array(repeating: UInt8(ascii: "-"), count: 300)
        let cases: [(String, [UInt8], Int)] = [
            ("--B", Array("xx--B--B".utf8), 0), ("--B", Array("xx--B--B".utf8), 3), ("--B", Array("xx--B--B".utf8), 6),
            ("aa", Array("aaaa".utf8), 1), ("abc", Array("ab".utf8), 0), ("a", Array("".utf8), 0), ("", Array("abc".utf8), 0),
            ("--B", Array("--B".utf8), 1), ("--B", Array("--B".utf8), 4),
            ("\r\n--BOUNDARY", dashes + Array("\r\n--BOUNDARY".utf8), 0), ("\r\n--BOUNDARY", dashes, 0),
        ]
        for (needle, haystack, from) in cases {
            let n = Array(needle.utf8)
            #expect(Multipart.find(n, in: haystack, from: from) == naive(n, haystack, from), "\(needle) from \(from)")
        }
    }

    @Test func acceptNegotiationAndPercentEncoding() {
        #expect(AcceptHeader.prefersPNG("image/png"))
        #expect(AcceptHeader.prefersPNG("application/json;q=0.1, image/png"))
        #expect(!AcceptHeader.prefersPNG("image/png;q=0.5, application/json"))
        #expect(!AcceptHeader.prefersPNG("*/*"))
        #expect(!AcceptHeader.prefersPNG(nil))
        #expect(!AcceptHeader.prefersPNG("image/png;q=0"))
        #expect(PercentEncoding.encode("a b\r\né~") == "a%20b%0D%0A%C3%A9~")
    }

    @Test func configDefaultsAndEnvironment() throws {
        let d = try ServerConfig.fromEnvironment([:])
        #expect(d == ServerConfig())
        #expect(d.host == "127.0.0.1" && d.port == 8080 && d.threads == 2 && d.queueSize == 8)
        #expect(d.maxBodyBytes == 8 << 20 && d.requestTimeout == 120 && d.corsOrigin == nil && d.apiKeyFile == nil)
        #expect(d.workers == 1)
        let c = try ServerConfig.fromEnvironment([
            "MIRRORGAN_HOST": "0.0.0.0", "MIRRORGAN_PORT": "9000", "MIRRORGAN_THREADS": "4",
            "MIRRORGAN_QUEUE_SIZE": "16", "MIRRORGAN_MAX_BODY_BYTES": "1024", "MIRRORGAN_REQUEST_TIMEOUT": "2.5",
            "MIRRORGAN_CORS_ORIGIN": "*", "MIRRORGAN_API_KEY_FILE": "/run/keys", "MIRRORGAN_WORKERS": "2",
            "MIRRORGAN_IO_THREADS": "2", "MIRRORGAN_LOG_REQUESTS": "0", "MIRRORGAN_PORT_UNRELATED": "x",
        ])
        #expect(c.host == "0.0.0.0" && c.port == 9000 && c.threads == 4 && c.queueSize == 16)
        #expect(c.maxBodyBytes == 1024 && c.requestTimeout == 2.5 && c.corsOrigin == "*")
        #expect(c.apiKeyFile == "/run/keys" && c.workers == 2 && c.ioThreads == 2 && !c.logRequests)
        // A large queue raises the connection limit instead of being refused.
        let big = try ServerConfig.fromEnvironment(["MIRRORGAN_QUEUE_SIZE": "500"])
        #expect(big.effectiveConnectionLimit == 1 + 500 + 16)
        #expect(ServerConfig().effectiveConnectionLimit == 128)
        for (k, v) in [("MIRRORGAN_PORT", "http"), ("MIRRORGAN_PORT", "70000"), ("MIRRORGAN_WORKERS", "0"),
                       ("MIRRORGAN_REQUEST_TIMEOUT", "-1"), ("MIRRORGAN_REQUEST_TIMEOUT", "inf"),
                       ("MIRRORGAN_QUEUE_SIZE", "-1"), ("MIRRORGAN_CONNECTION_LIMIT", "0")] {
            do {
                _ = try ServerConfig.fromEnvironment([k: v])
                Issue.record("\(k)=\(v) was accepted")
            } catch let e as ConfigError {
                #expect(e.description.contains(k), "\(e)")
            }
        }
    }
}
