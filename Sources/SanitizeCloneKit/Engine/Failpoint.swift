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

    /// Fires when `task` reaches `point`: kills the process or throws `FailpointError`.
    func trigger(task: String, at point: Point) throws {
        guard task == self.task, point == self.point else { return }
        switch effect {
        case .crash:
            kill(getpid(), SIGKILL)
            pause()
        case .error:
            throw FailpointError(description: "failpoint \(task):\(point) fired")
        }
    }
}

/// The error a failpoint with effect `error` raises.
public struct FailpointError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
