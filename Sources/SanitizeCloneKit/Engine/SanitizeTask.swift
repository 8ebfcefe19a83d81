import Synchronization

/// One unit of the sanitizing work: a single identity (machine-id, hostname, SSH host keys, …).
///
/// A task is small and complete. `plan` only reads the root and says every change it would make
/// (the same list a dry-run prints) and how each is undone; `apply` makes exactly those changes
/// after the engine has journaled their undo information; `verify` proves the result. The engine
/// knows no task by name: adding a task is one file and one line in `TaskRegistry`.
public protocol SanitizeTask: Sendable {
    /// What `plan` decided and `apply` carries out (new values, paths, key types…).
    associatedtype Decision: Sendable

    /// The task's name on the command line and in the journal, e.g. "machine-id".
    var name: String { get }
    /// One line for `sanitize-clone tasks`.
    var summary: String { get }
    /// Tasks that must be planned and applied before this one.
    var runsAfter: [String] { get }
    /// Tasks whose *planned* values this one uses (the new hostname for a key comment): it is
    /// planned after them but may apply at the same time, so slow work starts at once.
    var plannedAfter: [String] { get }
    /// Tasks that finish this one's work whenever it runs (rebuilding the initramfs after a change
    /// to a file it embeds): selected with it, after it; skipping one while this one runs is
    /// refused.
    var followedBy: [String] { get }
    /// A rough cost, so the engine starts the longest job first and hides the rest behind it.
    var expectedCost: TaskCost { get }
    /// The configuration keys this task reads, so unknown keys are errors.
    var configurationKeys: [ConfigurationKey] { get }
    /// The kinds of inverse this task's changes that are not files journal (`Change.Undo.inverse`).
    var undoKinds: [any UndoKind] { get }

    /// Reads the root and returns the changes to make. Pure: changes nothing anywhere.
    /// Throws `InputError` for bad input (exit 2) or `MissingProgramError`.
    func plan(in context: PlanningContext) throws -> TaskPlan<Decision>

    /// Work that changes no file in the root and may start before the journal: key generation
    /// outside the root (so it overlaps the journaling), or taking out of the way what would block
    /// a change (systemd's read-only transient machine-id mount). Called after the plan is
    /// accepted, before preflight and journaling. Optional.
    func prepare(_ decision: Decision) throws

    /// Makes the planned changes, calling `context.changeApplied(_:)` after each one.
    /// Undo information is already durable when this is called.
    func apply(_ decision: Decision, in context: ApplyContext) throws

    /// Checks that the applied result is whole and consistent; throws `VerificationError`.
    func verify(_ decision: Decision, in context: ApplyContext) throws

    /// After the run committed: let running services pick the change up (e.g. restart sshd over
    /// the bus on a live system). A failure here is reported, never rolled back. Optional.
    func afterCommit(_ decision: Decision, in context: ApplyContext) throws

    /// What `sanitize-clone verify` checks of this task's identity on a clone: that it is valid,
    /// consistent and not the template's. Reads only. Optional.
    func cloneChecks(in context: VerificationContext) throws -> [CloneCheck]

    /// Fail-forward on a sealed clone whose first-boot run failed: creates what the clone needs to
    /// stay reachable where it is missing (never replacing anything, not journaled), by the same
    /// policy `apply` follows. Returns the paths created. Optional.
    func createMissing(in root: RootDirectory, configuration: Configuration) throws -> [String]
}

extension SanitizeTask {
    public var runsAfter: [String] { [] }
    public var plannedAfter: [String] { [] }
    public var followedBy: [String] { [] }
    public var expectedCost: TaskCost { .small }
    public var configurationKeys: [ConfigurationKey] { [] }
    public var undoKinds: [any UndoKind] { [] }
    public func prepare(_ decision: Decision) throws {}
    public func afterCommit(_ decision: Decision, in context: ApplyContext) throws {}
    public func cloneChecks(in context: VerificationContext) throws -> [CloneCheck] { [] }
    public func createMissing(in root: RootDirectory, configuration: Configuration) throws -> [String] { [] }
}

/// A value set once a run is under way and read later (e.g. work started by `prepare`), shared
/// between the copies of a task's decision.
public final class SharedSlot<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    public init() {}
    public func get() -> Value? { value.withLock { $0 } }
    public func set(_ newValue: Value?) { value.withLock { $0 = newValue } }
}

/// How long a task is expected to take, for scheduling only.
public enum TaskCost: Int, Sendable, Comparable {
    case small = 1, medium = 10, large = 100
    public static func < (lhs: TaskCost, rhs: TaskCost) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What a task's `plan` returns: changes and the decision behind them, or a reason to skip.
public struct TaskPlan<Decision: Sendable>: Sendable {
    public var changes: [Change]
    public var decision: Decision?
    /// Why the task does nothing (shown in the plan and in `reason` of the JSON).
    public var skipReason: String?
    /// Things an administrator should know that are not changes (e.g. certificates removed).
    public var notes: [String]

    /// A plan that makes `changes`.
    public init(changes: [Change], decision: Decision, notes: [String] = []) {
        self.changes = changes
        self.decision = decision
        self.skipReason = nil
        self.notes = notes
    }

    /// A plan that does nothing, for `reason`.
    public static func skip(_ reason: String, notes: [String] = []) -> TaskPlan {
        var plan = TaskPlan(changes: [], decision: nil as Decision?)
        plan.skipReason = reason
        plan.notes = notes
        return plan
    }

    private init(changes: [Change], decision: Decision?) {
        self.changes = changes
        self.decision = decision
        self.notes = []
    }
}

/// One change a task will make, as the plan shows it and the journal undoes it.
public struct Change: Sendable {
    /// How the engine undoes the change.
    public enum Undo: Sendable {
        /// Snapshot the path before the change and restore it on undo. With `followingSymlinks`
        /// the file a symlink leads to is saved (a write through the link); without, the link.
        case restorePath(followingSymlinks: Bool)
        /// An inverse of a kind the task registers in `undoKinds`, with the values it needs (never
        /// a program or a device: the kind finds its device within the run's `DeviceScope`).
        case inverse(kind: String, values: [String])
        /// An inverse that needs bytes the change replaces outside the root (a file on a FAT
        /// volume written through mtools): the engine appends `backup` to the run's `files` pack
        /// with the undo records, and journals `values` followed by the pack's name, the offset,
        /// the length and the SHA-256 of the copy; the kind reads it back through
        /// `UndoContext.backup`.
        case inverseKeeping(kind: String, values: [String], backup: [UInt8])
        /// Nothing to journal: the change's effects are undone by the task's other changes (a
        /// drop-in's `Exec=` is undone by restoring its `Backup=` paths).
        case coveredByOtherChanges
    }

    /// The path concerned, inside the root (for a non-file change, what it acts on).
    public var path: String
    /// A short verb: write, create, delete, symlink, exec, set-hostname, set-uuid…
    public var action: String
    /// The value before (nil: none); shown as "<secret>" when `isSecret`.
    public var old: String?
    /// The value after (nil: none); shown as "<secret>" when `isSecret`.
    public var new: String?
    /// True when old or new is a secret: values are never printed or logged, and the backup is
    /// shredded after a boot-time commit.
    public var isSecret: Bool
    /// True for a file that goes with a secret (a public key): when the secret's backup was
    /// shredded, a rollback leaves this one as the run left it too, so the pair stays whole.
    public var isTiedToSecret = false
    /// A unified diff for text files.
    public var diff: String?
    public var undo: Undo

    public init(path: String, action: String, old: String?, new: String?, isSecret: Bool = false,
                diff: String? = nil, undo: Undo = .restorePath(followingSymlinks: true)) {
        self.path = path
        self.action = action
        self.old = old
        self.new = new
        self.isSecret = isSecret
        self.diff = diff
        self.undo = undo
    }

    /// The old value as it may be shown or logged.
    public var displayedOld: String? { isSecret && old != nil ? "<secret>" : old }
    /// The new value as it may be shown or logged.
    public var displayedNew: String? { isSecret && new != nil ? "<secret>" : new }
}

/// Bad input found while planning: invalid hostname, malformed file… (exit 2, nothing changed).
public struct InputError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// The applied result does not hold (the task fails and the run rolls back).
public struct VerificationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
