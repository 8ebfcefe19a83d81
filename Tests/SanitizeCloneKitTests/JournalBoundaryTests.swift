import Foundation
import Testing
@testable import SanitizeCloneKit

/// The journal is untrusted input too: a journal this machine did not write for this root is
/// never followed, an authentic one holds only the closed set of undo actions, and no record or
/// guest file can lead the tool to a device of the host.
@Suite("The journal boundary: planted, copied and foreign journals, devices outside the root", .requiresFileOwnership)
struct JournalBoundaryTests {
    static let plantedID = "20260101T000000-000aaa"

    /// Plants `runs/<id>/` with a run-started line and one undo record, each with a correct
    /// SHA-256 checksum (the format before journals were tagged): what a stranger can write.
    static func plant(_ root: FixtureRoot, undo: String, id: String = plantedID) throws {
        let lines = [#"{"kind":"run-started","time":1,"detail":"manual"}"#,
                     #"{"kind":"undo","time":1,"task":"hostname","sequence":1,"undo":"# + undo + "}"]
        let text = lines.map { SHA256.hex(Array($0.utf8)) + " " + $0 + "\n" }.joined()
        try root.makeDirectory("/var/lib/sanitize-clone/runs/\(id)/backups", mode: 0o700)
        try root.write("/var/lib/sanitize-clone/runs/\(id)/journal", text, mode: 0o600)
    }

    static func scratchFile() throws -> String {
        try Scratch.makeDirectory(prefix: "boundary") + "/x"
    }

    @Test("a planted journal whose undo runs a program — on the host or chrooted into the root — is never followed",
          arguments: [false, true])
    func plantedProgramNeverRuns(_ chrootIntoRoot: Bool) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let marker = try Self.scratchFile()
        defer { try? FileManager.default.removeItem(atPath: marker) }
        try Self.plant(root, undo: #"{"runCommand":{"program":"/bin/sh","arguments":["-c","id > \#(marker); id > /planted"],"chrootIntoRoot":\#(chrootIntoRoot)}}"#)
        let before = try root.signature()

        let run = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-02"])
        let message = try SanitizeClone.expectError(run, exitCode: 4)
        #expect(message.contains("did not write") && message.contains("prune --discard-foreign --root \(root.path)"), "\(message)")
        let rollback = try InProcess.run(["rollback", "--root", root.path, "--last", "--json"])
        try SanitizeClone.expectError(rollback, exitCode: 4)
        let byID = try InProcess.run(["rollback", "--root", root.path, Self.plantedID, "--force", "--json"])
        try SanitizeClone.expectError(byID, exitCode: 4)
        #expect(!FileManager.default.fileExists(atPath: marker), "no program ran on the host")
        #expect(!root.exists("/planted"), "no program ran in the root")
        try expectUnchanged(root, since: before, "refused runs and rollbacks")

        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(status["runs"]?.element(where: "run_id", is: Self.plantedID)?["outcome"]?.string == "foreign", "\(status)")
        #expect(status["foreign_journals"]?.bool == true, "\(status)")

        let pruned = try InProcess.json(["prune", "--root", root.path, "--discard-foreign", "--json"])
        #expect(pruned["runs"]?.array?.compactMap(\.string) == [Self.plantedID], "\(pruned)")
        #expect(!root.exists("/var/lib/sanitize-clone/runs/\(Self.plantedID)"))
        try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-02"])
        #expect(root.read("/etc/hostname") == "web-02\n")
        #expect(!FileManager.default.fileExists(atPath: marker) && !root.exists("/planted"))
    }

    @Test("discarding a foreign journal whose backup pack is a sparse 1 TiB file removes it without writing a terabyte")
    func discardingAHugeForeignPack() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try Self.plant(root, undo: #"{"setKernelHostname":{"_0":"evil"}}"#)
        try HostCommand.succeed("truncate", ["-s", "1T", root.hostPath("/var/lib/sanitize-clone/runs/\(Self.plantedID)/backups/secrets")])
        let pruned = try InProcess.json(["prune", "--root", root.path, "--discard-foreign", "--json"])
        #expect(pruned["runs"]?.array?.compactMap(\.string) == [Self.plantedID], "\(pruned)")
        #expect(!root.exists("/var/lib/sanitize-clone/runs/\(Self.plantedID)"))
    }

    @Test("a run's journal copied into another root is foreign there; the original still recovers")
    func replayedJournalFromAnotherRoot() throws {
        let original = try FixtureRoot.debianLike()
        defer { original.remove() }
        let other = try FixtureRoot.debianLike()
        defer { other.remove() }
        let id = try CrashRecoveryTests.crash(original, at: "hostname:after-apply:crash")
        try other.makeDirectory("/var/lib/sanitize-clone/runs", mode: 0o700)
        try HostCommand.succeed("cp", ["-a", original.hostPath("/var/lib/sanitize-clone/runs/\(id)"), other.hostPath("/var/lib/sanitize-clone/runs/")])
        let before = try other.signature()

        let replayed = try InProcess.run(["run", "--root", other.path, "--json"])
        try SanitizeClone.expectError(replayed, exitCode: 4)
        try expectUnchanged(other, since: before, "a run refusing a copied journal")

        let recovered = try InProcess.json(["run", "--root", original.path, "--json", "--hostname", "web-03"])
        #expect(recovered["recovered_runs"]?.array?.compactMap(\.string) == [id], "\(recovered)")
    }

    @Test("a boot-time run sets a foreign journal aside, says so, and gives the clone its identity")
    func bootTimeRunSetsForeignJournalAside() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try SanitizeClone.json(["seal", "--root", root.path, "--json"])
        try Self.plant(root, undo: #"{"setKernelHostname":{"_0":"evil"}}"#)

        let boot = try SanitizeClone.run(["run", "--auto", "--root", root.path]
                                         + BootFixture.platform(uuid: BootFixture.cloneUUID, macs: [BootFixture.cloneMAC]))
        #expect(boot.exitCode == 0, "\(boot)")
        #expect((boot.stdout + boot.stderr).contains("set aside"), "\(boot)")
        #expect(root.exists("/var/lib/sanitize-clone/foreign/\(Self.plantedID)/journal"))
        #expect(!root.exists("/var/lib/sanitize-clone/runs/\(Self.plantedID)"))
        #expect(root.read("/etc/machine-id") != "uninitialized\n", "the clone got its identity")
        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(status["runs"]?.element(where: "run_id", is: Self.plantedID)?["outcome"]?.string == "set-aside", "\(status)")
        #expect(status["recovery_pending"]?.bool == false, "\(status)")
    }

    @Test("a run directory without a journal record — killed before its first change — is removed with a notice, never blocks")
    func runDirectoryWithoutJournal() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.makeDirectory("/var/lib/sanitize-clone/runs/20260101T000000-000bbb/backups", mode: 0o700)
        try root.makeDirectory("/var/lib/sanitize-clone/runs/20260101T000000-000ccc", mode: 0o700)
        try root.write("/var/lib/sanitize-clone/runs/20260101T000000-000ccc/journal", "", mode: 0o600)
        try root.makeDirectory("/var/lib/sanitize-clone/runs/.new-20260101T000000-000ddd", mode: 0o700)

        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(status["runs"]?.element(where: "run_id", is: "20260101T000000-000bbb")?["outcome"]?.string == "empty", "\(status)")
        let rollback = try InProcess.run(["rollback", "--root", root.path, "20260101T000000-000bbb", "--force", "--json"])
        #expect(rollback.exitCode != 0, "nothing to roll back: \(rollback)")

        let run = try SanitizeClone.run(["run", "--root", root.path, "--hostname", "web-04"])
        #expect(run.exitCode == 0, "\(run)")
        #expect(run.stderr.contains("left no journal record"), "\(run)")
        #expect(root.runIDs().count == 1, "only the new run is left: \(root.runIDs())")
        #expect(!root.exists("/var/lib/sanitize-clone/runs/.new-20260101T000000-000ddd"))
        #expect(root.read("/etc/hostname") == "web-04\n")
    }

    @Test("an authentic record naming the UUID of a device outside the root's disk never changes that device", .requiresRoot)
    func authenticRecordCannotReachAHostDevice() throws {
        try LoopDevice.with(size: 64 << 20) { loop in
            try loop.format("mkfs.ext4", ["-q", "-F"])
            let uuid = try #require(try loop.blkid("UUID"))
            let root = try FixtureRoot.debianLike()
            defer { root.remove() }
            let id = try CrashRecoveryTests.crash(root, at: "hostname:after-apply:crash")
            try RefusalTests.tamper(root, run: id) { _ in
                #"{"kind":"undo","time":1,"task":"fs-uuids","sequence":1,"undo":{"inverse":{"kind":"block-device-identity","values":["ext4","\#(uuid)","0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b"]}}}"#
            }
            let result = try InProcess.run(["run", "--root", root.path, "--json"])
            let message = try SanitizeClone.expectError(result, exitCode: 4)
            #expect(message.contains("no device of this root has the UUID \(uuid)"), "\(message)")
            #expect(try loop.blkid("UUID") == uuid, "the host's device kept its UUID")
        }
    }

    @Test("a guest fstab naming a host device leaves it untouched unless --device names it; the plan says so", .requiresRoot)
    func guestFstabCannotReachAHostDevice() throws {
        try LoopDevice.with(size: 64 << 20) { loop in
            try loop.format("mkfs.ext4", ["-q", "-F"])
            let uuid = try #require(try loop.blkid("UUID"))
            let root = try FixtureRoot.debianLike()
            defer { root.remove() }
            try root.write("/etc/fstab", "UUID=\(uuid) /srv ext4 defaults 0 2\n")

            let plan = try InProcess.json(["plan", "--root", root.path, "--json", "--only", "fs-uuids"])
            let notes = plan.task("fs-uuids")?["notes"]?.array?.compactMap(\.string) ?? []
            #expect(notes.contains { $0.contains(loop.path) && $0.contains("never touched") && $0.contains("--device") }, "\(plan)")
            #expect(notes.first?.hasPrefix("only the root's disk") == true && notes.first?.contains("may get new UUIDs") == true, "the plan says which devices may change: \(notes)")
            let refused = try InProcess.json(["run", "--root", root.path, "--json", "--only", "fs-uuids"])
            #expect(refused.task("fs-uuids")?["status"]?.string == "skipped", "\(refused)")
            #expect(try loop.blkid("UUID") == uuid, "a device the command line does not name keeps its UUID")

            let named = try InProcess.json(["run", "--root", root.path, "--json", "--only", "fs-uuids", "--device", loop.path])
            let new = try #require(try loop.blkid("UUID"))
            #expect(new != uuid && root.read("/etc/fstab") == "UUID=\(new) /srv ext4 defaults 0 2\n", "\(named)")
            try InProcess.json(["rollback", "--root", root.path, "--last", "--json", "--device", loop.path])
            #expect(try loop.blkid("UUID") == uuid && root.read("/etc/fstab") == "UUID=\(uuid) /srv ext4 defaults 0 2\n")
        }
    }

    @Test("an undo of a file already as the journal recorded it writes nothing: a full file system rolls back with exit 1, not 4", .requiresRoot)
    func undoOnAFullFileSystemWritesNothing() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let saved = try Scratch.makeDirectory(prefix: "ssh-copy")
        defer { try? FileManager.default.removeItem(atPath: saved) }
        try HostCommand.succeed("cp", ["-a", root.hostPath("/etc/ssh/."), saved])
        try HostCommand.succeed("mount", ["-t", "tmpfs", "-o", "size=1m,mode=755", "tmpfs", root.hostPath("/etc/ssh")])
        defer { _ = try? HostCommand.run("umount", [root.hostPath("/etc/ssh")]) }
        try HostCommand.succeed("cp", ["-a", saved + "/.", root.hostPath("/etc/ssh")])
        _ = try HostCommand.run("dd", ["if=/dev/zero", "of=" + root.hostPath("/etc/ssh/filler"), "bs=4k"])
        let before = try root.signature()

        let run = try InProcess.run(["run", "--root", root.path, "--json"])
        #expect(run.exitCode == 1, "the task fails and everything is rolled back: \(run)")
        let report = try SanitizeClone.requireSingleJSONObject(run)
        #expect(report["result"]?.string == "rolled-back", "\(report)")
        try expectUnchanged(root, since: before, "a run rolled back on a full /etc/ssh")
        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(status["recovery_pending"]?.bool == false, "\(status)")
    }
}
