#if canImport(Glibc)
import Glibc
#endif

/// `<root>/var/lib/sanitize-clone`: the lock, and one directory per run.
public enum StateDirectory {
    /// The state directory inside the root.
    public static let path = "/var/lib/sanitize-clone"
    /// Where run directories live.
    public static let runsPath = "/var/lib/sanitize-clone/runs"
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

    /// The ids of recorded runs, oldest first (run ids sort by time).
    public static func runIDs(in root: RootDirectory) throws -> [String] {
        guard try root.status(of: path)?.kind == .directory else { return [] }
        return try root.directoryEntries(runsPath).filter { !$0.hasPrefix(".") }
    }

    /// Reads and checks the journal of run `id`.
    public static func load(_ id: String, in root: RootDirectory) throws -> RecordedRun {
        let directory = RootPath.join(runsPath, id)
        let journalPath = RootPath.join(directory, "journal")
        guard let bytes = try root.readFile(journalPath) else {
            throw CorruptJournalError(journal: journalPath, line: 0, reason: "journal file missing")
        }
        var records: [JournalRecord] = []
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            if line.isEmpty {
                if index == lines.count - 1 { continue }
                throw CorruptJournalError(journal: journalPath, line: index + 1, reason: "empty line")
            }
            if index == lines.count - 1 {
                // A last line without its newline was torn by a crash mid-append: the change it
                // announced was never started (undo records are synced before changes).
                if (try? JournalRecord.decode(line: line, journal: journalPath, number: index + 1)) == nil { break }
            }
            let record = try JournalRecord.decode(line: line, journal: journalPath, number: index + 1)
            if let path = record.undo?.path, !RootPath.isSafeJournalPath(path) {
                throw CorruptJournalError(journal: journalPath, line: index + 1, reason: "path \(path) is outside the root")
            }
            if case .runCommand(let program, _, _)? = record.undo, !program.hasPrefix("/") {
                throw CorruptJournalError(journal: journalPath, line: index + 1, reason: "command \(program) is not an absolute path")
            }
            records.append(record)
        }
        let backupsPresent = try root.status(of: RootPath.join(directory, "backups"))?.kind == .directory
        return RecordedRun(id: id, directory: directory, records: records, backupsPresent: backupsPresent)
    }

    /// Removes whole run directories beyond the newest `keep` finished runs.
    public static func applyRetention(keep: Int, in root: RootDirectory) throws {
        let ids = try runIDs(in: root)
        guard ids.count > max(keep, 0) else { return }
        let finished = ids.filter { id in
            guard let run = try? load(id, in: root) else { return false }
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
