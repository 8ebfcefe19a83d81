import Foundation
import Testing
@testable import SanitizeCloneKit

/// Journal records are written with the small JSON writer and read back with JSONDecoder: every
/// kind of record and undo action must come back exactly as written.
@Suite("Journal records round-trip")
struct JournalRecordCodingTests {
    static let attributes = FileAttributes(owner: 0, group: 998, mode: 0o640, extendedAttributes: ["security.selinux": Array("system_u:object_r:sshd_key_t:s0\u{0}".utf8), "user.x": []])

    static let records: [JournalRecord] = [
        JournalRecord(.runStarted, detail: "manual"),
        JournalRecord(.undo, task: "ssh-host-keys", sequence: 1, undo: .restore(PathSnapshot(
            path: "/etc/ssh/ssh_host_ed25519_key",
            state: .regular(backup: BackupLocation(file: "secrets", offset: 411, length: 399), sha256: String(repeating: "a", count: 64),
                            attributes: attributes, secret: true)))),
        JournalRecord(.undo, task: "ssh-host-keys", sequence: 2, undo: .restore(PathSnapshot(
            path: "/etc/ssh/ssh_host_ed25519_key.pub",
            state: .regular(backup: BackupLocation(file: "files", offset: 0, length: 93), sha256: String(repeating: "b", count: 64),
                            attributes: FileAttributes(mode: 0o644), secret: false), tiedToSecret: true))),
        JournalRecord(.undo, task: "machine-id", sequence: 3, undo: .restore(PathSnapshot(path: "/var/lib/dbus/machine-id", state: .symlink(target: "/etc/machine-id")))),
        JournalRecord(.undo, task: "cloud-init-state", sequence: 4, undo: .restore(PathSnapshot(path: "/var/lib/cloud/data", state: .directory(attributes: FileAttributes(mode: 0o755))))),
        JournalRecord(.undo, task: "hostname", sequence: 5, undo: .restore(PathSnapshot(path: "/etc/hosts \"quoted\"\\ and\ttab é", state: .absent))),
        JournalRecord(.undo, task: "fs-uuids", sequence: 6, undo: .inverse(kind: "block-device-identity",
                                                                            values: ["ext4", "0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b", "1f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b"])),
        JournalRecord(.undo, task: "hostname", sequence: 7, undo: .inverse(kind: "kernel-hostname", values: ["golden"])),
        JournalRecord(.taskApplied, task: "hostname", fingerprints: ["/etc/hostname": "sha256:00", "/var/lib/dbus/machine-id": "symlink:/etc/machine-id"]),
        JournalRecord(.taskFailed, task: "hostname", detail: "line one\nline two"),
        JournalRecord(.committed),
    ]

    @Test("every record decodes to exactly what was written, and its tag holds", arguments: records)
    func roundTrip(_ record: JournalRecord) throws {
        let line = try record.encodedLine(trust: JournalFormatTests.trust, runID: "run-1")
        #expect(line.last == 0x0a && line.filter { $0 == 0x0a }.count == 1, "one line, even for a detail with a newline")
        let text = String(decoding: line.dropLast(), as: UTF8.self)
        let decoded = try JournalRecord.decode(line: Substring(text), journal: "test", number: 1, trust: JournalFormatTests.trust, runID: "run-1")
        #expect(decoded == record)
    }
}

extension JournalRecord: CustomTestStringConvertible {
    public var testDescription: String { "\(kind.rawValue) \(undo?.summary(kinds: UndoKinds([])) ?? task ?? "")" }
}
