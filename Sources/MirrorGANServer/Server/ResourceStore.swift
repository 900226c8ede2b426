// Static files of Sources/MirrorGANServer/Resources (openapi.yaml, optional index.html).
//
// SwiftPM's generated `Bundle.module` calls fatalError when the resource bundle is not next to the
// executable (e.g. a binary copied without it), which would take the server down on a GET. We look for
// the bundle ourselves and answer 500/fallbacks when it is missing.
import Foundation

final class ResourceStore: @unchecked Sendable {
    /// Overrides the search: a directory holding the resource files.
    static let environmentVariable = "MIRRORGAN_RESOURCES_DIR"

    let directory: URL?
    private let lock = NSLock()
    private var cache: [String: [UInt8]?] = [:]

    init(directory: URL? = ResourceStore.locate()) {
        self.directory = directory
    }

    /// The file's bytes, or nil when it does not exist. Files are read once.
    func file(_ name: String) -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        if let cached = cache[name] { return cached }
        let bytes = directory.flatMap { dir in
            FileManager.default.contents(atPath: dir.appendingPathComponent(name).path).map { [UInt8]($0) }
        }
        cache[name] = .some(bytes)
        return bytes
    }

    static func locate() -> URL? {
        let fm = FileManager.default
        if let dir = ProcessInfo.processInfo.environment[environmentVariable], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        var searchDirs: [URL] = [Bundle.main.bundleURL]
        if let exe = Bundle.main.executableURL { searchDirs.append(exe.deletingLastPathComponent()) }
        searchDirs.append(URL(fileURLWithPath: CommandLine.arguments.first ?? ".").deletingLastPathComponent())
        for dir in searchDirs {
            // "<package>_MirrorGANServer.resources" (package name varies with how the target is built).
            guard let entries = try? fm.contentsOfDirectory(atPath: dir.path) else { continue }
            for entry in entries.sorted() where entry.hasSuffix("_MirrorGANServer.resources") {
                let candidate = dir.appendingPathComponent(entry)
                for sub in ["", "Resources"] {
                    let d = sub.isEmpty ? candidate : candidate.appendingPathComponent(sub)
                    if fm.fileExists(atPath: d.appendingPathComponent("openapi.yaml").path) { return d }
                }
            }
        }
        return nil
    }
}
