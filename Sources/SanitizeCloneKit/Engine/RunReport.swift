/// What a run did (or, dry, would do): the object `run --json` prints and the text view.
public struct RunReport: Sendable {
    /// How the run ended.
    public enum Result: String, Sendable {
        case planned, committed, rolledBack = "rolled-back", failed
    }

    /// One task's part.
    public struct TaskReport: Sendable {
        /// How a task ended, as the report and its JSON say.
        public enum Status: String, Sendable {
            case planned, applied, skipped, failed, rolledBack = "rolled-back"
        }
        public var name: String
        public var status: Status
        public var durationMilliseconds: Int
        public var changes: [Change]
        public var reason: String?
        public var notes: [String]
        public var error: String?
    }

    public var runID: String
    public var dryRun: Bool
    public var result: Result
    public var tasks: [TaskReport]
    public var durationMilliseconds: Int
    /// Interrupted runs rolled back before this one started.
    public var recoveredRuns: [String]
    /// What is left when a rollback was incomplete.
    public var remaining: [String]
    /// Why a run whose tasks all applied was undone (its commit could not be recorded).
    public var failure: String? = nil

    /// The process exit code for this report: 0, 1 (rolled back) or 4 (rollback incomplete).
    public var exitCode: Int32 {
        switch result {
        case .planned, .committed: 0
        case .rolledBack: 1
        case .failed: 4
        }
    }

    /// The `--json` object.
    public var json: JSON {
        var members: [(String, JSON)] = [
            ("run_id", .string(runID)),
            ("dry_run", .bool(dryRun)),
            ("result", .string(result.rawValue)),
            ("tasks", .array(tasks.map(\.json))),
            ("duration_ms", .number(durationMilliseconds)),
        ]
        if !recoveredRuns.isEmpty { members.append(("recovered_runs", .array(recoveredRuns.map(JSON.string)))) }
        if !remaining.isEmpty { members.append(("remaining", .array(remaining.map(JSON.string)))) }
        if let failure { members.append(("failure", .string(failure))) }
        return .object(members)
    }
}

extension RunReport.TaskReport {
    var json: JSON {
        var members: [(String, JSON)] = [
            ("name", .string(name)),
            ("status", .string(status.rawValue)),
            ("duration_ms", .number(durationMilliseconds)),
            ("changes", .array(changes.map { change in
                .object([
                    ("path", .string(change.path)),
                    ("action", .string(change.action)),
                    ("old", .optional(change.displayedOld)),
                    ("new", .optional(change.displayedNew)),
                ])
            })),
        ]
        if let reason { members.append(("reason", .string(reason))) }
        if !notes.isEmpty { members.append(("notes", .array(notes.map(JSON.string)))) }
        if let error { members.append(("error", .string(error))) }
        return .object(members)
    }
}
