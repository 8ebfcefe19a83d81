import Foundation
import Logging
import Testing
@testable import SanitizeCloneKit

/// The engine run in this process against a fixture root — planning, applying with a fault
/// injected at a call site of a task, rolling back, recovering — with no binary started: the fast
/// layer under the black-box command-line tests. Faults are injected by site (kind, operation and
/// the step of the run) and taken only by the calls of the test that planned them (and of the
/// engine's threads working for it), so in-process runs of other tests never take them.
@Suite("The engine in-process: plan, apply with injected faults, roll back, recover", .serialized)
struct EngineInProcessTests {
    static let engine = RunEngine(tasks: TaskRegistry.all, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))

    /// A run of `root` as `sanitize-clone run --root … --hostname web-01` would ask for it.
    static func options(dryRun: Bool = false) -> RunOptions {
        var options = RunOptions()
        options.dryRun = dryRun
        options.hostname = "web-01"
        return options
    }

    @Test("a plan in-process lists every task's changes and writes nothing: no file, journal or lock")
    func planChangesNothing() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        let report = try Self.engine.run(rootPath: root.path, options: Self.options(dryRun: true))
        #expect(report.result == .planned)
        #expect(report.tasks.first { $0.name == "hostname" }?.changes.contains { $0.path == "/etc/hostname" && $0.new == "web-01" } == true)
        try expectUnchanged(root, since: before, "an in-process plan")
        #expect(!root.exists("/var/lib/sanitize-clone"), "not even the state directory")
    }

    @Test("a run in-process commits, and a rollback in-process gives the root back byte for byte")
    func runThenRollBack() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        let report = try Self.engine.run(rootPath: root.path, options: Self.options())
        #expect(report.result == .committed, "\(report.tasks.map { "\($0.name): \($0.status) \($0.error ?? "")" })")
        #expect(root.read("/etc/hostname") == "web-01\n")
        _ = try Self.engine.rollback(rootPath: root.path, target: .last, force: false)
        try expectUnchanged(root, since: before, "an in-process run and rollback")
    }

    @Test("a fault injected at a call site of a task rolls the whole run back in-process; the next run converges",
          arguments: ["write|write|hostname|1|ENOSPC", "fsync|flush|machine-id|1|EIO", "rename|replace|ssh-host-keys|2|EROFS",
                      "open|create a temporary file beside|hostname|1|EACCES", "chmod|set the mode of|hostname|2|EPERM"])
    func injectedFaultRollsBack(_ fault: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        try FaultInjection.configure(fault, report: nil)
        defer { FaultInjection.clear() }
        let failed = try Self.engine.run(rootPath: root.path, options: Self.options())
        #expect(FaultInjection.hasFired, "the fault fired at \(fault)")
        #expect(failed.result == .rolledBack, "\(failed.tasks.map { "\($0.name): \($0.status) \($0.error ?? "")" })")
        #expect(failed.tasks.contains { $0.status == .failed && $0.error?.contains(fault.split(separator: "|")[1]) == true })
        try expectUnchanged(root, since: before, "a run rolled back after \(fault)")

        FaultInjection.clear()
        #expect(try Self.engine.run(rootPath: root.path, options: Self.options()).result == .committed)
    }

    @Test("a commit record that cannot be made durable undoes the run (exit 1, nothing changed), and no recovery is left pending",
          arguments: ["fsync|flush|commit|1|EIO", "write|write|commit|1|ENOSPC"])
    func unrecordedCommitIsUndone(_ fault: String) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        try FaultInjection.configure(fault, report: nil)
        defer { FaultInjection.clear() }
        let report = try Self.engine.run(rootPath: root.path, options: Self.options())
        #expect(report.result == .rolledBack && report.exitCode == 1 && report.failure?.contains("commit could not be recorded") == true)
        try expectUnchanged(root, since: before, "a run whose commit failed")
        let status = try Self.engine.status(rootPath: root.path)
        #expect(!status.recoveryPending && status.runs.last?.outcome == "rolled-back", "\(status.runs)")

        FaultInjection.clear()
        #expect(try Self.engine.run(rootPath: root.path, options: Self.options()).result == .committed)
    }
}
