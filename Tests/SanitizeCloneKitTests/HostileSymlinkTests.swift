import Foundation
import Testing

/// Symlinks in a guest image are hostile input: absolute links and `..` escapes resolve inside
/// the root (as openat2's RESOLVE_IN_ROOT does), so nothing outside the root is read or written.
@Suite("Hostile symlinks never reach outside the root", .requiresFileOwnership)
struct HostileSymlinkTests {
    /// A file outside the root (in the fixture's scratch directory, on the host) and its content.
    struct OutsideFile {
        let hostPath: String
        let content: String

        init(in root: FixtureRoot, named name: String, content: String) throws {
            hostPath = root.scratch + "/" + name
            self.content = content
            try content.write(toFile: hostPath, atomically: false, encoding: .utf8)
        }

        func expectUntouched(sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(FileManager.default.contents(atPath: hostPath).map { String(decoding: $0, as: UTF8.self) } == content,
                    "\(hostPath) outside the root is byte-identical", sourceLocation: sourceLocation)
        }
    }

    /// A `..` chain long enough to climb from `/etc` in the root to the host's `/`.
    static func escape(from root: FixtureRoot, to hostPath: String) -> String {
        String(repeating: "../", count: root.path.split(separator: "/").count + 4) + hostPath.dropFirst()
    }

    @Test("/etc/hostname as an absolute link to a host file: the write lands inside the root")
    func absoluteHostnameLink() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let outside = try OutsideFile(in: root, named: "outside-hostname", content: "golden\n")
        try root.symlink("/etc/hostname", to: outside.hostPath)
        // The same path inside the root, where the link really leads.
        try root.write(outside.hostPath, "golden\n")
        let before = try root.signature()

        try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        outside.expectUntouched()
        #expect(root.read(outside.hostPath) == "web-01\n", "the write went through the link, inside the root")
        #expect(root.linkTarget("/etc/hostname") == outside.hostPath, "the link itself stays")

        try InProcess.json(["run", "--root", root.path, "--json", "--only", "hostname", "--hostname", "web-02"])
        outside.expectUntouched()
        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        try expectUnchanged(root, since: before, "two runs and two rollbacks")
        outside.expectUntouched()
    }

    @Test("/etc/hostname linked to the host's /etc/passwd: the host's file is untouched")
    func hostnameLinkedToPasswd() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let hostPasswd = try HostCommand.sha256sum("/etc/passwd")
        try root.symlink("/etc/hostname", to: "/etc/passwd")

        let result = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        #expect(result.exitCode == 0, "\(result)")
        #expect(try HostCommand.sha256sum("/etc/passwd") == hostPasswd)
        #expect(root.read("/etc/passwd") == "web-01\n", "the guest's own /etc/passwd is what the link names")
    }

    @Test("a link into a directory the root lacks is refused or kept inside; the host file is untouched")
    func linkIntoMissingDirectory() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let outside = try OutsideFile(in: root, named: "outside-hostname", content: "host's own file\n")
        try root.symlink("/etc/hostname", to: outside.hostPath)
        let before = try root.signature()

        let result = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        outside.expectUntouched()
        if result.exitCode == 0 {
            #expect(root.read(outside.hostPath) == "web-01\n", "a write through the link lands inside the root")
        } else {
            try SanitizeClone.expectError(result, exitCode: 2)
            try expectUnchanged(root, since: before, "a refused run")
        }
    }

    @Test("/etc/hosts as a ../ escape resolves inside the root")
    func dotDotEscape() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let outside = try OutsideFile(in: root, named: "outside-hosts", content: "127.0.0.1 localhost\n127.0.1.1 golden\n")
        let link = Self.escape(from: root, to: outside.hostPath)
        try root.symlink("/etc/hosts", to: link)
        try root.makeDirectory(root.scratch)
        let before = try root.signature()

        try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        outside.expectUntouched()
        #expect(root.linkTarget("/etc/hosts") == link)
        let written = try #require(root.read(outside.hostPath), "the hosts file was created where the link leads inside the root")
        #expect(written.contains("127.0.1.1\tweb-01"), "\(written)")

        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        try expectUnchanged(root, since: before, "run + rollback")
    }

    @Test("/etc/machine-id as an absolute link: the root's file is read and written, never the host's")
    func absoluteMachineIDLink() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let hostID = String(repeating: "a", count: 32), guestID = String(repeating: "b", count: 32)
        let outside = try OutsideFile(in: root, named: "outside-machine-id", content: hostID + "\n")
        try root.symlink("/etc/machine-id", to: outside.hostPath)
        try root.write(outside.hostPath, guestID + "\n", mode: 0o444)
        let before = try root.signature()

        let report = try InProcess.json(["run", "--root", root.path, "--json", "--only", "machine-id"])
        outside.expectUntouched()
        #expect(report.change("machine-id", path: "/etc/machine-id")?["old"]?.string == guestID, "the old id is read inside the root")
        let newID = try #require(root.read(outside.hostPath))
        #expect(newID != guestID + "\n" && newID.count == 33)
        #expect(root.read("/var/lib/dbus/machine-id") == newID)

        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        try expectUnchanged(root, since: before, "run + rollback")
        outside.expectUntouched()
    }

    @Test("a host key linked to a host file is replaced inside the root; the host's key is untouched")
    func hostKeyLinkedOutside() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let hostKey = root.scratch + "/outside_host_key"
        try HostCommand.succeed("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", hostKey])
        let hostKeySums = try [hostKey, hostKey + ".pub"].map(HostCommand.sha256sum)
        let key = "/etc/ssh/ssh_host_ed25519_key"
        try root.makeDirectory(root.scratch)
        try FileManager.default.copyItem(atPath: root.hostPath(key), toPath: root.hostPath(hostKey))
        try root.delete(key)
        try root.symlink(key, to: hostKey)
        let before = try root.signature()

        try InProcess.json(["run", "--root", root.path, "--json", "--only", "ssh-host-keys"])
        #expect(try [hostKey, hostKey + ".pub"].map(HostCommand.sha256sum) == hostKeySums, "the host's key pair is untouched")
        #expect(root.linkTarget(key) == hostKey, "the link itself stays")
        #expect(try HostKeyFacts.publicKeyDerived(fromPrivate: hostKey, in: root) == HostKeyFacts.publicKey(key, in: root),
                "the new private key, where the link leads inside the root, matches the new .pub")

        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        try expectUnchanged(root, since: before, "run + rollback")
    }

    @Test("HostKey and Include paths with .. stay inside the root")
    func sshdConfigDotDot() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let outsideConfig = try OutsideFile(in: root, named: "outside.conf", content: "HostKey \(root.scratch)/stolen_key\n")
        try root.write("/etc/ssh/sshd_config", "Include ../../../../../../../../..\(outsideConfig.hostPath)\nHostKey /etc/ssh/ssh_host_ed25519_key\n")
        let plan = try InProcess.json(["plan", "--root", root.path, "--json", "--only", "ssh-host-keys"])
        let paths = plan.task("ssh-host-keys")?["changes"]?.array?.compactMap { $0["path"]?.string } ?? []
        #expect(paths == ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub"],
                "the Include names a file the root does not have; the host's file is never read: \(paths)")
        outsideConfig.expectUntouched()
    }
}
