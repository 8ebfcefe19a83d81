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

    /// The record as one checksummed line. Written with the small JSON writer rather than
    /// JSONEncoder (a run writes many records; JSONEncoder's first uses cost more than the rest
    /// of the journal), in exactly the layout `Codable` reads back.
    func encodedLine() throws -> [UInt8] {
        let json = Array(self.json.serialized().utf8)
        return Array((SHA256.hex(json) + " ").utf8) + json + [0x0a]
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

extension UndoAction {
    /// Synthesized `Codable`'s layout: `{"case":{labels or "_0": …}}`.
    var json: JSON {
        switch self {
        case .restore(let snapshot):
            return .object([("restore", .object([("_0", snapshot.json)]))])
        case .runCommand(let program, let arguments, let chrootIntoRoot):
            return .object([("runCommand", .object([("program", .string(program)), ("arguments", .array(arguments.map(JSON.string))),
                                                    ("chrootIntoRoot", .bool(chrootIntoRoot))]))])
        case .setKernelHostname(let name):
            return .object([("setKernelHostname", .object([("_0", .string(name))]))])
        case .setFilesystemUUID(let type, let from, let to):
            return .object([("setFilesystemUUID", .object([("type", .string(type)), ("from", .string(from)), ("to", .string(to))]))])
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
