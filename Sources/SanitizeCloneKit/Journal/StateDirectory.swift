#if canImport(Glibc)
import Glibc
#endif

/// `<root>/var/lib/sanitize-clone`: the lock, and one directory per run.
public enum StateDirectory {
    /// The state directory inside the root.
    public static let path = "/var/lib/sanitize-clone"
    /// Where run directories live.
    public static let runsPath = "/var/lib/sanitize-clone/runs"
    /// This machine's journal key, when the root is the running system (see `JournalKey`).
    public static let keyPath = "/var/lib/sanitize-clone/journal.key"
    /// The lock file taken by every run that changes something.
    public static let lockPath = "/var/lib/sanitize-clone/lock"

    /// Creates the state directories 0700; refuses when one is a symlink or not a directory
    /// (a guest could point it at files we would then overwrite).
    static func ensureSafeDirectories(in root: RootDirectory) throws {
        for path in [path, runsPath] {
            if let status = try root.status(of: path), status.kind != .directory {
                throw UnsafeStateDirectoryError(path: path)
            }
        }
        try root.makeDirectories(runsPath, mode: 0o700)
        try root.setAttributes(path, FileAttributes(mode: 0o700))
    }

    /// Where foreign journals are set aside (a boot-time run, `prune --discard-foreign`).
    public static let foreignPath = "/var/lib/sanitize-clone/foreign"
    /// The hidden name a run directory has while its journal is being created.
    static let stagingPrefix = ".new-"

    /// The ids of recorded runs, oldest first (run ids sort by time).
    public static func runIDs(in root: RootDirectory) throws -> [String] {
        guard try root.status(of: path)?.kind == .directory else { return [] }
        return try root.directoryEntries(runsPath).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// What a run directory holds, as this machine can trust it.
    public enum Reading: Sendable {
        /// A journal this machine wrote for this root.
        case recorded(RecordedRun)
        /// A journal whose first record is not this machine's for this root: planted, copied from
        /// another root, or written by another host or a version before journals were tagged.
        case foreign
        /// A directory without a single journal record (older versions could leave one when
        /// killed at once): nothing was changed.
        case empty
    }

    /// Reads run `id`'s journal and says whether it may be followed. Throws `CorruptJournalError`
    /// when it starts as this machine's but a later record fails its tag or validation.
    public static func read(_ id: String, in root: RootDirectory, trust: JournalTrust) throws -> Reading {
        let directory = RootPath.join(runsPath, id)
        let journalPath = RootPath.join(directory, "journal")
        guard try root.status(of: journalPath)?.kind == .regular, let bytes = try root.readFile(journalPath) else {
            return .empty
        }
        var records: [JournalRecord] = []
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            if line.isEmpty {
                if index == lines.count - 1 { continue }
                throw CorruptJournalError(journal: journalPath, line: index + 1, reason: "empty line")
            }
            let decode = { try JournalRecord.decode(line: line, journal: journalPath, number: index + 1, trust: trust, runID: id) }
            if index == lines.count - 1 {
                // A last line without its newline was torn by a crash mid-append: the change it
                // announced was never started (undo records are synced before changes).
                if (try? decode()) == nil { break }
            }
            do {
                records.append(try decode())
            } catch let error as CorruptJournalError where records.isEmpty && error.isUnauthenticated {
                return .foreign
            }
        }
        guard !records.isEmpty else { return .empty }
        let backupsPresent = try root.status(of: RootPath.join(directory, "backups"))?.kind == .directory
        return .recorded(RecordedRun(id: id, directory: directory, records: records, backupsPresent: backupsPresent))
    }

    /// Reads run `id`'s journal; throws `ForeignJournalError` (exit 4) for a journal this
    /// machine may not follow, `CorruptJournalError` for a damaged one.
    public static func load(_ id: String, in root: RootDirectory, trust: JournalTrust) throws -> RecordedRun {
        switch try read(id, in: root, trust: trust) {
        case .recorded(let run): return run
        case .foreign: throw ForeignJournalError(runID: id, root: root)
        case .empty: throw CorruptJournalError(journal: RootPath.join(RootPath.join(runsPath, id), "journal"), line: 0, reason: "no journal record")
        }
    }

    /// Moves run `id`'s directory to `foreign/`, where nothing follows it; returns where it went.
    static func setAside(_ id: String, in root: RootDirectory) throws -> String {
        try root.makeDirectories(foreignPath, mode: 0o700)
        var target = RootPath.join(foreignPath, id)
        var attempt = 1
        while try root.status(of: target) != nil {
            attempt += 1
            target = RootPath.join(foreignPath, "\(id).\(attempt)")
        }
        try root.move(RootPath.join(runsPath, id), to: target)
        return target
    }

    /// Removes what a run killed while creating its journal left (a hidden staging directory).
    static func removeStagingDirectories(in root: RootDirectory) throws {
        guard try root.status(of: runsPath)?.kind == .directory else { return }
        for name in try root.directoryEntries(runsPath) where name.hasPrefix(stagingPrefix) {
            try root.removeTree(RootPath.join(runsPath, name))
        }
    }

    /// Removes whole run directories beyond the newest `keep` finished runs.
    public static func applyRetention(keep: Int, in root: RootDirectory, trust: JournalTrust) throws {
        let ids = try runIDs(in: root)
        guard ids.count > max(keep, 0) else { return }
        let finished = ids.filter { id in
            guard let run = try? load(id, in: root, trust: trust) else { return false }
            return run.outcome == .committed || run.outcome == .rolledBack
        }
        for id in finished.dropLast(max(keep, 0)) {
            try root.removeTree(RootPath.join(runsPath, id))
        }
    }
}

/// The state directory is a symlink or a file: we never write through it.
public struct UnsafeStateDirectoryError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public var description: String {
        "\(path) is not a directory (a symlink or file is refused; remove it and run again)"
    }
}

/// A journal this machine did not write for this root (exit 4): it is reported, never followed.
public struct ForeignJournalError: Error, CustomStringConvertible, Sendable {
    public let runID: String
    /// The option naming the root in the commands suggested ("" for the running system).
    public let rootOption: String

    init(runID: String, root: RootDirectory) {
        self.runID = runID
        rootOption = root.isLiveSystem ? "" : " --root \(root.hostPath)"
    }

    public var description: String {
        "Run \(runID) has a journal this machine did not write for this root (planted, copied from another root, or written by another host or an older version); it is never followed. Inspect it with 'sanitize-clone status\(rootOption)', then set it aside with 'sanitize-clone prune --discard-foreign\(rootOption)'"
    }
}
