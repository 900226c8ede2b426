// A tiny blocking HTTP/1.1 client over POSIX sockets, so tests control every byte on the wire
// (partial bodies, stalls, disconnects) without URLSession.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct RawResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first(where: { $0.0.lowercased() == name.lowercased() })?.1
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    /// error.code of the API error shape.
    var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
}

struct RawHTTPError: Error, CustomStringConvertible {
    var description: String
}

final class RawConnection {
    let fd: Int32

    init(port: Int, receiveTimeout: Double = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError(description: "socket: \(errno)") }
        var tv = timeval(tv_sec: Int(receiveTimeout), tv_usec: Int((receiveTimeout - Double(Int(receiveTimeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw RawHTTPError(description: "connect: errno \(e)")
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RawHTTPError(description: "send: errno \(errno)") }
            off += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads until the peer closes (or the receive timeout). Returns what arrived.
    func readToEnd() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    /// True when the server closed the connection (recv returns 0 or a reset) before `timeout` seconds.
    func closedByPeer() -> Bool {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    /// Reads exactly one response (Content-Length framed) off a keep-alive connection.
    func readResponse() throws -> RawResponse {
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            if let r = RawHTTP.parse(data, requireComplete: true) { return r }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 {
                if let r = RawHTTP.parse(data, requireComplete: false) { return r }
                throw RawHTTPError(description: "connection ended after \(data.count) bytes")
            }
            data.append(contentsOf: buf[0..<n])
        }
    }
}

enum RawHTTP {
    /// One request on a fresh connection with `Connection: close`.
    static func request(port: Int, _ method: String, _ path: String, headers: [(String, String)] = [],
                        body: [UInt8] = [], timeout: Double = 10) throws -> RawResponse {
        let c = try RawConnection(port: port, receiveTimeout: timeout)
        try c.send(serialize(method, path, headers: headers + [("Connection", "close")], body: body))
        return try c.readResponse()
    }

    static func serialize(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8]) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    static func json(port: Int, _ path: String, _ object: String, headers: [(String, String)] = []) throws -> RawResponse {
        try request(port: port, "POST", path, headers: [("Content-Type", "application/json")] + headers, body: Array(object.utf8))
    }

    /// Parses status line, headers and a Content-Length (or to-the-end) body.
    static func parse(_ data: [UInt8], requireComplete: Bool) -> RawResponse? {
        guard let end = findBytes([13, 10, 13, 10], data) else { return nil }
        let head = String(decoding: data[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first else { return nil }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var headers: [(String, String)] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let bodyStart = end + 4
        let available = Array(data[bodyStart...])
        if let cl = headers.first(where: { $0.0.lowercased() == "content-length" }).flatMap({ Int($0.1) }) {
            if available.count < cl { return requireComplete ? nil : RawResponse(status: status, headers: headers, body: available) }
            return RawResponse(status: status, headers: headers, body: Array(available[0..<cl]))
        }
        if requireComplete { return nil }
        return RawResponse(status: status, headers: headers, body: available)
    }

    private static func findBytes(_ needle: [UInt8], _ hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
