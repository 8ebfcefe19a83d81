#if canImport(Glibc)
import Glibc
#endif

/// Carries out a run's undo actions from its journal, newest first, recording each one.
///
/// It needs nothing from the tasks: only the journal records, the run's backups and the undo
/// kinds the tasks registered. Every action is idempotent, and a path already as the journal
/// recorded it is left alone (no write, so no space needed), so an interrupted rollback is simply
/// started again.
struct Undoer {
    let root: RootDirectory
    let kinds: UndoKinds
    /// The devices an inverse may act on (the run's `DeviceScope`).
    let scope: DeviceScope
    let runID: String
    /// The run's directory inside the root (its backups live in `backups/`).
    let runDirectory: String
    let audit: Audit
    let failpoint: Failpoint?
    /// Appends records to the run's journal.
    let record: ([JournalRecord], Bool) throws -> Void

    /// Undoes `actions` (in recorded order; they are carried out in reverse). With
    /// `skipSecrets`, snapshots of secrets are left as they are (their backups were shredded).
    /// Returns the actions that could not be carried out, with the reason.
    func undo(_ actions: [(sequence: Int, task: String?, action: UndoAction)], skipSecrets: Bool = false) throws -> [String] {
        FaultInjection.undoing(true)
        defer { FaultInjection.undoing(false) }
        var failures: [String] = []
        var undoneByTask: [String: Int] = [:]
        for entry in actions.reversed() {
            if skipSecrets, case .restore(let snapshot) = entry.action, snapshot.needsSecretBackup {
                continue
            }
            let summary = entry.action.summary(kinds: kinds)
            do {
                let changed = try carryOut(entry.action)
                try record([JournalRecord(.undone, task: entry.task, sequence: entry.sequence)], false)
                if case .restore(let snapshot) = entry.action {
                    if changed { audit.record(.changeUndone, "Restored \(snapshot.path)", task: entry.task, path: snapshot.path) }
                } else {
                    audit.record(.changeUndone, "Undid: \(summary)", task: entry.task)
                }
            } catch {
                failures.append("\(summary): \(error)")
            }
            if let task = entry.task {
                undoneByTask[task, default: 0] += 1
                do {
                    try failpoint?.trigger(task: task, at: .undo(undoneByTask[task]!))
                } catch {
                    failures.append("\(summary): \(error)")
                }
            }
        }
        return failures
    }

    /// Carries out one action; returns false when the path was already as recorded.
    func carryOut(_ action: UndoAction) throws -> Bool {
        switch action {
        case .restore(let snapshot):
            return try restore(snapshot)
        case .inverse(let name, let values):
            guard let kind = kinds[name] else { throw InputError("no task registers the undo kind '\(name)'") }
            try kind.validate(values)
            let (scope, root, packs) = (self.scope, self.root, RootPath.join(runDirectory, "backups"))
            try kind.undo(values, in: UndoContext(root: root, devices: { try scope.inventory() }, imageFile: scope.imageFile,
                                                  backup: { location, sha256 in
                                                      try Self.backupContents(location, sha256: sha256, of: name, packs: packs, in: root)
                                                  }))
            return true
        }
    }

    private func restore(_ snapshot: PathSnapshot) throws -> Bool {
        let parent = RootPath.parent(of: snapshot.path)
        try? root.removeTemporaryFiles(in: parent, tag: runID)
        switch snapshot.state {
        case .absent:
            guard let status = try root.status(of: snapshot.path) else { return false }
            if status.kind == .directory {
                // Only a directory we created and left empty (or holding our temporary files).
                try root.removeTemporaryFiles(in: snapshot.path, tag: runID)
                guard try root.directoryEntries(snapshot.path).isEmpty else {
                    throw SystemError(code: ENOTEMPTY, operation: "remove the directory the run created", path: snapshot.path)
                }
                try root.removeTree(snapshot.path)
            } else {
                try root.removeFile(snapshot.path)
            }
        case .symlink(let target):
            if try root.status(of: snapshot.path)?.kind == .symlink, try root.symlinkTarget(snapshot.path) == target { return false }
            try root.createSymlink(snapshot.path, pointingTo: target)
        case .directory(let attributes):
            if let status = try root.status(of: snapshot.path), status.kind == .directory, FileAttributes(of: status) == attributes { return false }
            // A directory the run removed comes back before what it held (undo runs in reverse).
            try root.makeDirectory(snapshot.path, attributes: attributes)
        case .regular(let backup, let sha256, let attributes, _):
            if try isAlreadyRestored(snapshot.path, sha256: sha256, attributes: attributes) { return false }
            let contents = try Self.backupContents(backup, sha256: sha256, of: snapshot.path,
                                                   packs: RootPath.join(runDirectory, "backups"), in: root)
            if try root.status(of: snapshot.path)?.kind == .directory {
                throw SystemError(code: EISDIR, operation: "restore", path: snapshot.path)
            }
            try root.writeFileAtomically(snapshot.path, contents: contents, attributes: attributes)
        }
        return true
    }

    /// The bytes at `location` of the run's backup pack in `packs`, copied for `what`; throws
    /// when the pack is gone or short, or the copy fails its checksum.
    static func backupContents(_ location: BackupLocation, sha256: String, of what: String, packs: String,
                               in root: RootDirectory) throws -> [UInt8] {
        let backupPath = RootPath.join(packs, location.file)
        guard location.file == RollbackJournal.filesPack || location.file == RollbackJournal.secretsPack,
              let pack = try root.readFile(backupPath, limit: 1 << 30), location.offset >= 0, location.length >= 0,
              location.offset + location.length <= pack.count else {
            throw SystemError(code: ENOENT, operation: "read the backup of \(what) at", path: backupPath)
        }
        let contents = Array(pack[location.offset..<(location.offset + location.length)])
        guard SHA256.hex(contents) == sha256 else {
            throw CorruptJournalError(journal: backupPath, line: 0, reason: "backup of \(what) fails its checksum")
        }
        return contents
    }

    /// True when `path` is the regular file the backup holds, with the same owner, group, mode
    /// and extended attributes: then nothing is written (a full file system stays untouched).
    private func isAlreadyRestored(_ path: String, sha256: String, attributes: FileAttributes) throws -> Bool {
        guard let status = try root.status(of: path), status.kind == .regular,
              status.owner == attributes.owner, status.group == attributes.group, status.mode == attributes.mode,
              let contents = try root.readFile(path), SHA256.hex(contents) == sha256 else { return false }
        guard let extended = attributes.extendedAttributes else { return true }
        return try root.extendedAttributes(of: path) == extended
    }
}

/// Some undo actions could not be carried out (exit 4); the message lists what is left.
public struct RollbackIncompleteError: Error, CustomStringConvertible, Sendable {
    public let runID: String
    public let remaining: [String]
    public var description: String {
        "Rollback of run \(runID) is incomplete; left to do: \(remaining.joined(separator: "; ")). Fix the cause, then run 'sanitize-clone rollback \(runID)' again"
    }
}
