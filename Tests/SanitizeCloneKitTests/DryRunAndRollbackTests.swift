import Testing

/// For each task alone and for the whole graph, on both templates: a dry run changes nothing at
/// all, and a run followed by `rollback --last` gives back the exact root.
@Suite("Dry run and rollback leave the root as it was", .requiresFileOwnership)
struct DryRunAndRollbackTests {
    /// One template and one selection of tasks (nil: the whole graph).
    struct Selection: Sendable, CustomTestStringConvertible {
        let kind: FixtureRoot.Kind
        let task: String?

        var arguments: [String] { task.map { ["--only", $0] } ?? [] }
        /// The tasks that have something to change in these fixtures.
        var expectedTasks: [String] { task.map { [$0] } ?? ["machine-id", "hostname", "ssh-host-keys"] }
        /// Every task the plan lists (the others skip: the fixtures hold no seed, lease…).
        var listedTasks: [String] { task.map { [$0] } ?? Self.allTasks }

        static let allTasks = ["machine-id", "hostname", "ssh-host-keys", "random-seed", "nm-secret-key", "dhcp-state",
                               "iscsi-initiator", "fs-uuids", "partition-table-ids", "initramfs", "network-bindings", "static-addresses", "hostid", "ssl-snakeoil", "cloud-init-state", "reported-identities", "identity-record"]
        var testDescription: String { "\(task.map { "--only \($0)" } ?? "whole graph") on a \(kind.testDescription)" }

        static let all: [Selection] = FixtureRoot.Kind.allCases.flatMap { kind in
            [nil, "machine-id", "hostname", "ssh-host-keys"].map { Selection(kind: kind, task: $0) }
        }
    }

    @Test("a dry run changes nothing and leaves no journal, lock or state directory", arguments: Selection.all)
    func dryRunChangesNothing(_ selection: Selection) throws {
        let root = try selection.kind.make()
        defer { root.remove() }
        let before = try root.signature()

        let plan = try InProcess.json(["run", "--root", root.path, "--dry-run", "--json", "--hostname", "web-01"] + selection.arguments)
        #expect(plan["dry_run"]?.bool == true)
        #expect(plan["result"]?.string == "planned")
        #expect(plan["tasks"]?.array?.compactMap { $0["name"]?.string } == selection.listedTasks)
        for name in selection.listedTasks where !selection.expectedTasks.contains(name) {
            #expect(plan.status(of: name) == "skipped" && plan.task(name)?["reason"]?.string != nil, "\(name) says why it skips: \(plan)")
        }
        for name in selection.expectedTasks {
            #expect(plan.status(of: name) == "planned", "\(name) has changes to plan: \(plan)")
            let changes = try #require(plan.task(name)?["changes"]?.array)
            #expect(!changes.isEmpty, "\(name) plans its changes: \(plan)")
            for change in changes {
                #expect(change["path"]?.string?.hasPrefix("/") == true && change["action"]?.string?.isEmpty == false, "\(change)")
                #expect(change["old"] != nil && change["new"] != nil, "every change shows old and new: \(change)")
            }
        }
        try expectUnchanged(root, since: before, "run --dry-run")
        #expect(!root.exists("/var/lib/sanitize-clone"), "a dry run creates no state directory")

        let textPlan = try SanitizeClone.run(["plan", "--root", root.path, "--hostname", "web-01"] + selection.arguments)
        #expect(textPlan.exitCode == 0, "\(textPlan)")
        #expect(textPlan.stdout.contains("dry run"), "\(textPlan)")
        if selection.expectedTasks.contains("hostname") {
            #expect(textPlan.stdout.contains("golden → web-01"), "the text plan shows old → new: \(textPlan)")
        }
        try expectUnchanged(root, since: before, "plan")
        #expect(!root.exists("/var/lib/sanitize-clone"), "plan creates no state directory")
    }

    @Test("run then rollback --last restores every file, mode, owner and link target", arguments: Selection.all)
    func runThenRollbackRestoresTheRoot(_ selection: Selection) throws {
        let root = try selection.kind.make()
        defer { root.remove() }
        let before = try root.signature()

        let report = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"] + selection.arguments)
        #expect(report["dry_run"]?.bool == false)
        #expect(report["result"]?.string == "committed")
        for name in selection.expectedTasks {
            #expect(report.status(of: name) == "applied", "\(report)")
        }
        let changed = before.differences(to: try root.signature())
        #expect(!changed.isEmpty, "the run changed the root")

        let rollback = try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        #expect(rollback["result"]?.string == "rolled-back")
        #expect(rollback["run_id"]?.string == report["run_id"]?.string)
        try expectUnchanged(root, since: before, "run followed by rollback --last")
    }
}
