// Process facts for /metrics, read from procfs (Linux).
import Foundation

enum ProcessStats {
    /// Resident set size: the second field of /proc/self/statm (pages) times the page size.
    static func residentMemoryBytes() -> Int? {
        guard let data = FileManager.default.contents(atPath: "/proc/self/statm") else { return nil }
        let fields = String(decoding: data, as: UTF8.self).split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
