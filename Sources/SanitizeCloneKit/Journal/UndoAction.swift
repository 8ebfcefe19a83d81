/// How to reverse one change, recorded durably in the journal *before* the change is made.
///
/// Every action is idempotent, so recovery can replay all of a run's actions in reverse order
/// without knowing which changes actually happened before a crash.
public enum UndoAction: Codable, Sendable, Equatable {
    /// Put a path back as it was (file contents and attributes, symlink, or absence).
    case restore(PathSnapshot)
    /// Run an inverse command on the host (e.g. set a filesystem UUID back). `program` is an
    /// absolute path; `chrootIntoRoot` runs it inside the root instead.
    case runCommand(program: String, arguments: [String], chrootIntoRoot: Bool)
    /// Set the running kernel's hostname back (live system only).
    case setKernelHostname(String)
    /// Set the UUID of the device that has `from` back to `to` (a no-op when a device has `to`).
    case setFilesystemUUID(type: String, from: String, to: String)

    /// The path the action touches inside the root, if any, for validation and messages.
    public var path: String? {
        if case .restore(let snapshot) = self { return snapshot.path }
        return nil
    }

    /// A human description, e.g. "restore /etc/hostname".
    public var summary: String {
        switch self {
        case .restore(let snapshot):
            switch snapshot.state {
            case .absent: return "remove \(snapshot.path)"
            case .symlink(let target): return "relink \(snapshot.path) → \(target)"
            default: return "restore \(snapshot.path)"
            }
        case .runCommand(let program, let arguments, _): return "run \(([program] + arguments).joined(separator: " "))"
        case .setKernelHostname(let name): return "set the running hostname back to \(name)"
        case .setFilesystemUUID(let type, let from, let to): return "set the \(type) UUID \(from) back to \(to)"
        }
    }
}
