import FoundationEssentials

/// One line of a run's rollback journal. Records are appended, never rewritten; each line is
/// `<sha256 of the JSON> <JSON>` so a torn or edited record is detected, never followed.
public struct JournalRecord: Codable, Sendable, Equatable {
    /// What happened.
    public enum Kind: String, Codable, Sendable {
        /// The run began; `detail` holds how it was started ("manual" or "auto").
        case runStarted = "run-started"
        /// An undo action, durable before the change it reverses (`sequence` numbers them).
        case undo
        /// A task began applying.
        case taskStarted = "task-started"
        /// A task's change number `sequence` is done.
        case changeApplied = "change-applied"
        /// A task applied and verified its changes; `fingerprints` says what each path holds now.
        case taskApplied = "task-applied"
        /// A task failed; `detail` is the error.
        case taskFailed = "task-failed"
        /// The run was committed.
        case committed
        /// Rollback of this run began (after a failure, by `rollback`, or by recovery).
        case rollbackStarted = "rollback-started"
        /// Undo action `sequence` was carried out.
        case undone
        /// Every undo action was carried out.
        case rolledBack = "rolled-back"
        /// Rollback stopped: `detail` lists what is left.
        case rollbackIncomplete = "rollback-incomplete"
        /// Backups of secrets were shredded (a boot-time run); those paths can no longer be restored.
        case secretsShredded = "secrets-shredded"
    }

    public var kind: Kind
    public var time: Int64
    public var task: String?
    public var sequence: Int?
    public var undo: UndoAction?
    public var detail: String?
    public var fingerprints: [String: String]?

    public init(_ kind: Kind, task: String? = nil, sequence: Int? = nil, undo: UndoAction? = nil,
                detail: String? = nil, fingerprints: [String: String]? = nil) {
        self.kind = kind
        self.time = Clock.nowMilliseconds()
        self.task = task
        self.sequence = sequence
        self.undo = undo
        self.detail = detail
        self.fingerprints = fingerprints
    }

    /// The record as one checksummed line.
    func encodedLine() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = Array(try encoder.encode(self))
        return Array((SHA256.hex(json) + " ").utf8) + json + [0x0a]
    }

    /// Parses one line; throws `CorruptJournalError` when the checksum or JSON is wrong.
    static func decode(line: Substring, journal: String, number: Int) throws -> JournalRecord {
        guard let space = line.firstIndex(of: " ") else {
            throw CorruptJournalError(journal: journal, line: number, reason: "no checksum")
        }
        let checksum = line[..<space]
        let json = Array(line[line.index(after: space)...].utf8)
        guard SHA256.hex(json) == checksum else {
            throw CorruptJournalError(journal: journal, line: number, reason: "checksum mismatch")
        }
        do {
            return try JSONDecoder().decode(JournalRecord.self, from: Data(json))
        } catch {
            throw CorruptJournalError(journal: journal, line: number, reason: "unreadable record")
        }
    }
}

/// A journal that cannot be trusted: a record failed its checksum, could not be read, or names
/// a path outside the root. Recovery stops rather than follow it.
public struct CorruptJournalError: Error, CustomStringConvertible, Sendable {
    public let journal: String
    public let line: Int
    public let reason: String
    public var description: String {
        "Journal \(journal) is corrupt at line \(line) (\(reason)); refusing to follow it. Inspect the run with 'sanitize-clone status', restore files from its backups/ by hand, then move the run directory away"
    }
}
