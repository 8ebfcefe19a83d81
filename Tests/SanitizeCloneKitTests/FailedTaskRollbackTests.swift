import Testing

/// A task that fails undoes the whole run: exit 1, `result` rolled-back, the failed task
/// `failed`, every task that had applied `rolled-back`, nothing left applied, the root as it was.
@Suite("A failed task rolls the whole run back", .requiresFileOwnership)
struct FailedTaskRollbackTests {
    static let order = ["machine-id", "hostname", "ssh-host-keys"]

    struct ErrorPoint: Sendable, CustomTestStringConvertible {
        let kind: FixtureRoot.Kind
        let task: String
        let point: String
        var testDescription: String { "\(task):\(point):error on a \(kind.testDescription)" }

        static let all: [ErrorPoint] = FixtureRoot.Kind.allCases.flatMap { kind in
            FailedTaskRollbackTests.order.flatMap { task in
                ["before-apply", "change-1", "after-apply"].map { ErrorPoint(kind: kind, task: task, point: $0) }
            }
        }
    }

    @Test("an error at a failpoint: exit 1, rolled-back, failed task named, root identical", arguments: ErrorPoint.all)
    func errorRollsBackEverything(_ point: ErrorPoint) throws {
        let root = try point.kind.make()
        defer { root.remove() }
        let original = try root.signature()

        let result = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-01"],
                                           failpoint: "\(point.task):\(point.point):error")
        #expect(result.exitCode == 1, "\(result)")
        let report = try SanitizeClone.requireSingleJSONObject(result)
        #expect(report["result"]?.string == "rolled-back")
        #expect(report.status(of: point.task) == "failed")
        #expect(report.task(point.task)?["error"]?.string?.isEmpty == false, "the failed task says why: \(report)")
        let failedIndex = Self.order.firstIndex(of: point.task)!
        for earlier in Self.order[..<failedIndex] {
            // The three only use each other's plans, so they apply side by side: an earlier one
            // has either been applied and undone, or had not started when the failure stopped the run.
            #expect(["rolled-back", "skipped"].contains(report.status(of: earlier)), "\(earlier): \(report)")
        }
        for later in Self.order[(failedIndex + 1)...] {
            // Tasks that only need the failed one's *plan* may have applied alongside it: undone too.
            #expect(["skipped", "rolled-back"].contains(report.status(of: later)), "\(later) never ran or was undone: \(report)")
        }
        #expect(report["tasks"]?.array?.contains { $0["status"]?.string == "applied" } == false, "nothing stays applied: \(report)")
        try expectUnchanged(root, since: original, "a failed run")

        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(status["recovery_pending"]?.bool == false)
        #expect(status["runs"]?[0]?["outcome"]?.string == "rolled-back", "\(status)")
        #expect(status["runs"]?[0]?["failure"]?.string?.contains(point.task) == true, "\(status)")
    }

    @Test("a real tool failure (ssh-keygen refusing a 512-bit RSA key) rolls back the tasks already applied")
    func realToolFailure() throws {
        let root = try CrashRecoveryTests.templateWithAWeakRSAKey()
        defer { root.remove() }
        let original = try root.signature()
        let result = try InProcess.run(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        #expect(result.exitCode == 1, "\(result)")
        let report = try SanitizeClone.requireSingleJSONObject(result)
        #expect(report["result"]?.string == "rolled-back")
        // Applied side by side with the key generation: undone, or not started when it failed.
        for task in ["machine-id", "hostname"] {
            #expect(["rolled-back", "skipped"].contains(report.status(of: task)), "\(task): \(report)")
        }
        #expect(report["tasks"]?.array?.contains { $0["status"]?.string == "applied" } == false, "nothing stays applied: \(report)")
        #expect(report.task("ssh-host-keys")?["error"]?.string?.contains("ssh-keygen") == true, "\(report)")
        try expectUnchanged(root, since: original, "a failed run")
    }

    @Test("an undo step that fails leaves the rollback incomplete: exit 4 listing what is left; rollback again finishes it")
    func incompleteRollback() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let original = try root.signature()
        let id = try #require(try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])["run_id"]?.string)

        let incomplete = try InProcess.run(["rollback", "--root", root.path, "--last", "--json"], failpoint: "hostname:undo-1:error")
        let message = try SanitizeClone.expectError(incomplete, exitCode: 4)
        #expect(message.contains(id), "the message names the run to roll back again: \(message)")
        let status = try InProcess.json(["status", "--root", root.path, "--json"])
        #expect(status["recovery_pending"]?.bool == true, "\(status)")

        try InProcess.json(["rollback", "--root", root.path, id, "--json"])
        try expectUnchanged(root, since: original, "an incomplete rollback completed by a second one")
    }
}
