import Foundation
import Testing

/// `machine-id`: a fresh /etc/machine-id, and D-Bus's copy made to agree without `dbus-uuidgen`
/// ever touching the host.
@Suite("machine-id task", .requiresFileOwnership)
struct MachineIDTaskTests {
    static func isMachineID(_ text: String) -> Bool {
        text.utf8.count == 33 && text.hasSuffix("\n")
            && text.dropLast().utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    @Test("writes 32 lowercase hex digits and a newline, mode 0444, unlike the template's id", arguments: FixtureRoot.Kind.allCases)
    func writesAFreshID(_ kind: FixtureRoot.Kind) throws {
        let root = try kind.make()
        defer { root.remove() }
        let report = try InProcess.json(["run", "--root", root.path, "--only", "machine-id", "--json"])

        let written = try #require(root.read("/etc/machine-id"))
        #expect(Self.isMachineID(written), "\(written.debugDescription)")
        #expect(written != FixtureRoot.templateMachineID + "\n")
        #expect(root.mode("/etc/machine-id") == 0o444)
        #expect(root.ownership("/etc/machine-id") == "0:0")
        let change = try #require(report.change("machine-id", path: "/etc/machine-id"))
        #expect(change["old"]?.string == FixtureRoot.templateMachineID)
        #expect(change["new"]?.string.map { $0 + "\n" } == written)
    }

    @Test("two runs never give the same id")
    func idsAreRandom() throws {
        let first = try FixtureRoot.debianLike(), second = try FixtureRoot.debianLike()
        defer { first.remove(); second.remove() }
        for root in [first, second] { try InProcess.json(["run", "--root", root.path, "--only", "machine-id", "--json"]) }
        #expect(first.read("/etc/machine-id") != second.read("/etc/machine-id"))
    }

    @Test("fills in a template sealed with 'uninitialized' or left empty", arguments: ["uninitialized\n", ""])
    func fillsInASealedTemplate(_ sealed: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/etc/machine-id", sealed, mode: 0o444)
        try root.write("/var/lib/dbus/machine-id", sealed)

        try InProcess.json(["run", "--root", root.path, "--only", "machine-id", "--json"])
        let written = try #require(root.read("/etc/machine-id"))
        #expect(Self.isMachineID(written), "\(written.debugDescription)")
        #expect(root.read("/var/lib/dbus/machine-id") == written, "D-Bus's regular copy now matches")
    }

    @Test("keeps /var/lib/dbus/machine-id a symlink when it is one (Fedora)")
    func keepsTheDBusSymlink() throws {
        let root = try FixtureRoot.fedoraLike()
        defer { root.remove() }
        let report = try InProcess.json(["run", "--root", root.path, "--only", "machine-id", "--json"])
        #expect(root.isSymlink("/var/lib/dbus/machine-id"))
        #expect(root.linkTarget("/var/lib/dbus/machine-id") == "/etc/machine-id")
        #expect(report.change("machine-id", path: "/var/lib/dbus/machine-id") == nil, "the link needs no change: \(report)")
    }

    @Test("rewrites a regular /var/lib/dbus/machine-id to match, keeping its mode (Debian)")
    func rewritesTheDBusCopy() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try InProcess.json(["run", "--root", root.path, "--only", "machine-id", "--json"])
        #expect(root.isRegularFile("/var/lib/dbus/machine-id"))
        #expect(root.read("/var/lib/dbus/machine-id") == root.read("/etc/machine-id"))
        #expect(root.read("/var/lib/dbus/machine-id") != FixtureRoot.templateMachineID + "\n")
        #expect(root.mode("/var/lib/dbus/machine-id") == 0o644)
    }

    @Test("makes a missing /var/lib/dbus/machine-id a symlink to /etc/machine-id, and rollback removes it")
    func linksAMissingDBusCopy() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.delete("/var/lib/dbus/machine-id")
        let before = try root.signature()

        let report = try InProcess.json(["run", "--root", root.path, "--only", "machine-id", "--json"])
        #expect(root.linkTarget("/var/lib/dbus/machine-id") == "/etc/machine-id")
        #expect(report.change("machine-id", path: "/var/lib/dbus/machine-id")?["action"]?.string == "symlink")

        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        #expect(!root.exists("/var/lib/dbus/machine-id"))
        try expectUnchanged(root, since: before, "run + rollback")
    }

    @Test("dbus-uuidgen never touches the host's machine-id files, nor one a guest link points to")
    func neverTouchesTheHost() throws {
        let hostFiles = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        func fingerprint(_ path: String) throws -> String {
            guard let info = lstatOf(path) else { return "absent" }
            return "\(try HostCommand.sha256sum(path) ?? "-") ino \(info.st_ino) mtime \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
        let hostBefore = try hostFiles.map(fingerprint)

        // 1. D-Bus's copy missing: `dbus-uuidgen --ensure` without a file would act on the host's
        //    /var/lib/dbus, and given a missing file it would write an unrelated id.
        let missing = try FixtureRoot.debianLike()
        defer { missing.remove() }
        try missing.delete("/var/lib/dbus/machine-id")
        try InProcess.json(["run", "--root", missing.path, "--only", "machine-id", "--json"])
        #expect(missing.linkTarget("/var/lib/dbus/machine-id") == "/etc/machine-id")

        // 2. D-Bus's copy an absolute link to a host file holding "uninitialized" (dbus-uuidgen
        //    follows absolute links out of a root and exits 1 on that content).
        let linked = try FixtureRoot.debianLike()
        defer { linked.remove() }
        let hostOnly = linked.scratch + "/host-dbus-machine-id"
        try "uninitialized\n".write(toFile: hostOnly, atomically: false, encoding: .utf8)
        try linked.symlink("/var/lib/dbus/machine-id", to: hostOnly)
        try InProcess.json(["run", "--root", linked.path, "--only", "machine-id", "--json"])
        #expect(try String(contentsOfFile: hostOnly, encoding: .utf8) == "uninitialized\n", "the host file a guest link names is untouched")
        #expect(linked.linkTarget("/var/lib/dbus/machine-id") == "/etc/machine-id", "the stray link is replaced by the standard one")

        #expect(try hostFiles.map(fingerprint) == hostBefore, "the host's own machine-id files are untouched")
    }
}
