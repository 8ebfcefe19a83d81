import Logging

/// The kinds of event every run leaves in journald, each with a fixed MESSAGE_ID that
/// `systemd/sanitize-clone.catalog` explains (`journalctl -x`).
public enum AuditEvent: String, Sendable, CaseIterable {
    case runStarted
    case changeApplied
    case taskApplied
    case taskSkipped
    case taskFailed
    case runRolledBack
    case runCommitted
    case recovery
    case rollbackIncomplete
    case changeUndone
    case notice

    /// The 128-bit MESSAGE_ID, as journalctl's `MESSAGE_ID=` filter takes it.
    public var messageID: String {
        switch self {
        case .runStarted: "86346d0fd5d9410a9bc40b8fbbb2eab4"
        case .changeApplied: "8bde2ab7827344e58820ce13339bb63e"
        case .taskApplied: "6dd7b0fe4d28439882f8ebd0ab465aac"
        case .taskSkipped: "372969626d324b479b79fd864c8841e8"
        case .taskFailed: "95433684aaf745a2a894a7e9b395eca7"
        case .runRolledBack: "27c15325b788433a92e01e1b0e58a5af"
        case .runCommitted: "ac32b14970f74fdb82bdb1d6d5c02cc8"
        case .recovery: "a23e61924cb04dc1b0ddf17992a48a92"
        case .rollbackIncomplete: "c11fb3c85d7e401fbea181dc336eb61e"
        case .changeUndone: "b28cc5675f144f14ab948600d986fea9"
        case .notice: "3a484801d7bb48e8809002f8a97bdf50"
        }
    }

    /// The journald priority (syslog level) of the event.
    public var level: Logger.Level {
        switch self {
        case .taskFailed, .rollbackIncomplete: .error
        case .runRolledBack, .recovery: .warning
        case .changeApplied, .changeUndone, .taskSkipped: .info
        case .runStarted, .taskApplied, .runCommitted, .notice: .notice
        }
    }
}

/// Writes audit events through swift-log with the journal fields as metadata; the executable
/// installs `JournaldLogHandler`, which turns them into structured journald entries.
public struct Audit: Sendable {
    public let logger: Logger
    public let runID: String

    public init(logger: Logger, runID: String) {
        self.logger = logger
        self.runID = runID
    }

    /// Logs `event` with `message` and fields. `old` and `new` must never be secrets: callers
    /// pass `Change.displayedOld/New`.
    public func record(_ event: AuditEvent, _ message: String, task: String? = nil, path: String? = nil,
                       old: String? = nil, new: String? = nil, extra: [String: String] = [:]) {
        var metadata: Logger.Metadata = [
            "MESSAGE_ID": .string(event.messageID),
            "SANITIZE_RUN_ID": .string(runID),
            "SANITIZE_EVENT": .string(event.rawValue),
        ]
        if let task { metadata["SANITIZE_TASK"] = .string(task) }
        if let path { metadata["SANITIZE_PATH"] = .string(path) }
        if let old { metadata["SANITIZE_OLD"] = .string(old) }
        if let new { metadata["SANITIZE_NEW"] = .string(new) }
        for (key, value) in extra { metadata[key] = .string(value) }
        logger.log(level: event.level, "\(message)", metadata: metadata)
    }
}
