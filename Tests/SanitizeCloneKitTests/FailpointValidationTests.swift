import Foundation
import Testing

/// A failpoint that can never fire would let a crash test pass without crashing anything: every
/// one is checked against the run (or the rollback) it is given to, and refused with exit 2.
@Suite("Failpoints that cannot fire are refused")
struct FailpointValidationTests {
    @Test("a run refuses a failpoint naming no task of the run, a point past its changes, or a skipped task; nothing changes",
          arguments: [("nonexistent-task:change-1:crash", [String](), "not in this run"),
                      (" hostname:change-1:crash", [], "is not a task name"),
                      ("hostname:change-99:crash", [], "can never fire"),
                      ("hostname:undo-99:error", [], "can never fire"),
                      ("hostname:before-apply:crash", ["--skip", "hostname"], "not in this run")])
    func refusedInARun(_ failpoint: String, _ extra: [String], _ reason: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        for command in ["run", "plan"] {
            let result = try SanitizeClone.run([command, "--root", root.path, "--json"] + extra, failpoint: failpoint)
            let message = try SanitizeClone.expectError(result, exitCode: 2)
            #expect(message.contains("SANITIZE_CLONE_FAILPOINT") && message.contains(reason), "\(message)")
        }
        try expectUnchanged(root, since: before, "a refused failpoint")
        #expect(root.runIDs().isEmpty, "no run was started")
    }

    @Test("static-addresses:undo-1 is refused where network-bindings' snapshot covers its files; network-bindings:undo-1 fires")
    func coveredUndoCannotFire() throws {
        let root = try NetworkFixture.template()
        defer { root.remove() }
        let arguments = ["run", "--root", root.path, "--json", "--only", "network-bindings,static-addresses"] + NetworkFixture.cloneNICs
        let covered = try SanitizeClone.run(arguments, failpoint: "static-addresses:undo-1:crash")
        let message = try SanitizeClone.expectError(covered, exitCode: 2)
        #expect(message.contains("static-addresses:undo-1 can never fire") && message.contains("journals 0 undo record"), "\(message)")
        let plan = try SanitizeClone.json(arguments.map { $0 == "run" ? "plan" : $0 })
        #expect(plan.status(of: "static-addresses") == "planned", "the task itself has changes to make: \(plan)")
    }

    @Test("rollback refuses a failpoint of a task the run did not journal, or a point that fires only while applying")
    func refusedInARollback() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try SanitizeClone.json(["run", "--root", root.path, "--json", "--only", "hostname", "--hostname", "web-05"])
        for failpoint in ["machine-id:undo-1:crash", "hostname:change-1:crash", "hostname:undo-99:crash"] {
            let result = try SanitizeClone.run(["rollback", "--root", root.path, "--last", "--json"], failpoint: failpoint)
            let message = try SanitizeClone.expectError(result, exitCode: 2)
            #expect(message.contains("SANITIZE_CLONE_FAILPOINT"), "\(failpoint): \(message)")
        }
        #expect(root.read("/etc/hostname") == "web-05\n", "nothing was rolled back")
    }
}
