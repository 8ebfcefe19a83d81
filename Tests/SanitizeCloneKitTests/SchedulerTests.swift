import Foundation
import Logging
import Testing
@testable import SanitizeCloneKit

/// The engine starts every planned task whose dependencies are done, however quickly they finish.
/// A skipped task finishes at once, on another thread: before the fix, one that finished between
/// the scheduler handing out the ready tasks and the loop asking whether any still ran ended the
/// loop, and the task after it was never applied — while the run said "committed" (found by the
/// initramfs task's fault test: 1 run in 11 committed without it).
@Suite("Scheduler", .requiresFileOwnership)
struct SchedulerTests {
    /// Skips (nothing to change) after `after`.
    struct Skipping: SanitizeTask {
        let name: String
        let runsAfter: [String]
        let summary = "skips"
        func plan(in context: PlanningContext) throws -> TaskPlan<Int> { .skip("nothing here") }
        func apply(_ decision: Int, in context: ApplyContext) throws {}
        func verify(_ decision: Int, in context: ApplyContext) throws {}
    }

    /// Writes one file, after `runsAfter`.
    struct Writing: SanitizeTask {
        let name = "writes"
        let runsAfter: [String]
        let summary = "writes /etc/written"
        func plan(in context: PlanningContext) throws -> TaskPlan<Int> {
            TaskPlan(changes: [Change(path: "/etc/written", action: "create", old: nil, new: "x", undo: .restorePath(followingSymlinks: false))], decision: 0)
        }
        func apply(_ decision: Int, in context: ApplyContext) throws {
            try context.root.writeFileAtomically("/etc/written", contents: Array("x\n".utf8), attributes: FileAttributes(mode: 0o644))
            try context.changeApplied(0)
        }
        func verify(_ decision: Int, in context: ApplyContext) throws {}
    }

    @Test("a task after a chain of tasks that skip is applied in every one of 40 runs")
    func taskAfterSkippedTasksRuns() throws {
        let tasks: [any SanitizeTask] = [Skipping(name: "first", runsAfter: []), Skipping(name: "second", runsAfter: ["first"]),
                                         Skipping(name: "third", runsAfter: ["second"]), Writing(runsAfter: ["first", "third"])]
        let engine = RunEngine(tasks: tasks, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        for attempt in 1...40 {
            let root = try FixtureRoot.debianLike()
            defer { root.remove() }
            let report = try engine.run(rootPath: root.path, options: RunOptions())
            let statuses = report.tasks.map { "\($0.name) \($0.status)" }
            #expect(report.result == .committed && statuses.last == "writes applied" && root.exists("/etc/written"), "run \(attempt): \(statuses)")
            guard root.exists("/etc/written") else { break }
        }
    }
}
