import Foundation
@testable import SanitizeCloneKit
import Testing

/// The root, opened once as a descriptor: every path resolves inside it, and the one atomic-write
/// primitive leaves the target whole on every failure path. `.serialized`: the syscall failure
/// injection is process-global (and no other suite calls the library's file system code
/// in-process).
@Suite("RootDirectory resolves inside the root and writes atomically", .serialized, .requiresRoot)
struct RootDirectoryTests {
    @Test("an absolute symlink resolves inside the root; reading it never reads the host's file")
    func absoluteLinkStaysInside() throws {
        let fixture = try FixtureRoot()
        defer { fixture.remove() }
        try fixture.write("/etc/passwd", "guest's passwd\n")
        try fixture.symlink("/etc/hostname", to: "/etc/passwd")
        let root = try RootDirectory(path: fixture.path)
        #expect(try root.canonicalPath("/etc/hostname") == "/etc/passwd")
        #expect(try root.readText("/etc/hostname") == "guest's passwd\n")
        #expect(try root.status(of: "/etc/hostname")?.kind == .symlink)
        #expect(try root.followedStatus(of: "/etc/hostname")?.kind == .regular)
    }

    @Test("a ../ escape stays at the top of the root")
    func dotDotStaysInside() throws {
        let fixture = try FixtureRoot()
        defer { fixture.remove() }
        try fixture.write("/etc/shadow", "guest's shadow\n")
        try fixture.symlink("/etc/hostname", to: "../../../../../../../../../etc/shadow")
        let root = try RootDirectory(path: fixture.path)
        #expect(try root.canonicalPath("/etc/hostname") == "/etc/shadow")
        #expect(try root.readText("/etc/hostname") == "guest's shadow\n")
        #expect(try root.readText("/../../../etc/shadow") == "guest's shadow\n")
        #expect(try root.readText("/etc/machine-id") == nil, "absent inside the root, although the host has one")
    }

    @Test("writeFileAtomically writes through a link, gives the file its owner, group and mode, leaves no temporary file")
    func writesThroughLinks() throws {
        let fixture = try FixtureRoot()
        defer { fixture.remove() }
        try fixture.write("/etc/real-hostname", "old\n")
        try fixture.symlink("/etc/hostname", to: "/etc/real-hostname")
        let root = try RootDirectory(path: fixture.path)
        try root.writeFileAtomically("/etc/hostname", contents: Array("new\n".utf8), attributes: FileAttributes(owner: 0, group: 4, mode: 0o640))
        try root.flushDirectorySyncs()
        #expect(fixture.linkTarget("/etc/hostname") == "/etc/real-hostname")
        #expect(fixture.read("/etc/real-hostname") == "new\n")
        #expect(fixture.mode("/etc/real-hostname") == 0o640 && fixture.ownership("/etc/real-hostname") == "0:4")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.hostPath("/etc")).sorted() == ["hostname", "real-hostname"])
    }

    @Test("a failure at any step of an atomic write leaves the target unchanged and no temporary file",
          arguments: [(Syscall.Kind.chown, 1), (.chmod, 1), (.write, 1), (.fsync, 1), (.rename, 1), (.extendedAttribute, 1)])
    func failedWriteLeavesTargetWhole(_ kind: Syscall.Kind, _ call: Int) throws {
        let fixture = try FixtureRoot()
        defer { fixture.remove() }
        try fixture.write("/etc/hostname", "golden\n", mode: 0o644)
        let before = try fixture.signature()
        let root = try RootDirectory(path: fixture.path)

        Syscall.injectFailure(kind, onCall: call, errno: EIO)
        defer { Syscall.clearInjectedFailure(kind) }
        let error = try #require(throws: SystemError.self) {
            try root.writeFileAtomically("/etc/hostname", contents: Array("web-01\n".utf8), attributes: FileAttributes(mode: 0o644))
        }
        #expect(error.code == EIO && error.description.contains("/etc/hostname"), "\(error)")
        try expectUnchanged(fixture, since: before, "a failed atomic write")
    }

    @Test("the state directory is refused when it is a symlink (a guest could aim it at the host)")
    func stateDirectorySymlinkRefused() throws {
        let fixture = try FixtureRoot.debianLike()
        defer { fixture.remove() }
        let elsewhere = fixture.scratch + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try fixture.symlink("/var/lib/sanitize-clone", to: elsewhere)
        let result = try SanitizeClone.run(["run", "--root", fixture.path, "--json"])
        let message = try SanitizeClone.expectError(result, exitCode: 2)
        #expect(message.contains("/var/lib/sanitize-clone"), "\(message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty, "nothing written where the link points")
    }
}
