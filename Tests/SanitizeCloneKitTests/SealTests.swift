import Foundation
import Testing

/// `seal`: a template prepared before capture, and the first boot of its clones (`run --auto`
/// on the sealed root), failing forward when that run fails.
@Suite("seal and the sealed template's first boot", .requiresFileOwnership)
struct SealTests {
    /// A template as an administrator seals it: leases and a random seed from its own boots, an
    /// earlier manual run (whose backups hold private keys), the service installed, and
    /// `KeyTypes=ed25519 ecdsa` (fast keys).
    static func template(_ kind: FixtureRoot.Kind = .debian, installUnit: Bool = true, configuration: String = "") throws -> FixtureRoot {
        let root = try kind.make()
        do {
            try root.addPerMachineState()
            if installUnit { try root.installServiceUnit() }
            try root.configure("[SSH]\nKeyTypes=ed25519 ecdsa\n" + configuration)
            try InProcess.json(["run", "--root", root.path, "--json", "--only", "machine-id,ssh-host-keys"])
        } catch {
            root.remove()
            throw error
        }
        return root
    }

    @discardableResult
    static func seal(_ root: FixtureRoot, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        try SanitizeClone.json(["seal", "--root", root.path, "--json"], sourceLocation: sourceLocation)
    }

    static func steps(_ output: JSONValue) -> Set<String> {
        Set(output["steps"]?.array?.compactMap { step in step["action"]?.string.flatMap { action in step["path"]?.string.map { "\(action) \($0)" } } } ?? [])
    }

    @Test("seal --dry-run lists every step and changes nothing")
    func dryRun() throws {
        let root = try Self.template()
        defer { root.remove() }
        let before = try root.signature()
        let runs = root.runIDs()
        #expect(runs.count == 1)

        let planned = try SanitizeClone.json(["seal", "--root", root.path, "--dry-run", "--json"])
        #expect(planned["result"]?.string == "planned")
        let expected = Set([
            "record /var/lib/sanitize-clone/identity.json",
            "write /etc/machine-id",
            "delete /var/lib/dbus/machine-id",
            "delete /etc/ssh/ssh_host_ed25519_key", "delete /etc/ssh/ssh_host_ed25519_key.pub",
            "delete /etc/ssh/ssh_host_ecdsa_key", "delete /etc/ssh/ssh_host_ecdsa_key.pub",
            "delete /var/lib/sanitize-clone/runs/\(runs[0])",
            "symlink \(BootFixture.wantsLink)",
        ]).union(BootFixture.perMachineFiles.map { "delete \($0)" })
        #expect(Self.steps(planned) == expected, "\(planned)")

        try expectUnchanged(root, since: before, "seal --dry-run")
        #expect(root.identityRecord == nil, "nothing recorded")
        #expect(root.runIDs() == runs, "the earlier run is still there")

        let text = try SanitizeClone.run(["seal", "--root", root.path, "--dry-run"])
        #expect(text.exitCode == 0 && text.stdout.contains("would") && text.stdout.contains("/etc/machine-id"), "\(text)")
        try expectUnchanged(root, since: before, "seal --dry-run (text)")
    }

    @Test("seal: machine-id 'uninitialized', D-Bus's copy, private keys, leases, seed and earlier runs removed, identity recorded, service enabled")
    func sealsTheTemplate() throws {
        let root = try Self.template()
        defer { root.remove() }
        let machineID = try #require(root.read("/etc/machine-id")).trimmingCharacters(in: .whitespacesAndNewlines)
        let fingerprints = try BootFixture.fingerprints(in: root)
        let before = try root.signature()

        let sealed = try Self.seal(root)
        #expect(sealed["result"]?.string == "sealed", "\(sealed)")

        #expect(root.read("/etc/machine-id") == "uninitialized\n")
        #expect(root.mode("/etc/machine-id") == 0o444)
        #expect(!root.exists("/var/lib/dbus/machine-id"), "systemd 252 would copy the old id back from it")
        #expect(BootFixture.privateHostKeys(in: root).isEmpty, "no private host key is left")
        #expect(!root.exists("/etc/ssh/ssh_host_ed25519_key.pub") && !root.exists("/etc/ssh/ssh_host_ecdsa_key.pub"))
        for path in BootFixture.perMachineFiles { #expect(!root.exists(path), "\(path) is removed") }
        #expect(root.runIDs().isEmpty, "earlier runs (and their backups of private keys) are removed")
        #expect(root.linkTarget(BootFixture.wantsLink) == BootFixture.installedUnit, "the service is enabled")

        let record = try #require(root.identityRecord)
        #expect(record["sealed"]?.bool == true)
        #expect(record["template"]?["machineID"]?.string == machineID)
        #expect(record["template"]?["hostname"]?.string == "golden")
        #expect(record["template"]?["sshFingerprints"]?.array?.compactMap(\.string).sorted() == fingerprints)

        // Nothing else in the template is touched.
        let expected: Set<String> = Set(["/etc/machine-id", "/var/lib/dbus/machine-id", "/etc/ssh/ssh_host_ed25519_key",
                                         "/etc/ssh/ssh_host_ed25519_key.pub", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ecdsa_key.pub",
                                         "/etc/systemd", "/etc/systemd/system", "/etc/systemd/system/sysinit.target.wants", BootFixture.wantsLink])
            .union(BootFixture.perMachineFiles)
        for line in before.differences(to: try root.signature()) {
            let path = String(line.dropFirst(2).prefix { $0 != ":" })
            #expect(expected.contains(path), "seal changed \(line)")
        }
    }

    @Test("sealing twice keeps the template's identity the first seal recorded")
    func sealingTwice() throws {
        let root = try Self.template()
        defer { root.remove() }
        try Self.seal(root)
        let first = try #require(root.identityRecord)
        try Self.seal(root)
        let second = try #require(root.identityRecord)
        #expect(second["sealed"]?.bool == true)
        #expect(second["template"]?["machineID"] == first["template"]?["machineID"], "\(second)")
        #expect(second["template"]?["sshFingerprints"] == first["template"]?["sshFingerprints"], "\(second)")
        #expect(second["template"]?["hostname"] == first["template"]?["hostname"])
        #expect(first["template"]?["machineID"]?.string != nil && first["template"]?["sshFingerprints"]?.array?.count == 2, "\(first)")
    }

    @Test("seal keeps a /var/lib/dbus/machine-id that is a symlink (Fedora)")
    func keepsTheDBusSymlink() throws {
        let root = try Self.template(.fedora)
        defer { root.remove() }
        let sealed = try Self.seal(root)
        #expect(!Self.steps(sealed).contains("delete /var/lib/dbus/machine-id"), "\(sealed)")
        #expect(root.linkTarget("/var/lib/dbus/machine-id") == "/etc/machine-id")
        #expect(root.read("/etc/machine-id") == "uninitialized\n")
        #expect(BootFixture.privateHostKeys(in: root).isEmpty)
    }

    @Test("seal without the unit installed warns and enables nothing")
    func warnsWithoutTheUnit() throws {
        let root = try Self.template(installUnit: false)
        defer { root.remove() }
        let sealed = try Self.seal(root)
        let warning = sealed["steps"]?.array?.first { $0["action"]?.string == "warn" }
        #expect(warning?["detail"]?.string?.contains("make install") == true, "\(sealed)")
        #expect(!root.exists("/etc/systemd/system/sysinit.target.wants"))
    }

    @Test("the first boot of a sealed clone: new machine-id, derived hostname, keys per KeyTypes, record unsealed, verify passes",
          arguments: FixtureRoot.Kind.allCases)
    func firstBootOfASealedClone(_ kind: FixtureRoot.Kind) throws {
        let root = try Self.template(kind)
        defer { root.remove() }
        let templateID = try #require(root.read("/etc/machine-id"))
        let templateKeys = Set(try BootFixture.fingerprints(in: root))
        try Self.seal(root)

        let outcome = try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"])
        #expect(outcome["verdict"]?.string == "sealed", "\(outcome)")
        #expect(outcome["run"]?["result"]?.string == "committed", "\(outcome)")
        let machineID = try #require(root.read("/etc/machine-id"))
        #expect(BootFixture.isMachineIDFile(machineID) && machineID != templateID)
        // Read through the link inside the root, never the host's /etc/machine-id.
        #expect(root.linkTarget("/var/lib/dbus/machine-id") == "/etc/machine-id", "D-Bus reads the same id through a link")
        let hostname = kind == .debian ? "clone-\(machineID.prefix(8))" : "clone-\(machineID.prefix(8)).example.com"
        #expect(root.read("/etc/hostname") == hostname + "\n")
        #expect(BootFixture.privateHostKeys(in: root) == ["/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key"], "KeyTypes=ed25519 ecdsa")
        for key in BootFixture.privateHostKeys(in: root) { try BootFixture.expectMatchingKeyPair(key, in: root) }
        #expect(Set(try BootFixture.fingerprints(in: root)).isDisjoint(with: templateKeys))
        #expect(root.identityRecord?["sealed"]?.bool == false)
        #expect(root.identityRecord?["template"]?["machineID"]?.string.map { $0 + "\n" } == templateID, "the template's identity is kept")

        let verified = try SanitizeClone.json(["verify", "--root", root.path, "--json"])
        #expect(verified["result"]?.string == "verified", "\(verified)")

        let sanitized = try root.signature()
        let again = try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"])
        #expect(again["verdict"]?.string == "same-machine" && again["run"] == nil, "\(again)")
        try expectUnchanged(root, since: sanitized, "the next boot of the sanitized clone")
    }

    @Test("a manual run on a sealed root (an offline clone) marks the record done: the first boot records the machine and keeps the hostname; rollback seals it again")
    func manualRunOnASealedRoot() throws {
        let root = try Self.template()
        defer { root.remove() }
        let templateID = try #require(root.read("/etc/machine-id"))
        try Self.seal(root)
        let sealed = try root.signature()

        let run = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-07"])
        #expect(run["result"]?.string == "committed" && run.status(of: "identity-record") == "applied", "\(run)")
        #expect(root.identityRecord?["sealed"]?.bool == false)
        #expect(root.identityRecord?["machine"]?["productUUID"] == .null || root.identityRecord?["machine"]?["productUUID"] == nil)
        #expect(root.identityRecord?["template"]?["machineID"]?.string.map { $0 + "\n" } == templateID, "the template's part stays")
        let machineID = try #require(root.read("/etc/machine-id"))

        // The clone's first boot: nothing is run again; the machine's fingerprint is recorded.
        let boot = try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"] + AutoRunTests.cloneFacts)
        #expect(boot["verdict"]?.string == "same-machine" && boot["run"] == nil, "\(boot)")
        #expect(boot["summary"]?.string?.contains("fingerprint is now recorded") == true, "\(boot)")
        #expect(root.read("/etc/hostname") == "web-07\n" && root.read("/etc/machine-id") == machineID)
        #expect(root.identityRecord?["machine"]?["productUUID"]?.string == BootFixture.cloneUUID)
        let verified = try SanitizeClone.json(["verify", "--root", root.path, "--json"] + AutoRunTests.cloneFacts)
        #expect(verified["result"]?.string == "verified", "\(verified)")
        let recorded = try root.signature()
        let again = try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"] + AutoRunTests.cloneFacts)
        #expect(again["verdict"]?.string == "same-machine" && again["run"] == nil, "\(again)")
        try expectUnchanged(root, since: recorded, "the next boot")
        // A clone of it, started later without sealing, is still recognised.
        let cloned = try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json", "--dry-run"]
                                            + BootFixture.platform(uuid: "6a1e0b0c-9d2f-4c55-8f3e-0b7c1d2e3f40", macs: ["52:54:00:aa:bb:cc"]))
        #expect(cloned["verdict"]?.string == "clone", "\(cloned)")

        // Rolling the manual run back seals the root again, byte for byte.
        let rollback = try SanitizeClone.run(["rollback", "--root", root.path, run["run_id"]?.string ?? "", "--force"])
        #expect(rollback.exitCode == 0, "\(rollback)")
        #expect(root.identityRecord?["sealed"]?.bool == true)
        try expectUnchanged(root, since: sealed, "the manual run rolled back")
    }

    @Test("a manual run told the machine (--product-uuid, --nic) records it at once")
    func manualRunWithMachineFacts() throws {
        let root = try Self.template()
        defer { root.remove() }
        try Self.seal(root)
        let run = try InProcess.json(["run", "--root", root.path, "--json"] + AutoRunTests.cloneFacts)
        #expect(run.status(of: "identity-record") == "applied", "\(run)")
        #expect(root.identityRecord?["machine"]?["productUUID"]?.string == BootFixture.cloneUUID)
        #expect(root.identityRecord?["machine"]?["macs"]?.array?.compactMap(\.string) == [BootFixture.cloneMAC])
        let boot = try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"] + AutoRunTests.cloneFacts)
        #expect(boot["verdict"]?.string == "same-machine" && boot["run"] == nil, "\(boot)")
    }

    @Test("a sealed clone takes its hostname from the configuration")
    func configuredHostname() throws {
        let root = try Self.template(configuration: "[Hostname]\nHostname=web-07\n")
        defer { root.remove() }
        try Self.seal(root)
        try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"])
        #expect(root.read("/etc/hostname") == "web-07\n")
        #expect(root.read("/etc/hosts")?.contains("web-07") == true)
    }

    @Test("fail forward: a sealed clone whose run fails still gets a valid machine-id and host keys (exit 1); the next boot completes")
    func failForward() throws {
        let root = try Self.template()
        defer { root.remove() }
        try Self.seal(root)

        let failed = try SanitizeClone.run(["run", "--auto", "--root", root.path, "--json"], failpoint: "hostname:after-apply:error")
        #expect(failed.exitCode == 1, "\(failed)")
        let outcome = try SanitizeClone.requireSingleJSONObject(failed)
        #expect(outcome["verdict"]?.string == "sealed")
        #expect(outcome["run"]?["result"]?.string == "rolled-back", "\(outcome)")
        let created = Set(outcome["created"]?.array?.compactMap(\.string) ?? [])
        #expect(created == ["/etc/machine-id", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ecdsa_key"], "\(outcome)")
        #expect(outcome["summary"]?.string?.contains("created what the sealed template lacked") == true, "\(outcome)")

        #expect(BootFixture.isMachineIDFile(root.read("/etc/machine-id")), "\(root.read("/etc/machine-id") ?? "nil")")
        #expect(root.read("/etc/hostname") == "golden\n", "the failed run was rolled back")
        for key in ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ecdsa_key"] {
            try BootFixture.expectMatchingKeyPair(key, in: root)
            #expect(root.mode(key) == 0o600)
        }
        #expect(root.identityRecord?["sealed"]?.bool == true, "first boot is not complete: the next one retries")

        let retried = try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"])
        #expect(retried["verdict"]?.string == "sealed" && retried["run"]?["result"]?.string == "committed", "\(retried)")
        #expect(root.identityRecord?["sealed"]?.bool == false)
        let verified = try SanitizeClone.json(["verify", "--root", root.path, "--json"])
        #expect(verified["result"]?.string == "verified", "\(verified)")
    }

    @Test("fail forward makes the host keys by the task's own policy: on a Fedora-like root, root:ssh_keys 0640")
    func failForwardKeepsTheDistributionsKeyPolicy() throws {
        let root = try FixtureRoot.fedoraLike()
        defer { root.remove() }
        try Self.seal(root)
        let failed = try SanitizeClone.run(["run", "--auto", "--root", root.path, "--json"], failpoint: "hostname:after-apply:error")
        #expect(failed.exitCode == 1, "\(failed)")
        let created = try SanitizeClone.requireSingleJSONObject(failed)["created"]?.array?.compactMap(\.string) ?? []
        let keys = created.filter { $0.hasPrefix("/etc/ssh/") }
        #expect(!keys.isEmpty, "\(created)")
        let group = try #require(root.read("/etc/group")?.split(separator: "\n").first { $0.hasPrefix("ssh_keys:") }?.split(separator: ":")[2])
        for key in keys {
            try BootFixture.expectMatchingKeyPair(key, in: root)
            #expect(root.mode(key) == 0o640 && root.ownership(key) == "0:\(group)", "\(key): \(root.mode(key).map { String($0, radix: 8) } ?? "-") \(root.ownership(key) ?? "-")")
        }
    }
}
