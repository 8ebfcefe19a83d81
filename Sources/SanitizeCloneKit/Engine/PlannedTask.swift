/// A task together with its plan, with the task's own decision type erased so the engine can
/// hold tasks of every kind in one list.
struct PlannedTask: Sendable {
    let name: String
    let runsAfter: [String]
    let cost: TaskCost
    let changes: [Change]
    let skipReason: String?
    let notes: [String]
    private let prepareBody: @Sendable () throws -> Void
    private let applyBody: @Sendable (ApplyContext) throws -> Void
    private let verifyBody: @Sendable (ApplyContext) throws -> Void
    private let afterCommitBody: @Sendable (ApplyContext) throws -> Void

    /// Plans `task` in `context`.
    init(planning task: some SanitizeTask, in context: PlanningContext) throws {
        let plan = try task.plan(in: context)
        name = task.name
        runsAfter = task.runsAfter
        cost = task.expectedCost
        notes = plan.notes
        if let decision = plan.decision, plan.skipReason == nil {
            // The one place every task's diffs pass before anything shows them.
            changes = try plan.changes.map { try $0.redactingSecrets(in: context.root) }
            skipReason = plan.changes.isEmpty ? "nothing to change" : nil
            prepareBody = { try task.prepare(decision) }
            applyBody = { try task.apply(decision, in: $0) }
            verifyBody = { try task.verify(decision, in: $0) }
            afterCommitBody = { try task.afterCommit(decision, in: $0) }
        } else {
            changes = []
            skipReason = plan.skipReason ?? "nothing to change"
            prepareBody = {}
            applyBody = { _ in }
            verifyBody = { _ in }
            afterCommitBody = { _ in }
        }
    }

    func prepare() throws { try prepareBody() }
    func apply(_ context: ApplyContext) throws { try applyBody(context) }
    func verify(_ context: ApplyContext) throws { try verifyBody(context) }
    func afterCommit(_ context: ApplyContext) throws { try afterCommitBody(context) }

    /// The report before anything is applied.
    var initialReport: RunReport.TaskReport {
        RunReport.TaskReport(name: name, status: skipReason == nil ? .planned : .skipped, durationMilliseconds: 0,
                             changes: changes, reason: skipReason, notes: notes, error: nil)
    }
}
