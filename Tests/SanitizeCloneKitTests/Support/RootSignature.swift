import Foundation
import SanitizeCloneKit
import Testing

/// Everything a root holds, path by path: type, mode, owner:group, symlink target and the SHA-256
/// of each regular file's content. sanitize-clone's own state (`/var/lib/sanitize-clone`) is
/// left out: the journal is allowed to remember a run.
struct RootSignature: Equatable, Sendable, CustomStringConvertible {
    struct Entry: Equatable, Sendable, CustomStringConvertible {
        var type: String
        var mode: UInt32
        var owner: UInt32
        var group: UInt32
        var linkTarget: String?
        var sha256: String?

        var description: String {
            let mode = String(self.mode, radix: 8)
            return "\(type) \(String(repeating: "0", count: max(0, 4 - mode.count)) + mode) \(owner):\(group)"
                + (linkTarget.map { " -> \($0)" } ?? "") + (sha256.map { " sha256:\($0.prefix(16))" } ?? "")
        }
    }

    static let excluded: Set<String> = ["/var/lib/sanitize-clone"]

    /// Path inside the root → entry.
    let entries: [String: Entry]

    init(of hostRoot: String) throws {
        var entries: [String: Entry] = [:]
        try Self.walk(hostRoot: hostRoot, inside: "/", into: &entries)
        self.entries = entries
    }

    private static func walk(hostRoot: String, inside: String, into entries: inout [String: Entry]) throws {
        let host = inside == "/" ? hostRoot : hostRoot + inside
        guard let info = lstatOf(host) else { throw FixtureError("vanished while reading: \(host)") }
        var entry = Entry(type: "other", mode: UInt32(info.st_mode & 0o7777), owner: info.st_uid, group: info.st_gid)
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            entry.type = "file"
            guard let data = FileManager.default.contents(atPath: host) else { throw FixtureError("cannot read \(host)") }
            entry.sha256 = SHA256.hex(Array(data))
        case S_IFLNK:
            entry.type = "symlink"
            entry.linkTarget = try FileManager.default.destinationOfSymbolicLink(atPath: host)
        case S_IFDIR:
            entry.type = "directory"
        default:
            break
        }
        entries[inside] = entry
        guard entry.type == "directory" else { return }
        for name in try FileManager.default.contentsOfDirectory(atPath: host).sorted() {
            let child = inside == "/" ? "/" + name : inside + "/" + name
            if excluded.contains(child) { continue }
            try walk(hostRoot: hostRoot, inside: child, into: &entries)
        }
    }

    /// One line per path that differs ("+ added", "- removed", "~ changed: old → new").
    func differences(to other: RootSignature) -> [String] {
        var lines: [String] = []
        for path in Set(entries.keys).union(other.entries.keys).sorted() {
            switch (entries[path], other.entries[path]) {
            case (nil, let new?): lines.append("+ \(path): \(new)")
            case (let old?, nil): lines.append("- \(path): \(old)")
            case (let old?, let new?) where old != new: lines.append("~ \(path): \(old) → \(new)")
            default: break
            }
        }
        return lines
    }

    var description: String { entries.keys.sorted().map { "\($0): \(entries[$0]!)" }.joined(separator: "\n") }
}

/// Expects `root` to hold exactly what `before` recorded (content, mode, owner, link targets).
func expectUnchanged(_ root: FixtureRoot, since before: RootSignature, _ what: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
    let differences = before.differences(to: try root.signature())
    #expect(differences.isEmpty, "\(what) changed the root:\n\(differences.joined(separator: "\n"))", sourceLocation: sourceLocation)
}

/// Rolls back the newest run of `root` and expects exit 0 and the root exactly as `before` recorded.
func expectRollbackRestores(_ root: FixtureRoot, since before: RootSignature, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let rollback = try SanitizeClone.run(["rollback", "--root", root.path, "--last"], sourceLocation: sourceLocation)
    #expect(rollback.exitCode == 0, "\(rollback)", sourceLocation: sourceLocation)
    try expectUnchanged(root, since: before, "run then rollback", sourceLocation: sourceLocation)
}
