#if canImport(Glibc)
import Glibc
#endif

/// A place where a test makes a run crash or fail: `SANITIZE_CLONE_FAILPOINT=<task>:<point>:<effect>`.
///
/// For tests only. Points: `before-apply`, `after-apply`, `change-N` (right after the task's N-th
/// change, before its next journal record) and `undo-N` (during rollback, after the task's N-th
/// undo). Effects: `crash` (SIGKILL, as a power cut) and `error` (the step fails).
public struct Failpoint: Sendable, Equatable {
    /// Where in a task the failpoint fires.
    public enum Point: Sendable, Equatable {
        case beforeApply, afterApply, change(Int), undo(Int)

        /// As written in `SANITIZE_CLONE_FAILPOINT`.
        var text: String {
            switch self {
            case .beforeApply: "before-apply"
            case .afterApply: "after-apply"
            case .change(let n): "change-\(n)"
            case .undo(let n): "undo-\(n)"
            }
        }
    }
    /// What happens there: SIGKILL (a power cut) or a thrown error.
    public enum Effect: String, Sendable { case crash, error }

    public let task: String
    public let point: Point
    public let effect: Effect

    /// Parses "task:point:effect"; throws `InputError` on anything else.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 3, let effect = Effect(rawValue: parts[2]) else {
            throw InputError("SANITIZE_CLONE_FAILPOINT=\(text): expected <task>:<point>:<crash|error>")
        }
        guard !parts[0].isEmpty, parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw InputError("SANITIZE_CLONE_FAILPOINT=\(text): '\(parts[0])' is not a task name (see 'sanitize-clone tasks')")
        }
        task = parts[0]
        self.effect = effect
        switch parts[1] {
        case "before-apply": point = .beforeApply
        case "after-apply": point = .afterApply
        case let other where other.hasPrefix("change-"):
            guard let n = Int(other.dropFirst(7)), n > 0 else { throw InputError("SANITIZE_CLONE_FAILPOINT: bad point \(other)") }
            point = .change(n)
        case let other where other.hasPrefix("undo-"):
            guard let n = Int(other.dropFirst(5)), n > 0 else { throw InputError("SANITIZE_CLONE_FAILPOINT: bad point \(other)") }
            point = .undo(n)
        default:
            throw InputError("SANITIZE_CLONE_FAILPOINT: unknown point \(parts[1]) (before-apply, after-apply, change-N, undo-N)")
        }
    }

    /// What a failpoint can reach in one task of a run (or of the run a rollback undoes).
    public struct Reach: Sendable {
        public var task: String
        /// False for a task the run skips, and in a rollback: before-apply, after-apply and
        /// change-N never fire there.
        public var applies: Bool
        public var changes: Int
        /// The undo records the task journals (a change covered by another's snapshot has none).
        public var undos: Int
    }

    /// Throws `InputError` (exit 2) unless this failpoint fires in a run that reaches `tasks`: a
    /// failpoint that cannot fire would let a crash test pass without crashing anything.
    public func requireReachable(in tasks: [Reach]) throws {
        let names = tasks.map(\.task).joined(separator: ", ")
        guard let reach = tasks.first(where: { $0.task == task }) else {
            throw InputError("SANITIZE_CLONE_FAILPOINT: task '\(task)' is not in this run (it runs: \(names.isEmpty ? "none" : names))")
        }
        let fires: Bool
        switch point {
        case .beforeApply, .afterApply: fires = reach.applies
        case .change(let n): fires = reach.applies && n <= reach.changes
        case .undo(let n): fires = n <= reach.undos
        }
        guard fires else {
            throw InputError("SANITIZE_CLONE_FAILPOINT: \(task):\(point.text) can never fire here (\(reach.applies ? "\(task) makes \(reach.changes) change(s)" : "\(task) applies nothing here") and journals \(reach.undos) undo record(s)); pick a point from 'sanitize-clone plan --json'")
        }
    }

    /// Fires when `task` reaches `point`: kills the process or throws `FailpointError`.
    func trigger(task: String, at point: Point) throws {
        guard task == self.task, point == self.point else { return }
        switch effect {
        case .crash:
            try System.kill(getpid(), SIGKILL)
            System.pauseUntilSignal()
        case .error:
            throw FailpointError(description: "failpoint \(task):\(point) fired")
        }
    }
}

/// The error a failpoint with effect `error` raises.
public struct FailpointError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
