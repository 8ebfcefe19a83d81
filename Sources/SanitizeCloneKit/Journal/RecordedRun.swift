/// A run as its journal tells it: what it changed, how it ended, and what undoing it takes.
public struct RecordedRun: Sendable {
    /// How a run ended, as `status` reports it.
    public enum Outcome: String, Sendable, Codable {
        /// All changes are in place.
        case committed
        /// Every change was undone.
        case rolledBack = "rolled-back"
        /// A rollback stopped part-way (exit 4); what is left is in `detail` of its last record.
        case failed
        /// The run (or its rollback) was interrupted: the next `run` recovers it.
        case unfinished
    }

    public let id: String
    /// The run's directory inside the root.
    public let directory: String
    public let records: [JournalRecord]
    /// False after `prune`: the run can then no longer be rolled back.
    public let backupsPresent: Bool

    public var startedAt: Int64? { records.first { $0.kind == .runStarted }?.time }
    /// "manual" or "auto".
    public var mode: String { records.first { $0.kind == .runStarted }?.detail ?? "manual" }

    public var outcome: Outcome {
        var outcome = Outcome.unfinished
        for record in records {
            switch record.kind {
            case .committed: outcome = .committed
            case .rollbackStarted: outcome = .unfinished
            case .rolledBack: outcome = .rolledBack
            case .rollbackIncomplete: outcome = .failed
            default: break
            }
        }
        return outcome
    }

    /// True when the run was interrupted and waits for recovery.
    public var needsRecovery: Bool { outcome == .unfinished || outcome == .failed }

    /// The undo actions with their task, in the order they were recorded.
    public var undoEntries: [(sequence: Int, task: String?, action: UndoAction)] {
        records.compactMap { record in
            guard record.kind == .undo, let sequence = record.sequence, let undo = record.undo else { return nil }
            return (sequence, record.task, undo)
        }
    }

    /// Tasks that applied, in order.
    public var appliedTasks: [String] { records.filter { $0.kind == .taskApplied }.compactMap(\.task) }

    /// The task that failed and why, if one did.
    public var failure: (task: String, reason: String)? {
        guard let record = records.last(where: { $0.kind == .taskFailed }) else { return nil }
        return (record.task ?? "?", record.detail ?? "")
    }

    /// What each path held when the run last wrote it (from `task-applied` records).
    public var fingerprintsAfterRun: [String: String] {
        records.filter { $0.kind == .taskApplied }.reduce(into: [:]) { result, record in
            for (path, fingerprint) in record.fingerprints ?? [:] { result[path] = fingerprint }
        }
    }

    /// True when secret backups were shredded after commit (a boot-time run).
    public var secretsShredded: Bool { records.contains { $0.kind == .secretsShredded } }

    /// The message of the last rollback-incomplete record.
    public var incompleteDetail: String? { records.last { $0.kind == .rollbackIncomplete }?.detail }
}
