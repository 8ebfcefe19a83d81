import CShims
import Foundation
import Testing

/// The per-machine ids beyond machine-id, hostname and SSH keys: the random seed,
/// NetworkManager's secret key, DHCP leases and DUIDs, the iSCSI initiator name, /etc/hostid,
/// cloud-init's instance cache, and what is only reported.
@Suite("Other per-machine ids", .requiresFileOwnership, .serialized)
struct OtherPerMachineIDTests {
    static let seedAttribute = "user.random-seed-creditable"

    /// A Debian template that also carries every other per-machine id.
    static func template() throws -> FixtureRoot {
        let root = try FixtureRoot.debianLike()
        try root.makeDirectory("/var/lib/systemd")
        try root.writeBytes("/var/lib/systemd/random-seed", Array(repeating: 7, count: 512), mode: 0o600)
        Self.setAttribute(seedAttribute, "1", on: root.hostPath("/var/lib/systemd/random-seed"))
        try root.makeDirectory("/var/lib/NetworkManager")
        try root.writeBytes("/var/lib/NetworkManager/secret_key", Array(repeating: 9, count: 32), mode: 0o600)
        try root.write("/var/lib/NetworkManager/internal-4b1c-ens3.lease", "ADDRESS=192.0.2.10\n")
        try root.write("/var/lib/NetworkManager/NetworkManager-intern.conf", "[.config]\nenable=nm-version-min:1.40\n[ipv6]\ndhcp-duid=00:04:ab:cd\n")
        try root.makeDirectory("/var/lib/dhcp")
        try root.write("/var/lib/dhcp/dhclient.ens3.leases", "lease {\n  fixed-address 192.0.2.10;\n}\n")
        try root.write("/var/lib/dhcp/dhclient6.ens3.leases", "default-duid \"\\000\\001\\000\\001\";\n")
        try root.write("/etc/iscsi/initiatorname.iscsi", "## DO NOT EDIT OR REMOVE THIS FILE!\nInitiatorName=iqn.1993-08.org.debian:01:5a6b7c8d9e0f\n", mode: 0o600)
        try root.writeBytes("/etc/hostid", [0x12, 0x34, 0x56, 0x78])
        try root.write("/etc/cloud/cloud.cfg", "datasource_list: [ NoCloud ]\n")
        try root.write("/var/lib/cloud/instances/iid-template/obj.pkl", "pickled\n")
        try root.write("/var/lib/cloud/instances/iid-template/sem/config_ssh", "done\n")
        try root.write("/var/lib/cloud/data/instance-id", "iid-template\n")
        try root.symlink("/var/lib/cloud/instance", to: "/var/lib/cloud/instances/iid-template")
        try root.write("/etc/krb5.keytab", "keytab\n", mode: 0o600)
        return root
    }

    static func setAttribute(_ name: String, _ value: String, on path: String) {
        let result = value.withCString { setxattr(path, name, $0, strlen($0), 0) }
        #expect(result == 0, "setxattr \(name) on \(path): errno \(errno)")
    }

    static func attributeNames(of path: String) -> [String] {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = listxattr(path, &buffer, buffer.count)
        guard length > 0 else { return [] }
        return buffer[0..<length].split(separator: 0).map { String(cString: Array($0) + [0]) }.sorted()
    }

    @Test("a dry run lists every id and changes nothing; run then rollback gives back the exact root, extended attributes included")
    func dryRunRunRollback() throws {
        let root = try Self.template()
        defer { root.remove() }
        let before = try root.signature()
        let seedAttributes = Self.attributeNames(of: root.hostPath("/var/lib/systemd/random-seed"))

        let plan = try InProcess.json(["plan", "--root", root.path, "--json"])
        for task in ["random-seed", "nm-secret-key", "dhcp-state", "iscsi-initiator", "hostid", "cloud-init-state"] {
            #expect(plan.status(of: task) == "planned", "\(task): \(plan)")
        }
        #expect(plan.status(of: "reported-identities") == "skipped")
        let notes = plan.task("reported-identities")?["notes"]?.array?.compactMap(\.string) ?? []
        #expect(notes.contains { $0.contains("/etc/krb5.keytab") && $0.contains("join") }, "\(notes)")
        try expectUnchanged(root, since: before, "plan")

        let run = try InProcess.json(["run", "--root", root.path, "--json"])
        #expect(run["result"]?.string == "committed", "\(run)")
        let rollback = try SanitizeClone.run(["rollback", "--root", root.path, "--last"])
        #expect(rollback.exitCode == 0, "\(rollback)")
        try expectUnchanged(root, since: before, "run + rollback")
        #expect(Self.attributeNames(of: root.hostPath("/var/lib/systemd/random-seed")) == seedAttributes,
                "rollback puts the seed's extended attributes back")
    }

    @Test("each id is renewed the way its owner expects")
    func eachIDIsRenewed() throws {
        let root = try Self.template()
        defer { root.remove() }
        let run = try InProcess.json(["run", "--root", root.path, "--json"])
        #expect(run["result"]?.string == "committed", "\(run)")

        let seed = try #require(root.bytes("/var/lib/systemd/random-seed"))
        #expect(seed.count == 512 && seed != Array(repeating: 7, count: 512), "same size, new bytes")
        #expect(root.mode("/var/lib/systemd/random-seed") == 0o600)
        #expect(!Self.attributeNames(of: root.hostPath("/var/lib/systemd/random-seed")).contains(Self.seedAttribute),
                "a cloned seed is never creditable")

        let key = try #require(root.bytes("/var/lib/NetworkManager/secret_key"))
        #expect(key.count == 32 && key != Array(repeating: 9, count: 32))
        #expect(root.mode("/var/lib/NetworkManager/secret_key") == 0o600)

        for lease in ["/var/lib/dhcp/dhclient.ens3.leases", "/var/lib/dhcp/dhclient6.ens3.leases", "/var/lib/NetworkManager/internal-4b1c-ens3.lease"] {
            #expect(!root.exists(lease), "\(lease) is removed")
        }
        let intern = root.read("/var/lib/NetworkManager/NetworkManager-intern.conf") ?? ""
        #expect(!intern.contains("duid") && intern.contains("enable=nm-version-min:1.40"), "only the DUID goes: \(intern)")

        let initiator = root.read("/etc/iscsi/initiatorname.iscsi") ?? ""
        #expect(initiator.hasPrefix("## DO NOT EDIT OR REMOVE THIS FILE!\n"), "the comment stays")
        let name = initiator.split(separator: "\n").first { $0.hasPrefix("InitiatorName=") }.map { String($0.dropFirst(14)) } ?? ""
        #expect(name.hasPrefix("iqn.1993-08.org.debian:01:") && name.count == "iqn.1993-08.org.debian:01:5a6b7c8d9e0f".count
                && name != "iqn.1993-08.org.debian:01:5a6b7c8d9e0f", "same prefix and length, new suffix: \(name)")
        #expect(root.mode("/etc/iscsi/initiatorname.iscsi") == 0o600)

        let hostid = try #require(root.bytes("/etc/hostid"))
        #expect(hostid.count == 4 && hostid != [0x12, 0x34, 0x56, 0x78] && hostid != [0, 0, 0, 0])

        for path in ["/var/lib/cloud/instance", "/var/lib/cloud/instances", "/var/lib/cloud/data"] {
            #expect(!root.exists(path), "\(path) is cleared")
        }
        #expect(root.read("/etc/cloud/cloud.cfg") == "datasource_list: [ NoCloud ]\n", "cloud-init's configuration is untouched")
        #expect(root.read("/etc/krb5.keytab") == "keytab\n", "a keytab is reported, never changed")

        let output = try String(contentsOfFile: root.hostPath("/var/lib/NetworkManager/secret_key"), encoding: .isoLatin1)
        #expect(!"\(run)".contains(output), "the secret key never appears in the JSON")
    }

    @Test("a crash while clearing cloud-init's cache or the leases is recovered to the exact original",
          arguments: ["cloud-init-state:change-2:crash", "cloud-init-state:change-5:crash", "dhcp-state:change-2:crash", "random-seed:after-apply:crash"])
    func crashIsRecovered(_ failpoint: String) throws {
        let root = try Self.template()
        defer { root.remove() }
        let before = try root.signature()
        let crashed = try SanitizeClone.run(["run", "--root", root.path], failpoint: failpoint)
        #expect(crashed.wasKilled, "\(crashed)")
        let id = try #require(root.runIDs().last)
        let rollback = try SanitizeClone.run(["rollback", "--root", root.path, id])
        #expect(rollback.exitCode == 0, "\(rollback)")
        try expectUnchanged(root, since: before, "crash at \(failpoint) + rollback")
    }

    @Test("an initiator name that is not iqn.…:… is refused with the fix to make, nothing changed")
    func malformedInitiatorName() throws {
        let root = try Self.template()
        defer { root.remove() }
        try root.write("/etc/iscsi/initiatorname.iscsi", "InitiatorName=not-an-iqn\n")
        let before = try root.signature()
        let result = try SanitizeClone.run(["run", "--root", root.path])
        #expect(result.exitCode == 2, "\(result)")
        #expect(result.stderr.contains("/etc/iscsi/initiatorname.iscsi") && result.stderr.contains("--skip iscsi-initiator"), "\(result)")
        try expectUnchanged(root, since: before, "a refused run")
    }
}
