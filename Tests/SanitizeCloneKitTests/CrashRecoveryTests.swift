import Foundation
import Testing

/// A run killed at any point (SIGKILL, as a power cut) is undone from its journal alone: `status`
/// says a run waits for recovery, the next `run` rolls it back first and says so, and
/// `rollback RUN_ID` does the same on request. Either way the root is exactly the original.
@Suite("Crash recovery", .requiresFileOwnership)
struct CrashRecoveryTests {
    /// How many changes each task plans on each template (checked by `matrixCoversEveryChange`).
    static let changeCounts: [FixtureRoot.Kind: [(task: String, changes: Int)]] = [
        .debian: [("machine-id", 2), ("hostname", 2), ("ssh-host-keys", 4)],
        .fedora: [("machine-id", 1), ("hostname", 3), ("ssh-host-keys", 4)],
    ]

    /// A task, a failpoint and a template.
    struct CrashPoint: Sendable, CustomTestStringConvertible {
        let kind: FixtureRoot.Kind
        let task: String
        let point: String

        var failpoint: String { "\(task):\(point):crash" }
        var testDescription: String { "\(task):\(point) on a \(kind.testDescription)" }

        /// before-apply, change-1…change-N, after-apply for every task on every template.
        static let all: [CrashPoint] = FixtureRoot.Kind.allCases.flatMap { kind in
            changeCounts[kind]!.flatMap { task, changes in
                (["before-apply"] + (1...changes).map { "change-\($0)" } + ["after-apply"]).map {
                    CrashPoint(kind: kind, task: task, point: $0)
                }
            }
        }
    }

    /// Runs with a crash failpoint; returns the crashed run's id.
    static func crash(_ root: FixtureRoot, at failpoint: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let crashed = try SanitizeClone.run(["run", "--root", root.path, "--hostname", "web-01"], failpoint: failpoint,
                                            sourceLocation: sourceLocation)
        try #require(crashed.wasKilled, "the failpoint kills the run with SIGKILL: \(crashed)", sourceLocation: sourceLocation)
        return try #require(root.runIDs().last, "the crashed run left its journal", sourceLocation: sourceLocation)
    }

    /// `status --json` and the entry of run `id` in it.
    static func status(_ root: FixtureRoot, run id: String) throws -> (status: JSONValue, run: JSONValue?) {
        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        return (status, status["runs"]?.element(where: "run_id", is: id))
    }

    @Test("the crash matrix covers every change each task plans")
    func matrixCoversEveryChange() throws {
        for kind in FixtureRoot.Kind.allCases {
            let root = try kind.make()
            defer { root.remove() }
            let plan = try InProcess.json(["plan", "--root", root.path, "--json", "--hostname", "web-01"])
            for (task, changes) in Self.changeCounts[kind]! {
                #expect(plan.task(task)?["changes"]?.array?.count == changes, "\(task) on \(kind): \(plan)")
            }
        }
    }

    @Test("after a crash, status reports it and the next run rolls it back first, then completes", arguments: CrashPoint.all)
    func nextRunRecoversFirst(_ point: CrashPoint) throws {
        let root = try point.kind.make()
        defer { root.remove() }
        let original = try root.signature()
        let crashedID = try Self.crash(root, at: point.failpoint)

        let (waiting, crashedRun) = try Self.status(root, run: crashedID)
        #expect(waiting["recovery_pending"]?.bool == true, "\(waiting)")
        #expect(crashedRun?["outcome"]?.string == "unfinished", "\(waiting)")

        let next = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-02"])
        #expect(next["result"]?.string == "committed")
        #expect(next["recovered_runs"]?.array?.compactMap(\.string) == [crashedID], "\(next)")
        #expect(root.read("/etc/hostname")?.hasPrefix("web-02") == true)

        let (settled, recoveredRun) = try Self.status(root, run: crashedID)
        #expect(settled["recovery_pending"]?.bool == false, "\(settled)")
        #expect(recoveredRun?["outcome"]?.string == "rolled-back", "\(settled)")

        // Undoing the recovering run must give back the original: recovery restored it exactly.
        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        try expectUnchanged(root, since: original, "crash at \(point.failpoint), recovery, rollback of the recovering run")
    }

    @Test("after a crash, rollback RUN_ID restores the exact original root", arguments: CrashPoint.all)
    func rollbackOfTheCrashedRun(_ point: CrashPoint) throws {
        let root = try point.kind.make()
        defer { root.remove() }
        let original = try root.signature()
        let crashedID = try Self.crash(root, at: point.failpoint)

        let rollback = try SanitizeClone.json(["rollback", "--root", root.path, crashedID, "--json"])
        #expect(rollback["run_id"]?.string == crashedID)
        try expectUnchanged(root, since: original, "crash at \(point.failpoint), then rollback \(crashedID)")
        let (status, run) = try Self.status(root, run: crashedID)
        #expect(status["recovery_pending"]?.bool == false && run?["outcome"]?.string == "rolled-back", "\(status)")
    }

    /// A template whose RSA host key is 512 bits, which today's ssh-keygen refuses to make: the
    /// ssh-host-keys task fails after machine-id and hostname have applied, so the run rolls back.
    static func templateWithAWeakRSAKey() throws -> FixtureRoot {
        let root = try FixtureRoot.debianLike()
        var blob: [UInt8] = []
        func string(_ bytes: [UInt8]) { blob += withUnsafeBytes(of: UInt32(bytes.count).bigEndian, Array.init) + bytes }
        var modulus = (0..<64).map { _ in UInt8.random(in: 0...255) }
        modulus[0] |= 0x80
        modulus[63] |= 0x01
        string(Array("ssh-rsa".utf8))
        string([0x01, 0x00, 0x01])
        string([0x00] + modulus)
        try root.write("/etc/ssh/ssh_host_rsa_key.pub", "ssh-rsa \(Data(blob).base64EncodedString()) root@golden\n")
        try root.write("/etc/ssh/sshd_config.d/10-host-keys.conf", """
            HostKey /etc/ssh/ssh_host_rsa_key
            HostKey /etc/ssh/ssh_host_ed25519_key

            """)
        return root
    }

    @Test("a crash while a failed run rolls itself back is recovered by the next run")
    func crashDuringRollbackOfAFailedRun() throws {
        let root = try Self.templateWithAWeakRSAKey()
        defer { root.remove() }
        let original = try root.signature()
        let plain = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        try #require(plain.exitCode == 1 && plain.json?.status(of: "ssh-host-keys") == "failed",
                     "the weak key makes ssh-host-keys fail after the other tasks applied: \(plain)")
        try expectUnchanged(root, since: original, "a failed, rolled-back run")

        let crashedID = try Self.crash(root, at: "hostname:undo-1:crash")
        let (waiting, crashedRun) = try Self.status(root, run: crashedID)
        #expect(waiting["recovery_pending"]?.bool == true && crashedRun?["outcome"]?.string == "unfinished", "\(waiting)")

        let next = try InProcess.json(["run", "--root", root.path, "--json", "--skip", "ssh-host-keys"])
        #expect(next["recovered_runs"]?.array?.compactMap(\.string) == [crashedID], "\(next)")
        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        try expectUnchanged(root, since: original, "crash during a failed run's rollback, recovery, rollback")
    }

    @Test("a crash while 'rollback' undoes a run is finished by the next run", arguments: ["machine-id:undo-1", "hostname:undo-1", "hostname:undo-2", "ssh-host-keys:undo-3"])
    func crashDuringRollbackCommandThenRun(_ point: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let original = try root.signature()
        let report = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        let id = try #require(report["run_id"]?.string)

        let interrupted = try SanitizeClone.run(["rollback", "--root", root.path, "--last"], failpoint: point + ":crash")
        try #require(interrupted.wasKilled, "\(interrupted)")
        #expect(try Self.status(root, run: id).status["recovery_pending"]?.bool == true)

        let next = try InProcess.json(["run", "--root", root.path, "--json", "--only", "hostname", "--hostname", "web-02"])
        #expect(next["recovered_runs"]?.array?.compactMap(\.string) == [id], "\(next)")
        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        try expectUnchanged(root, since: original, "interrupted rollback, recovery, rollback")
    }

    @Test("a crash while 'rollback' undoes a run is finished by 'rollback RUN_ID', as status advises")
    func crashDuringRollbackCommandThenRollback() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let original = try root.signature()
        let id = try #require(try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])["run_id"]?.string)
        let interrupted = try SanitizeClone.run(["rollback", "--root", root.path, "--last"], failpoint: "hostname:undo-1:crash")
        try #require(interrupted.wasKilled, "\(interrupted)")
        let advice = try SanitizeClone.run(["status", "--root", root.path])
        #expect(advice.stdout.contains("rollback"), "\(advice)")

        let finish = try InProcess.run(["rollback", "--root", root.path, id, "--json"])
        #expect(finish.exitCode == 0, "the files the interrupted rollback already restored are not 'changed since the run': \(finish)")
        try expectUnchanged(root, since: original, "interrupted rollback finished by rollback \(id)")
    }

    @Test("new keys a crashed run was generating outside the root (in /run) are shredded by the next run")
    func abandonedKeyGenerationIsShredded() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let binary = JournalListener.quoted(SanitizeClone.binary), rootPath = JournalListener.quoted(root.path)
        let afterCrash = root.scratch + "/run-after-crash", afterNextRun = root.scratch + "/run-after-next-run"
        // A private /run, so that only this test's generation directories are counted.
        let script = """
            mount -t tmpfs -o mode=0755 tmpfs /run || exit 90
            SANITIZE_CLONE_FAILPOINT=ssh-host-keys:before-apply:crash \(binary) run --root \(rootPath) --hostname web-01 >/dev/null 2>&1
            sleep 0.5
            find /run -mindepth 1 > \(JournalListener.quoted(afterCrash))
            \(binary) run --root \(rootPath) --hostname web-02 --json >/dev/null 2>&1 || exit 91
            find /run -mindepth 1 > \(JournalListener.quoted(afterNextRun))
            """
        let session = try HostCommand.run("unshare", ["--mount", "--propagation", "private", "sh", "-c", script])
        try #require(session.exitCode == 0, "\(session)")
        let leftBehind = try String(contentsOfFile: afterCrash, encoding: .utf8)
        let files = leftBehind.split(separator: "\n").filter { $0.contains("/sanitize-clone-keys.") && $0.split(separator: "/").count == 3 }
        #expect(!files.isEmpty,
                "the crash left the keys being generated behind (else this test checks nothing): \(leftBehind)")
        #expect(try String(contentsOfFile: afterNextRun, encoding: .utf8).isEmpty, "nothing of sanitize-clone is left in /run")
    }
}
