import FoundationEssentials

/// One line of a run's rollback journal. Records are appended, never rewritten; each line is
/// `<tag> <JSON>`, the tag this machine's HMAC of the record for its root and run
/// (`JournalTrust`), so a torn, edited, planted or copied record is detected, never followed.
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

    /// The record as one tagged line of run `runID`. Written with the small JSON writer rather
    /// than JSONEncoder (a run writes many records; JSONEncoder's first uses cost more than the
    /// rest of the journal), in exactly the layout `Codable` reads back.
    func encodedLine(trust: JournalTrust, runID: String) throws -> [UInt8] {
        let json = Array(self.json.serialized().utf8)
        return Array((try trust.tag(runID: runID, json: json) + " ").utf8) + json + [0x0a]
    }

    /// The record in the layout synthesized `Codable` uses (absent optionals left out).
    var json: JSON {
        var members: [(String, JSON)] = [("kind", .string(kind.rawValue)), ("time", .number(Int(time)))]
        if let task { members.append(("task", .string(task))) }
        if let sequence { members.append(("sequence", .number(sequence))) }
        if let undo { members.append(("undo", undo.json)) }
        if let detail { members.append(("detail", .string(detail))) }
        if let fingerprints {
            members.append(("fingerprints", .object(fingerprints.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        return .object(members)
    }

    /// Parses one line of run `runID`; throws `CorruptJournalError` when its tag is not this
    /// machine's for this root and run, or its JSON or an undo action in it is invalid.
    static func decode(line: Substring, journal: String, number: Int, trust: JournalTrust, runID: String) throws -> JournalRecord {
        guard let space = line.firstIndex(of: " ") else {
            throw CorruptJournalError(journal: journal, line: number, reason: CorruptJournalError.unauthenticated)
        }
        let json = Array(line[line.index(after: space)...].utf8)
        guard trust.accepts(tag: line[..<space], runID: runID, json: json) else {
            throw CorruptJournalError(journal: journal, line: number, reason: CorruptJournalError.unauthenticated)
        }
        let record: JournalRecord
        do {
            record = try JSONDecoder().decode(JournalRecord.self, from: Data(json))
        } catch {
            throw CorruptJournalError(journal: journal, line: number, reason: "unreadable record")
        }
        if let undo = record.undo {
            do {
                try undo.validate(kinds: trust.undoKinds)
            } catch {
                throw CorruptJournalError(journal: journal, line: number, reason: "\(error)")
            }
        }
        return record
    }
}

/// A journal that cannot be trusted: a record failed its checksum, could not be read, or names
/// a path outside the root. Recovery stops rather than follow it.
public struct CorruptJournalError: Error, CustomStringConvertible, Sendable {
    public let journal: String
    public let line: Int
    public let reason: String
    /// True when the record's tag is not this machine's for this root and run.
    var isUnauthenticated: Bool { reason == Self.unauthenticated }
    static let unauthenticated = "not written by this machine for this root"

    public var description: String {
        "Journal \(journal) is corrupt at line \(line) (\(reason)); refusing to follow it. Inspect the run with 'sanitize-clone status', restore files from its backups/ by hand, then move the run directory away"
    }
}

extension UndoAction {
    /// Synthesized `Codable`'s layout: `{"case":{labels or "_0": …}}`.
    var json: JSON {
        switch self {
        case .restore(let snapshot):
            return .object([("restore", .object([("_0", snapshot.json)]))])
        case .inverse(let kind, let values):
            return .object([("inverse", .object([("kind", .string(kind)), ("values", .array(values.map(JSON.string)))]))])
        }
    }

    /// Throws when the action is not one this engine could have recorded: a path outside the
    /// root, a backup outside the run's packs, or an inverse of no registered kind or with values
    /// its kind refuses.
    func validate(kinds: UndoKinds) throws {
        switch self {
        case .restore(let snapshot):
            guard RootPath.isSafeJournalPath(snapshot.path) else { throw InputError("path \(snapshot.path) is outside the root") }
            if case .regular(let backup, _, _, _) = snapshot.state {
                guard [RollbackJournal.filesPack, RollbackJournal.secretsPack].contains(backup.file), backup.offset >= 0, backup.length >= 0,
                      backup.offset <= Int.max - backup.length else {
                    throw InputError("backup \(backup.file) is not one of the run's packs")
                }
            }
            if case .symlink(let target) = snapshot.state, target.contains("\0") { throw InputError("symlink target holds NUL") }
        case .inverse:
            try kinds.validate(self)
        }
    }
}

extension PathSnapshot {
    var json: JSON {
        var members: [(String, JSON)] = [("path", .string(path)), ("state", state.json)]
        if let tiedToSecret { members.append(("tiedToSecret", .bool(tiedToSecret))) }
        return .object(members)
    }
}

extension PathSnapshot.State {
    var json: JSON {
        switch self {
        case .absent:
            return .object([("absent", .object([]))])
        case .regular(let backup, let sha256, let attributes, let secret):
            return .object([("regular", .object([
                ("backup", .object([("file", .string(backup.file)), ("offset", .number(backup.offset)), ("length", .number(backup.length))])),
                ("sha256", .string(sha256)), ("attributes", attributes.json), ("secret", .bool(secret)),
            ]))])
        case .symlink(let target):
            return .object([("symlink", .object([("target", .string(target))]))])
        case .directory(let attributes):
            return .object([("directory", .object([("attributes", attributes.json)]))])
        }
    }
}

extension FileAttributes {
    var json: JSON {
        var members: [(String, JSON)] = [("owner", .number(Int(owner))), ("group", .number(Int(group))), ("mode", .number(Int(mode)))]
        if let extendedAttributes {
            members.append(("extendedAttributes", .object(extendedAttributes.sorted { $0.key < $1.key }.map {
                ($0.key, .array($0.value.map { .number(Int($0)) }))
            })))
        }
        return .object(members)
    }
}
