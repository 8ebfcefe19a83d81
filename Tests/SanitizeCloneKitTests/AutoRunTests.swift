import Foundation
import Testing

/// `run --auto`, what the first-boot service runs: it acts only on a sealed template or a detected
/// clone, records a fingerprint on a machine that has none, and leaves an unchanged one alone.
@Suite("run --auto on an unsealed root", .requiresFileOwnership)
struct AutoRunTests {
    static let templateFacts = BootFixture.platform(uuid: BootFixture.templateUUID, macs: [BootFixture.templateMAC])
    static let cloneFacts = BootFixture.platform(uuid: BootFixture.cloneUUID, macs: [BootFixture.cloneMAC])

    @discardableResult
    static func autoRun(_ root: FixtureRoot, _ facts: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"] + facts, sourceLocation: sourceLocation)
    }

    @Test("the template's first boot records its identity and changes nothing else", arguments: FixtureRoot.Kind.allCases)
    func firstBootRecords(_ kind: FixtureRoot.Kind) throws {
        let root = try kind.make()
        defer { root.remove() }
        let before = try root.signature()
        let fingerprints = try BootFixture.fingerprints(in: root)

        let text = try SanitizeClone.run(["run", "--auto", "--root", root.path] + Self.templateFacts)
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdout.contains("Not a clone"), "\(text)")
        try expectUnchanged(root, since: before, "the first run --auto")
        #expect(root.runIDs().isEmpty, "no run was started")

        let record = try #require(root.identityRecord, "identity.json is written")
        #expect(record["sealed"]?.bool == false)
        #expect(record["template"]?["machineID"]?.string == FixtureRoot.templateMachineID)
        #expect(record["template"]?["hostname"]?.string == (kind == .debian ? "golden" : "golden.example.com"))
        #expect(record["template"]?["sshFingerprints"]?.array?.compactMap(\.string).sorted() == fingerprints)
        #expect(record["machine"]?["productUUID"]?.string == BootFixture.templateUUID)
        #expect(record["machine"]?["macs"]?.array?.compactMap(\.string) == [BootFixture.templateMAC])
        #expect(root.mode("/var/lib/sanitize-clone/identity.json") == 0o600, "the record is root's alone")
    }

    @Test("--json when nothing is to be done: verdict, reasons, summary, reboot and no run")
    func jsonWithoutARun() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let first = try Self.autoRun(root, Self.templateFacts)
        #expect(first["verdict"]?.string == "unrecorded")
        #expect(first["summary"]?.string?.hasPrefix("Not a clone") == true, "\(first)")
        #expect(first["reasons"]?.array?.isEmpty == false)
        #expect(first["reboot"]?.bool == false)
        #expect(first["run"] == nil, "no run: \(first)")
        #expect(Set(first.object?.keys.map { $0 } ?? []) == ["verdict", "reasons", "summary", "reboot"], "\(first)")
    }

    @Test("the same machine booting again changes nothing, not even its record")
    func sameMachineChangesNothing() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try Self.autoRun(root, Self.templateFacts)
        let before = try root.signature()
        let record = root.read("/var/lib/sanitize-clone/identity.json")

        let again = try Self.autoRun(root, Self.templateFacts)
        #expect(again["verdict"]?.string == "same-machine", "\(again)")
        #expect(again["summary"]?.string?.hasPrefix("Not a clone") == true, "\(again)")
        #expect(again["run"] == nil)
        try expectUnchanged(root, since: before, "run --auto on the same machine")
        #expect(root.read("/var/lib/sanitize-clone/identity.json") == record)
        #expect(root.runIDs().isEmpty)
    }

    @Test("a clone (another product UUID) gets a new machine-id, hostname and keys; its record follows; the next boot changes nothing")
    func cloneIsSanitizedOnce() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try Self.autoRun(root, Self.templateFacts)
        let templateRecord = try #require(root.identityRecord)
        let oldKeys = BootFixture.privateHostKeys(in: root).map { HostKeyFacts.publicKey($0, in: root) }

        let outcome = try Self.autoRun(root, Self.cloneFacts)
        #expect(outcome["verdict"]?.string == "clone", "\(outcome)")
        #expect(outcome["reasons"]?.array?.first?.string?.contains(BootFixture.cloneUUID) == true, "\(outcome)")
        #expect(outcome["reboot"]?.bool == false, "never a reboot for a root that is not the running system")
        let run = try #require(outcome["run"], "the run's report: \(outcome)")
        #expect(run["result"]?.string == "committed")
        #expect(run["run_id"]?.string == root.runIDs().last)
        #expect(outcome["summary"]?.string?.contains(run["run_id"]?.string ?? "?") == true, "\(outcome)")
        for task in ["machine-id", "hostname", "ssh-host-keys"] { #expect(run.status(of: task) == "applied", "\(task): \(run)") }

        let machineID = try #require(root.read("/etc/machine-id"))
        #expect(BootFixture.isMachineIDFile(machineID) && machineID != FixtureRoot.templateMachineID + "\n")
        #expect(root.read("/var/lib/dbus/machine-id") == machineID)
        #expect(root.read("/etc/hostname") == "clone-\(machineID.prefix(8))\n", "the derived default")
        let newKeys = BootFixture.privateHostKeys(in: root).map { HostKeyFacts.publicKey($0, in: root) }
        #expect(newKeys.count == oldKeys.count && Set(newKeys).isDisjoint(with: Set(oldKeys)), "every host key is new")
        for key in BootFixture.privateHostKeys(in: root) { try BootFixture.expectMatchingKeyPair(key, in: root) }

        let record = try #require(root.identityRecord)
        #expect(record["machine"]?["productUUID"]?.string == BootFixture.cloneUUID, "the fingerprint is the clone's now")
        #expect(record["machine"]?["macs"]?.array?.compactMap(\.string) == [BootFixture.cloneMAC])
        #expect(record["template"] == templateRecord["template"], "the template's identity is kept")
        #expect(record["sealed"]?.bool == false)

        let sanitized = try root.signature()
        let runs = root.runIDs()
        let again = try Self.autoRun(root, Self.cloneFacts)
        #expect(again["verdict"]?.string == "same-machine", "\(again)")
        #expect(again["run"] == nil)
        try expectUnchanged(root, since: sanitized, "the clone's next boot")
        #expect(root.runIDs() == runs)
    }

    @Test("--json after a run: verdict, reasons, summary, reboot and the run's report")
    func jsonWithARun() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try Self.autoRun(root, Self.templateFacts)
        let outcome = try Self.autoRun(root, Self.cloneFacts)
        #expect(Set(outcome.object?.keys.map { $0 } ?? []) == ["verdict", "reasons", "summary", "reboot", "run"], "\(outcome)")
        #expect(outcome["verdict"]?.string == "clone")
        #expect(outcome["reasons"]?.array?.allSatisfy { $0.string != nil } == true)
        #expect(outcome["summary"]?.string?.isEmpty == false)
        #expect(outcome["reboot"]?.bool == false)
        let run = try #require(outcome["run"])
        #expect(run["run_id"]?.string != nil && run["dry_run"]?.bool == false && run["result"]?.string == "committed", "\(run)")
        #expect(run["tasks"]?.array?.isEmpty == false)
        let text = try SanitizeClone.run(["run", "--auto", "--root", root.path] + Self.cloneFacts)
        #expect(text.exitCode == 0 && text.stdout.contains("Not a clone") && text.stdout.contains("because"), "\(text)")
    }

    @Test("a VM generation change (udev's NEW_VMGENID) on the same machine is taken as the clone signal")
    func generationChangeIsAClone() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try Self.autoRun(root, Self.templateFacts)
        let forked = try SanitizeClone.json(["run", "--auto", "--generation-changed", "--root", root.path, "--json"] + Self.templateFacts)
        #expect(forked["verdict"]?.string == "clone", "\(forked)")
        #expect(forked["reasons"]?.array?.last?.string?.contains("generation") == true, "\(forked)")
        #expect(forked["run"]?["result"]?.string == "committed")
        #expect(root.read("/etc/machine-id") != FixtureRoot.templateMachineID + "\n")
    }

    @Test("a failpoint on the build host's kernel command line never reaches a run on another root")
    func hostKernelCommandLineIsNotTheGuests() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try Self.autoRun(root, Self.templateFacts)
        // The build host as if booted with the e2e tests' failpoint: /proc/cmdline bound over in a mount namespace.
        let cmdline = root.scratch + "/cmdline"
        try "BOOT_IMAGE=/vmlinuz sanitize_clone.failpoint=hostname:after-apply:error quiet\n".write(toFile: cmdline, atomically: true, encoding: .utf8)
        let invocation = ([SanitizeClone.binary, "run", "--auto", "--root", root.path, "--json"] + Self.cloneFacts).map(JournalListener.quoted).joined(separator: " ")
        let result = try HostCommand.run("unshare", ["--mount", "--propagation", "private", "sh", "-c",
                                                     "mount --bind \(JournalListener.quoted(cmdline)) /proc/cmdline || exit 90; exec \(invocation)"])
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.json?["run"]?["result"]?.string == "committed", "\(result)")
    }

    @Test("--dry-run on a clone plans the run and changes nothing, not even the record")
    func dryRunChangesNothing() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try Self.autoRun(root, Self.templateFacts)
        let before = try root.signature()
        let record = root.read("/var/lib/sanitize-clone/identity.json")
        let planned = try SanitizeClone.json(["run", "--auto", "--dry-run", "--root", root.path, "--json"] + Self.cloneFacts)
        #expect(planned["verdict"]?.string == "clone")
        #expect(planned["run"]?["result"]?.string == "planned", "\(planned)")
        try expectUnchanged(root, since: before, "run --auto --dry-run")
        #expect(root.read("/var/lib/sanitize-clone/identity.json") == record)
        #expect(root.runIDs().isEmpty)
    }

    @Test("a boot-time run shreds its secret backups: rollback refuses (exit 2) naming the shredded keys; --force undoes everything else")
    func secretBackupsAreShredded() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try Self.autoRun(root, Self.templateFacts)
        let template = try root.signature()
        try Self.autoRun(root, Self.cloneFacts)
        let runID = try #require(root.runIDs().last)
        let backups = root.stateDirectory + "/runs/\(runID)/backups"
        #expect(lstatOf(backups + "/secrets") == nil, "the pack of old private keys is gone")
        #expect(lstatOf(backups + "/files") != nil, "the other backups stay for rollback")
        let newPrivateKeys = BootFixture.privateHostKeys(in: root).map { root.read($0) }

        let refused = try InProcess.run(["rollback", "--root", root.path, "--last", "--json"])
        let message = try SanitizeClone.expectError(refused, exitCode: 2)
        #expect(message.contains("shredded") && message.contains("private keys") && message.contains("--force"), "\(message)")

        try InProcess.json(["rollback", "--root", root.path, "--last", "--force", "--json"])
        let rolledBack = try root.signature()
        for path in ["/etc/machine-id", "/var/lib/dbus/machine-id", "/etc/hostname", "/etc/hosts"] {
            #expect(rolledBack.entries[path] == template.entries[path], "\(path) is the template's again")
        }
        #expect(BootFixture.privateHostKeys(in: root).map { root.read($0) } == newPrivateKeys, "the old private keys cannot come back")
    }

    @Test("rollback --force of a boot-time run keeps each new private key with its own .pub")
    func forcedRollbackKeepsKeyPairsWhole() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try Self.autoRun(root, Self.templateFacts)
        try Self.autoRun(root, Self.cloneFacts)
        try InProcess.json(["rollback", "--root", root.path, "--last", "--force", "--json"])
        // The private keys stay the new ones (their backups were shredded): a .pub restored to the
        // template's would name a key sshd does not hold, and verify would fail on it.
        for key in BootFixture.privateHostKeys(in: root) { try BootFixture.expectMatchingKeyPair(key, in: root) }
    }
}

