@testable import SanitizeCloneKit
import Testing

/// The journal's pure pieces: checksummed records, the paths a record may name, failpoint syntax.
@Suite("Journal records, journal paths and failpoints")
struct JournalFormatTests {
    static let snapshot = PathSnapshot(path: "/var/lib/dbus/machine-id", state: .symlink(target: "/etc/machine-id"))

    @Test("a record is one line '<sha256 of the JSON> <JSON>' that decodes to itself")
    func roundTrip() throws {
        let record = JournalRecord(.undo, task: "hostname", sequence: 3, undo: .restore(Self.snapshot))
        let line = String(decoding: try record.encodedLine(), as: UTF8.self)
        #expect(line.hasSuffix("\n") && line.dropLast().split(separator: "\n").count == 1)
        let (checksum, json) = (line.prefix(64), line.dropFirst(65).dropLast())
        #expect(String(checksum) == SHA256.hex(Array(json.utf8)))
        #expect(try JournalRecord.decode(line: Substring(line.dropLast()), journal: "/j", number: 1) == record)
    }

    @Test("a flipped bit, a missing checksum or a record that is not JSON is corrupt, with its line number")
    func corruptRecords() throws {
        let record = JournalRecord(.undo, task: "hostname", sequence: 1, undo: .setKernelHostname("golden"))
        var line = String(decoding: try record.encodedLine(), as: UTF8.self).dropLast()
        line = line.replacingOccurrences(of: "golden", with: "goldem")[...]
        for (bad, reason) in [(line, "checksum mismatch"), ("no-checksum-here"[...], "no checksum"),
                              (Substring(SHA256.hex(Array("{x".utf8)) + " {x"), "unreadable")] {
            let error = try #require(throws: CorruptJournalError.self) { try JournalRecord.decode(line: bad, journal: "/j", number: 7) }
            #expect(error.line == 7 && error.reason.contains(reason), "\(error)")
            #expect(error.description.contains("corrupt"), "\(error)")
        }
    }

    @Test("a journal may only name absolute paths without ..", arguments: [
        ("/etc/hostname", true), ("/etc/ssh/ssh_host_ed25519_key", true), ("/", true),
        ("etc/hostname", false), ("/etc/../../etc/shadow", false), ("/..", false), ("/etc/\0x", false),
    ])
    func safeJournalPaths(_ path: String, _ safe: Bool) {
        #expect(RootPath.isSafeJournalPath(path) == safe)
    }

    @Test("paths are normalised as RESOLVE_IN_ROOT would: .. at the top stays at the top")
    func normalized() {
        #expect(RootPath.normalized("/../../etc//./hostname") == "/etc/hostname")
        #expect(RootPath.normalized("etc/ssh/../hosts") == "/etc/hosts")
        #expect(RootPath.parent(of: "/etc/hostname") == "/etc" && RootPath.parent(of: "/etc") == "/")
        #expect(RootPath.lastComponent(of: "/etc/hostname") == "hostname" && RootPath.lastComponent(of: "/") == "")
    }

    @Test("failpoints parse as <task>:<point>:<crash|error>")
    func failpoints() throws {
        let crash = try Failpoint(parsing: "ssh-host-keys:change-3:crash")
        #expect(crash.task == "ssh-host-keys" && crash.point == .change(3) && crash.effect == .crash)
        #expect(try Failpoint(parsing: "hostname:undo-1:error").point == .undo(1))
        #expect(try Failpoint(parsing: "machine-id:before-apply:error").point == .beforeApply)
        #expect(try Failpoint(parsing: "machine-id:after-apply:crash").point == .afterApply)
        for bad in ["hostname", "hostname:change-1", "hostname:change-0:crash", "hostname:undo-x:error", "hostname:middle:crash", "a:before-apply:explode"] {
            #expect(throws: InputError.self, "\(bad)") { try Failpoint(parsing: bad) }
        }
    }
}
