/// A task with more tasks to run after than it declares itself: what a drop-in's `Before=` adds
/// to the task it names.
struct OrderedTask<Base: SanitizeTask>: SanitizeTask {
    let base: Base
    let extraRunsAfter: [String]

    var name: String { base.name }
    var summary: String { base.summary }
    var runsAfter: [String] { base.runsAfter + extraRunsAfter }
    var plannedAfter: [String] { base.plannedAfter.filter { !extraRunsAfter.contains($0) } }
    var followedBy: [String] { base.followedBy }
    var expectedCost: TaskCost { base.expectedCost }
    var configurationKeys: [ConfigurationKey] { base.configurationKeys }

    func plan(in context: PlanningContext) throws -> TaskPlan<Base.Decision> { try base.plan(in: context) }
    func prepare(_ decision: Base.Decision) throws { try base.prepare(decision) }
    func apply(_ decision: Base.Decision, in context: ApplyContext) throws { try base.apply(decision, in: context) }
    func verify(_ decision: Base.Decision, in context: ApplyContext) throws { try base.verify(decision, in: context) }
    func afterCommit(_ decision: Base.Decision, in context: ApplyContext) throws { try base.afterCommit(decision, in: context) }
}

extension TaskGraph {
    /// `tasks` plus the drop-ins, with each drop-in's `Before=` turned into a dependency of the
    /// task it names. Throws `InputError` when a drop-in names an unknown task or its name is taken.
    static func including(_ dropIns: [DropInTask], in tasks: [any SanitizeTask]) throws -> [any SanitizeTask] {
        let names = Set(tasks.map(\.name))
        for dropIn in dropIns where names.contains(dropIn.name) {
            throw InputError("\(dropIn.file): the name \(dropIn.name) is a built-in task's (rename the file)")
        }
        let all = tasks + dropIns.map { $0 as any SanitizeTask }
        let known = Set(all.map(\.name))
        var extra: [String: [String]] = [:]
        for dropIn in dropIns {
            for target in dropIn.before {
                guard known.contains(target) else { throw InputError("\(dropIn.file): Before=\(target) names no task (see 'sanitize-clone tasks')") }
                extra[target, default: []].append(dropIn.name)
            }
        }
        return all.map { task in
            guard let after = extra[task.name] else { return task }
            return ordered(task, after: after)
        }
    }

    private static func ordered<T: SanitizeTask>(_ task: T, after: [String]) -> any SanitizeTask {
        OrderedTask(base: task, extraRunsAfter: after)
    }
}
