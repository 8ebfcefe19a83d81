#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Logging
import Synchronization

/// Receives progress while a run applies (the terminal view of `run`).
public protocol RunObserver: Sendable {
    func taskStarted(_ name: String)
    func taskFinished(_ name: String, status: RunReport.TaskReport.Status, milliseconds: Int, detail: String?)
    func message(_ text: String)
}

/// Runs the task graph against a root: recover, plan, journal, apply, verify, commit — or undo.
///
/// The engine knows tasks only through `SanitizeTask`. Before the first change it journals how to
/// undo every change of the run (one sync for all backups, one for the records); a failure then
/// undoes everything in reverse order, and a crash is undone by the next run.
public struct RunEngine: Sendable {
    public let tasks: [any SanitizeTask]
    public let logger: Logger

    /// Keys the engine itself reads.
    public static let engineKeys: [ConfigurationKey] = [
        .number(section: "Journal", name: "KeepRuns", summary: "How many finished runs keep their journal and backups", defaultValue: 3, range: 0...100),
        ConfigurationKey(section: "Run", name: "SkipTasks", summary: "Tasks never run (space-separated names)", defaultValue: ""),
        .boolean(section: "Boot", name: "RebootAfterMachineIDChange",
                 summary: "Reboot once after a boot-time run changed the machine-id PID 1 and journald already use, or left filesystem UUIDs to the next boot", defaultValue: true),
    ]

    public init(tasks: [any SanitizeTask], logger: Logger) {
        self.tasks = tasks
        self.logger = logger
    }

    /// The undo kinds the tasks register: the only inverses a journal may hold besides file restores.
    public var undoKinds: UndoKinds { UndoKinds(tasks.flatMap(\.undoKinds)) }

    /// Which journals of `root` this machine may follow (`image`: the disk image mounted there).
    /// With `creatingKey`, this machine's key is made when it has none (a run that journals).
    func trust(for root: RootDirectory, image: String?, creatingKey: Bool) throws -> JournalTrust {
        JournalTrust(key: creatingKey ? try JournalKey.loadOrCreate() : try JournalKey.load(),
                     binding: try JournalTrust.binding(of: root, image: image), undoKinds: undoKinds)
    }

    /// The block devices a run on `root` may change: the image's (and its table, `image`), else
    /// `DeviceScope.of`.
    func deviceScope(of root: RootDirectory, blockDevices: [BlockDeviceIdentity]?, named: [String], image: String?) throws -> DeviceScope {
        if let blockDevices { return .image(blockDevices, file: image) }
        return try DeviceScope.of(root, named: named)
    }

    /// Every configuration key: the engine's and each task's.
    public var configurationKeys: [ConfigurationKey] { Self.engineKeys + tasks.flatMap(\.configurationKeys) }

    /// The tasks in execution order, with the drop-in tasks of the root at `rootPath` when given.
    public func orderedTasks(includingDropInsOf rootPath: String? = nil) throws -> [any SanitizeTask] {
        guard let rootPath else { return try TaskGraph.order(tasks) }
        return try TaskGraph.order(TaskGraph.including(DropInTask.load(from: openRoot(rootPath)), in: tasks))
    }

    /// Runs (or with `options.dryRun`, plans) the graph against `rootPath`.
    ///
    /// Returns the report for outcomes 0, 1 and 4. Throws for refusals before any change (exit 2:
    /// `InputError`, `MissingProgramError`, `SystemError`…), `LockHeldError` (exit 5), and
    /// `CorruptJournalError`/`RollbackIncompleteError` from recovery (exit 4).
    public func run(rootPath: String, options: RunOptions, observer: (any RunObserver)? = nil) throws -> RunReport {
        let started = Clock.monotonicNanoseconds()
        let root = try openRoot(rootPath)
        let configuration = try Configuration.load(from: root, keys: configurationKeys, mainFileOverride: options.configFile)
        let selected = try selectTasks(from: try TaskGraph.including(DropInTask.load(from: root), in: tasks),
                                       options: options, configuration: configuration)
        let runID = Self.newRunID()
        let audit = Audit(logger: logger, runID: runID)

        let scope = try deviceScope(of: root, blockDevices: options.blockDevices, named: options.devices, image: options.image)
        var lock: RunLock?
        var recovered: [String] = []
        var trust: JournalTrust?
        if !options.dryRun {
            lock = try RunLock(in: root)
            let trusted = try self.trust(for: root, image: options.image, creatingKey: true)
            trust = trusted
            recovered = try FaultInjection.within("recover") {
                try recoverUnfinishedRuns(in: root, trust: trusted, scope: scope, mode: options.mode, failpoint: options.failpoint, observer: observer)
            }
        }
        defer { withExtendedLifetime(lock) {} }

        let planningContext = PlanningContext(root: root, configuration: configuration, options: options, deviceScope: scope)
        var planned: [PlannedTask] = []
        for task in selected {
            do {
                planned.append(try FaultInjection.within("plan") { try PlannedTask(planning: task, in: planningContext) })
            } catch let error as InputError {
                throw error
            } catch {
                throw InputError("\(task.name): \(error)")
            }
        }

        if let failpoint = options.failpoint { try requireReachable(failpoint, in: planned, root: root) }

        var report = RunReport(runID: runID, dryRun: options.dryRun, result: .planned, tasks: planned.map(\.initialReport),
                               durationMilliseconds: 0, recoveredRuns: recovered, remaining: [])
        guard let trust else {
            report.durationMilliseconds = Clock.millisecondsSince(started)
            return report
        }

        // prepare before preflight: a task may first take out of the way what blocks its change
        // (systemd's read-only transient machine-id mount); key generation starts outside the root.
        for task in planned where task.skipReason == nil { try task.prepare() }
        try preflight(planned, in: root)
        let journal = try FaultInjection.within("journal") {
            try startJournal(runID: runID, planned: planned, root: root, trust: trust, mode: options.mode, audit: audit)
        }
        let appliedRoot = try root.withTemporaryTag(runID, deferringDirectorySyncs: true)
        let outcomes = apply(planned, root: appliedRoot, journal: journal, options: options, audit: audit, observer: observer)
        for (index, task) in planned.enumerated() {
            if let outcome = outcomes[task.name] { report.tasks[index].apply(outcome) }
        }

        // The commit record is the run's last change: when it cannot be made durable, the run is
        // undone like a failed task's, never left half-recorded.
        var commitFailure: String?
        if !outcomes.values.contains(where: { $0.status == .failed }) {
            do {
                try FaultInjection.within("commit") {
                    try commit(journal: journal, root: root, configuration: configuration, mode: options.mode, audit: audit, planned: planned)
                }
            } catch {
                commitFailure = "the run's commit could not be recorded: \(error)"
                audit.record(.taskFailed, "Run \(runID): \(commitFailure!); undoing every change")
            }
        }
        if outcomes.values.contains(where: { $0.status == .failed }) || commitFailure != nil {
            let remaining: [String]
            do {
                remaining = try FaultInjection.within("undo") {
                    try rollBack(journal: journal, root: appliedRoot, scope: scope, audit: audit, failpoint: options.failpoint)
                }
            } catch {
                throw RollbackIncompleteError(runID: runID, remaining: ["the rollback itself failed: \(error)"])
            }
            for index in report.tasks.indices {
                switch report.tasks[index].status {
                case .applied: report.tasks[index].status = .rolledBack
                case .planned: report.tasks[index].status = .skipped; report.tasks[index].reason = "not run: an earlier task failed"
                default: break
                }
            }
            report.result = remaining.isEmpty ? .rolledBack : .failed
            report.remaining = remaining
            report.failure = commitFailure
        } else {
            for task in planned where outcomes[task.name]?.status == .applied {
                let context = ApplyContext(root: appliedRoot, runID: runID, taskName: task.name, mode: options.mode, audit: audit) { _, _ in }
                do {
                    try task.afterCommit(context)
                } catch {
                    audit.record(.notice, "\(task.name): committed, but \(error)", task: task.name)
                }
            }
            report.result = .committed
        }
        report.durationMilliseconds = Clock.millisecondsSince(started)
        return report
    }

    // MARK: Steps

    func openRoot(_ path: String) throws -> RootDirectory {
        do {
            return try RootDirectory(path: path)
        } catch let error as SystemError {
            throw InputError("--root \(path): \(error.reason) (give the directory where the clone's root is mounted, e.g. 'sanitize-clone plan --root /mnt/clone')")
        }
    }

    /// The tasks to run, in order: all, or `--only`, less `--skip` and `[Run] SkipTasks=`.
    func selectTasks(from all: [any SanitizeTask], options: RunOptions, configuration: Configuration) throws -> [any SanitizeTask] {
        let ordered = try TaskGraph.order(all)
        let known = Set(ordered.map(\.name))
        let configuredSkips = configuration.value("Run", "SkipTasks").split(separator: " ").map(String.init)
        for name in (options.only ?? []) + options.skip + configuredSkips where !known.contains(name) {
            throw InputError("unknown task '\(name)' (see 'sanitize-clone tasks' for the names)")
        }
        var selected = Set(ordered.filter { task in
            (options.only.map { $0.contains(task.name) } ?? !configuredSkips.contains(task.name)) && !options.skip.contains(task.name)
        }.map(\.name))
        // The tasks that finish a selected task's work come with it.
        for task in ordered where selected.contains(task.name) {
            for follower in task.followedBy where !selected.contains(follower) {
                if options.skip.contains(follower) || (options.only == nil && configuredSkips.contains(follower)) {
                    throw InputError("the task '\(task.name)' needs '\(follower)' to finish its work: skip both, or neither")
                }
                selected.insert(follower)
            }
        }
        return ordered.filter { selected.contains($0.name) }
    }

    /// Refuses, before any change, a run that cannot complete: read-only or immutable targets,
    /// too little space for the backups.
    func preflight(_ planned: [PlannedTask], in root: RootDirectory) throws {
        var backupBytes: Int64 = 0
        for change in planned.flatMap(\.changes) {
            if case .inverseKeeping(_, _, let backup) = change.undo { backupBytes += Int64(backup.count) }
            guard case .restorePath = change.undo else { continue }
            try root.checkChangeable(change.path)
            if let status = try root.followedStatus(of: change.path), status.kind == .regular { backupBytes += status.size }
        }
        try root.checkChangeable(StateDirectory.path)
        let needed = backupBytes * 2 + 1 << 20
        if try root.availableBytes(near: StateDirectory.path) < needed {
            throw SystemError(code: ENOSPC, operation: "journal the run (\(needed / 1024) KiB needed for backups) under", path: StateDirectory.path)
        }
    }

    /// The planned changes that journal an undo record, in order, with the canonical path a
    /// snapshot saves (nil for an inverse). A path an earlier change already snapshots is
    /// journaled once; a change covered by the task's other changes journals nothing.
    func journaledChanges(_ planned: [PlannedTask], root: RootDirectory) throws -> [(task: PlannedTask, change: Change, path: String?)] {
        var result: [(task: PlannedTask, change: Change, path: String?)] = []
        var snapshotted = Set<String>()
        for task in planned {
            for change in task.changes {
                switch change.undo {
                case .restorePath(let follow):
                    let path = follow ? try root.canonicalPath(change.path) : RootPath.normalized(change.path)
                    guard snapshotted.insert(path).inserted else { continue }
                    result.append((task, change, path))
                case .inverse, .inverseKeeping:
                    result.append((task, change, nil))
                case .coveredByOtherChanges:
                    continue
                }
            }
        }
        return result
    }

    /// Throws `InputError` (exit 2) unless `failpoint` can fire in this run.
    func requireReachable(_ failpoint: Failpoint, in planned: [PlannedTask], root: RootDirectory) throws {
        let journaled = try journaledChanges(planned, root: root)
        try failpoint.requireReachable(in: planned.map { task in
            Failpoint.Reach(task: task.name, applies: task.skipReason == nil, changes: task.changes.count,
                            undos: journaled.filter { $0.task.name == task.name }.count)
        })
    }

    /// Creates the journal and makes the undo information of every planned change durable.
    /// On failure nothing has been changed: the run directory is removed and the error rethrown.
    func startJournal(runID: String, planned: [PlannedTask], root: RootDirectory, trust: JournalTrust, mode: RunOptions.Mode,
                      audit: Audit) throws -> RollbackJournal {
        let journal = try RollbackJournal(root: root, runID: runID, trust: trust, first: JournalRecord(.runStarted, detail: mode.rawValue))
        do {
            var records: [JournalRecord] = []
            for (sequence, entry) in try journaledChanges(planned, root: root).enumerated() {
                let action: UndoAction
                switch entry.change.undo {
                case .inverse(let kind, let values):
                    action = .inverse(kind: kind, values: values)
                    try trust.undoKinds.validate(action)
                case .inverseKeeping(let kind, let values, let backup):
                    let location = try journal.keep(backup)
                    action = .inverse(kind: kind, values: values + [location.file, String(location.offset), String(location.length),
                                                                    SHA256.hex(backup)])
                    try trust.undoKinds.validate(action)
                default:
                    var snapshot = try journal.snapshot(entry.path ?? entry.change.path, secret: entry.change.isSecret)
                    if entry.change.isTiedToSecret { snapshot.tiedToSecret = true }
                    action = .restore(snapshot)
                }
                records.append(JournalRecord(.undo, task: entry.task.name, sequence: sequence + 1, undo: action))
            }
            try journal.syncBackups()
            try journal.append(records, sync: true)
            try journal.syncDirectories()
        } catch {
            try? root.removeTree(journal.directory)
            throw error
        }
        audit.record(.runStarted, "Run \(runID) started on \(root.hostPath) (\(mode.rawValue))",
                     extra: ["SANITIZE_ROOT": root.hostPath, "SANITIZE_MODE": mode.rawValue])
        return journal
    }

    /// Applies the planned tasks, independent ones concurrently (longest first), and returns
    /// each started task's outcome. Stops starting tasks after the first failure.
    func apply(_ planned: [PlannedTask], root: RootDirectory, journal: RollbackJournal, options: RunOptions,
               audit: Audit, observer: (any RunObserver)?) -> [String: TaskOutcome] {
        let scheduler = Scheduler(planned: planned, limit: max(1, options.concurrency))
        let finished = DispatchSemaphore(value: 0)
        let owner = Syscall.currentOwner()
        while true {
            let started = scheduler.takeReady()
            for task in started {
                DispatchQueue.global().async {
                    let outcome = Syscall.onBehalf(of: owner) {
                        FaultInjection.within(task.name) {
                            applyOne(task, root: root, journal: journal, options: options, audit: audit, observer: observer)
                        }
                    }
                    scheduler.finish(task.name, outcome: outcome)
                    finished.signal()
                }
            }
            // Done only when nothing runs and nothing is ready: a task that finished after
            // takeReady() (a skipped one finishes at once) may have made the next one ready.
            if started.isEmpty && !scheduler.isRunning {
                if scheduler.hasReady { continue }
                break
            }
            finished.wait()
        }
        return scheduler.outcomes
    }

    /// Applies and verifies one task, journaling and auditing each change.
    func applyOne(_ task: PlannedTask, root: RootDirectory, journal: RollbackJournal, options: RunOptions,
                  audit: Audit, observer: (any RunObserver)?) -> TaskOutcome {
        let started = Clock.monotonicNanoseconds()
        for note in task.notes { audit.record(.notice, "\(task.name): \(note)", task: task.name) }
        if let reason = task.skipReason {
            audit.record(.taskSkipped, "\(task.name): skipped (\(reason))", task: task.name)
            observer?.taskFinished(task.name, status: .skipped, milliseconds: 0, detail: reason)
            return TaskOutcome(status: .skipped, milliseconds: 0, error: nil)
        }
        observer?.taskStarted(task.name)
        let failpoint = options.failpoint
        let actualValues = Mutex<[Int: String]>([:])
        let context = ApplyContext(root: root, runID: journal.runID, taskName: task.name, mode: options.mode, audit: audit) { index, actualNew in
            try failpoint?.trigger(task: task.name, at: .change(index + 1))
            try journal.append([JournalRecord(.changeApplied, task: task.name, sequence: index + 1)], sync: false)
            if task.changes.indices.contains(index) {
                var change = task.changes[index]
                if let actualNew, !change.isSecret {
                    change.new = actualNew
                    actualValues.withLock { $0[index] = actualNew }
                }
                audit.record(.changeApplied, "\(task.name): \(change.action) \(change.path)", task: task.name, path: change.path,
                             old: change.displayedOld, new: change.displayedNew, extra: ["SANITIZE_ACTION": change.action])
            }
        }
        do {
            try journal.append([JournalRecord(.taskStarted, task: task.name)], sync: false)
            try failpoint?.trigger(task: task.name, at: .beforeApply)
            try task.apply(context)
            try root.flushDirectorySyncs()
            try failpoint?.trigger(task: task.name, at: .afterApply)
            try task.verify(context)
            var fingerprints: [String: String] = [:]
            for change in task.changes {
                guard case .restorePath(let follow) = change.undo else { continue }
                let path = follow ? try root.canonicalPath(change.path) : RootPath.normalized(change.path)
                fingerprints[path] = try PathFingerprint.of(path, in: root)
            }
            try journal.append([JournalRecord(.taskApplied, task: task.name, fingerprints: fingerprints)], sync: false)
            let milliseconds = Clock.millisecondsSince(started)
            audit.record(.taskApplied, "\(task.name): \(task.changes.count) change(s) applied", task: task.name,
                         extra: ["SANITIZE_DURATION_MS": String(milliseconds)])
            observer?.taskFinished(task.name, status: .applied, milliseconds: milliseconds, detail: nil)
            return TaskOutcome(status: .applied, milliseconds: milliseconds, error: nil, actualNewValues: actualValues.withLock { $0 })
        } catch {
            let milliseconds = Clock.millisecondsSince(started)
            try? journal.append([JournalRecord(.taskFailed, task: task.name, detail: "\(error)")], sync: true)
            audit.record(.taskFailed, "\(task.name) failed: \(error)", task: task.name)
            observer?.taskFinished(task.name, status: .failed, milliseconds: milliseconds, detail: "\(error)")
            return TaskOutcome(status: .failed, milliseconds: milliseconds, error: "\(error)")
        }
    }

    /// Undoes every journaled change of a failed run; returns what could not be undone.
    func rollBack(journal: RollbackJournal, root: RootDirectory, scope: DeviceScope, audit: Audit, failpoint: Failpoint?) throws -> [String] {
        try undo(try StateDirectory.load(journal.runID, in: root, trust: journal.trust), in: root, trust: journal.trust, scope: scope,
                 audit: audit, failpoint: failpoint, skipSecrets: false)
    }

    /// Marks the run committed (throws when that record cannot be made durable: the caller
    /// undoes the run); a boot-time run then shreds its secret backups; old runs go.
    func commit(journal: RollbackJournal, root: RootDirectory, configuration: Configuration, mode: RunOptions.Mode,
                audit: Audit, planned: [PlannedTask]) throws {
        try journal.append([JournalRecord(.committed)], sync: true)
        if mode == .auto {
            do {
                let run = try StateDirectory.load(journal.runID, in: root, trust: journal.trust)
                let shredded = try SecretBackups.shred(run, in: root)
                if !shredded.isEmpty {
                    try journal.append([JournalRecord(.secretsShredded, detail: shredded.joined(separator: " "))], sync: true)
                }
            } catch {
                // The run is committed; only its backups keep the template's secrets until pruned.
                audit.record(.notice, "Run \(journal.runID) committed, but its secret backups could not be shredded (\(error)); remove them with 'sanitize-clone prune'")
            }
        }
        try? StateDirectory.applyRetention(keep: configuration.number("Journal", "KeepRuns"), in: root, trust: journal.trust)
        let changed = planned.reduce(0) { $0 + $1.changes.count }
        audit.record(.runCommitted, "Run \(journal.runID) committed: \(changed) change(s) in \(planned.filter { $0.skipReason == nil }.count) task(s)")
    }

    /// A new run id: UTC time, then the milliseconds and random hex ("20261127T052237-1f3a2c").
    /// The suffix starts with the milliseconds (3 hex digits), so ids sort by time even within one
    /// second: `rollback --last`, `status` and retention rely on that order.
    static func newRunID() -> String {
        let now = Clock.nowMilliseconds()
        let milliseconds = String(String(0x1000 + Int(now % 1000), radix: 16).dropFirst())
        return Clock.compactStamp(now) + "-" + milliseconds + String(String(Int.random(in: 0x1000...0x1fff), radix: 16).dropFirst())
    }
}

/// A started task's result.
struct TaskOutcome: Sendable {
    var status: RunReport.TaskReport.Status
    var milliseconds: Int
    var error: String?
    /// New values only known after the change (by change index).
    var actualNewValues: [Int: String] = [:]
}

extension RunReport.TaskReport {
    mutating func apply(_ outcome: TaskOutcome) {
        status = outcome.status
        durationMilliseconds = outcome.milliseconds
        error = outcome.error
        for (index, value) in outcome.actualNewValues where changes.indices.contains(index) {
            changes[index].new = value
        }
    }
}

/// Which planned tasks may start: dependencies applied (or not selected), longest first,
/// at most `limit` at once, none after a failure.
final class Scheduler: Sendable {
    private struct State {
        var waiting: [PlannedTask]
        var running = 0
        var outcomes: [String: TaskOutcome] = [:]
        var failed = false
    }
    private let state: Mutex<State>
    private let limit: Int
    private let selected: Set<String>

    init(planned: [PlannedTask], limit: Int) {
        state = Mutex(State(waiting: planned))
        self.limit = limit
        selected = Set(planned.map(\.name))
    }

    /// The waiting tasks whose dependencies are done (applied, skipped or not selected); none
    /// after a failure.
    private func ready(in state: State) -> [PlannedTask] {
        guard !state.failed else { return [] }
        let done = Set(state.outcomes.filter { $0.value.status == .applied || $0.value.status == .skipped }.keys)
        return state.waiting.filter { task in task.runsAfter.allSatisfy { !selected.contains($0) || done.contains($0) } }
    }

    func takeReady() -> [PlannedTask] {
        state.withLock { state in
            var ready = ready(in: state)
            ready.sort { $0.cost > $1.cost }
            let taken = Array(ready.prefix(max(0, limit - state.running)))
            state.waiting.removeAll { task in taken.contains { $0.name == task.name } }
            state.running += taken.count
            return taken
        }
    }

    func finish(_ name: String, outcome: TaskOutcome) {
        state.withLock { state in
            state.running -= 1
            state.outcomes[name] = outcome
            if outcome.status == .failed { state.failed = true }
        }
    }

    var outcomes: [String: TaskOutcome] { state.withLock { $0.outcomes } }

    /// True while a task is applying.
    var isRunning: Bool { state.withLock { $0.running > 0 } }

    /// True when `takeReady` would start a task now.
    var hasReady: Bool { state.withLock { !ready(in: $0).isEmpty } }
}
