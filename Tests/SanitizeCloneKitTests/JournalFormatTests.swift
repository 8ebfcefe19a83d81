@testable import SanitizeCloneKit
import Testing

/// The journal's pure pieces: checksummed records, the paths a record may name, failpoint syntax.
@Suite("Journal records, journal paths and failpoints")
struct JournalFormatTests {
    static let snapshot = PathSnapshot(path: "/var/lib/dbus/machine-id", state: .symlink(target: "/etc/machine-id"))

    /// A trust as a run on the root /srv/clone would have it, with a fixed key.
    static let trust = JournalTrust(key: Array(repeating: 7, count: 32), binding: "root:/srv/clone",
                                    undoKinds: UndoKinds(TaskRegistry.all.flatMap(\.undoKinds)))

    static func line(_ record: JournalRecord, runID: String = "run-1") throws -> Substring {
        String(decoding: try record.encodedLine(trust: trust, runID: runID), as: UTF8.self).dropLast()
    }

    @Test("a record is one line '<HMAC of root, run and JSON> <JSON>' that decodes to itself")
    func roundTrip() throws {
        let record = JournalRecord(.undo, task: "hostname", sequence: 3, undo: .restore(Self.snapshot))
        let line = String(decoding: try record.encodedLine(trust: Self.trust, runID: "run-1"), as: UTF8.self)
        #expect(line.hasSuffix("\n") && line.dropLast().split(separator: "\n").count == 1)
        let (tag, json) = (line.prefix(64), line.dropFirst(65).dropLast())
        #expect(String(tag) != SHA256.hex(Array(json.utf8)), "a keyless checksum is not the tag")
        #expect(try JournalRecord.decode(line: Substring(line.dropLast()), journal: "/j", number: 1, trust: Self.trust, runID: "run-1") == record)
    }

    @Test("a flipped bit, a missing tag, a plain SHA-256 or a record that is not JSON is never followed, with its line number")
    func corruptRecords() throws {
        let record = JournalRecord(.undo, task: "hostname", sequence: 1, undo: .inverse(kind: "kernel-hostname", values: ["golden"]))
        let flipped = try Self.line(record).replacingOccurrences(of: "golden", with: "goldem")[...]
        let json = Array(record.json.serialized().utf8)
        let checksummed = Substring(SHA256.hex(json) + " " + String(decoding: json, as: UTF8.self))
        let unreadable = Substring(try Self.trust.tag(runID: "run-1", json: Array("{x".utf8)) + " {x")
        for (bad, reason) in [(flipped, "not written by this machine"), ("no-tag-here"[...], "not written by this machine"),
                              (checksummed, "not written by this machine"), (unreadable, "unreadable")] {
            let error = try #require(throws: CorruptJournalError.self) {
                try JournalRecord.decode(line: bad, journal: "/j", number: 7, trust: Self.trust, runID: "run-1")
            }
            #expect(error.line == 7 && error.reason.contains(reason), "\(error)")
            #expect(error.description.contains("refusing to follow it"), "\(error)")
        }
    }

    @Test("a record tagged for another root, another run or with another key is not this root's")
    func boundToRootRunAndKey() throws {
        let line = try Self.line(JournalRecord(.runStarted, detail: "manual"))
        let otherRoot = JournalTrust(key: Self.trust.key, binding: "root:/srv/other", undoKinds: Self.trust.undoKinds)
        let otherKey = JournalTrust(key: Array(repeating: 8, count: 32), binding: Self.trust.binding, undoKinds: Self.trust.undoKinds)
        let noKey = JournalTrust(key: nil, binding: Self.trust.binding, undoKinds: Self.trust.undoKinds)
        for (trust, runID) in [(otherRoot, "run-1"), (otherKey, "run-1"), (noKey, "run-1"), (Self.trust, "run-2")] {
            let error = try #require(throws: CorruptJournalError.self) {
                try JournalRecord.decode(line: line, journal: "/j", number: 1, trust: trust, runID: runID)
            }
            #expect(error.isUnauthenticated, "\(error)")
        }
    }

    @Test("an authentic record whose undo is outside the closed set is refused: a program, an unknown kind, a path or backup outside the root", arguments: [
        UndoAction.inverse(kind: "runCommand", values: ["/bin/sh", "-c", "id > /tmp/x"]),
        .inverse(kind: "kernel-hostname", values: ["a b", "c"]),
        .inverse(kind: "block-device-identity", values: ["ext4", "/dev/sda1", "0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b"]),
        .inverse(kind: "block-device-identity", values: ["ntfs", "0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b", "0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1c"]),
        .restore(PathSnapshot(path: "/etc/../../etc/shadow", state: .absent)),
        .restore(PathSnapshot(path: "/etc/hostname", state: .regular(backup: BackupLocation(file: "../../../../etc/shadow", offset: 0, length: 10),
                                                                       sha256: "", attributes: FileAttributes(mode: 0o644), secret: false))),
    ])
    func closedUndoSet(_ action: UndoAction) throws {
        let line = try Self.line(JournalRecord(.undo, task: "x", sequence: 1, undo: action))
        let error = try #require(throws: CorruptJournalError.self) {
            try JournalRecord.decode(line: line, journal: "/j", number: 2, trust: Self.trust, runID: "run-1")
        }
        #expect(!error.isUnauthenticated && error.line == 2, "\(error)")
    }

    @Test("the registered kinds accept what their tasks journal")
    func registeredKindsAcceptTheirOwn() throws {
        for action in [UndoAction.inverse(kind: "kernel-hostname", values: ["golden.example.com"]),
                       .inverse(kind: "block-device-identity", values: ["vfat", "ABCD-1234", "03AD-D2DA"]),
                       .inverse(kind: "block-device-identity", values: ["LVM2_member", "0fE2bq-3d1A-4c5e-9b7a-2e4d-6f8a-0c1bXy aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg",
                                                                        "1fE2bq-3d1A-4c5e-9b7a-2e4d-6f8a-0c1bXy"]),
                       .inverse(kind: "block-device-identity", values: ["LVM2_member VG name", "0fE2bq-3d1A-4c5e-9b7a-2e4d-6f8a-0c1bXy vg01",
                                                                        "1fE2bq-3d1A-4c5e-9b7a-2e4d-6f8a-0c1bXy vg0"])] {
            let line = try Self.line(JournalRecord(.undo, task: "x", sequence: 1, undo: action))
            #expect(try JournalRecord.decode(line: line, journal: "/j", number: 1, trust: Self.trust, runID: "run-1").undo == action)
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
