import Foundation

/// Writes a progress line on a terminal (and nothing when stderr is not one).
struct Progress {
    let total: Int
    let label: String
    let start = Date()
    let isTTY = isatty(STDERR_FILENO) != 0

    func update(_ done: Int, extra: String = "") {
        guard isTTY else { return }
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        FileHandle.standardError.write("\r\(label) \(done)/\(total)  \(extra)  eta \(Int(eta)) s   ".data(using: .utf8)!)
        if done == total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}
