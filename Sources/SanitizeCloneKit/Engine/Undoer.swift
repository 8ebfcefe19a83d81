#if canImport(Glibc)
import Glibc
#endif

/// Carries out a run's undo actions from its journal, newest first, recording each one.
///
/// It needs nothing from the tasks: only the journal records and the run's backups. Every action
/// is idempotent, so an interrupted rollback is simply started again.
struct Undoer {
    let root: RootDirectory
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
        var failures: [String] = []
        var undoneByTask: [String: Int] = [:]
        for entry in actions.reversed() {
            if skipSecrets, case .restore(let snapshot) = entry.action, snapshot.needsSecretBackup {
                continue
            }
            do {
                try carryOut(entry.action)
                try record([JournalRecord(.undone, task: entry.task, sequence: entry.sequence)], false)
                if case .restore(let snapshot) = entry.action {
                    audit.record(.changeUndone, "Restored \(snapshot.path)", task: entry.task, path: snapshot.path)
                } else {
                    audit.record(.changeUndone, "Undid: \(entry.action.summary)", task: entry.task)
                }
            } catch {
                failures.append("\(entry.action.summary): \(error)")
            }
            if let task = entry.task {
                undoneByTask[task, default: 0] += 1
                do {
                    try failpoint?.trigger(task: task, at: .undo(undoneByTask[task]!))
                } catch {
                    failures.append("\(entry.action.summary): \(error)")
                }
            }
        }
        return failures
    }

    /// Carries out one action.
    func carryOut(_ action: UndoAction) throws {
        switch action {
        case .restore(let snapshot):
            try restore(snapshot)
        case .runCommand(let program, let arguments, let chrootIntoRoot):
            if chrootIntoRoot {
                let chroot = try Program.find("chroot", package: "coreutils")
                try chroot.run([root.hostPath, program] + arguments).check()
            } else {
                try Program(path: program).run(arguments).check()
            }
        case .setFilesystemUUID(let type, let from, let to):
            try StorageIdentityUndo.setBack(type: type, from: from, to: to, devices: try BlockDeviceInventory.host())
        case .setKernelHostname(let name):
            guard root.isLiveSystem else { return }
            guard sethostname(name, name.utf8.count) == 0 else {
                throw SystemError(code: errno, operation: "set the running hostname to", path: name)
            }
        }
    }

    private func restore(_ snapshot: PathSnapshot) throws {
        let parent = RootPath.parent(of: snapshot.path)
        try? root.removeTemporaryFiles(in: parent, tag: runID)
        switch snapshot.state {
        case .absent:
            guard let status = try root.status(of: snapshot.path) else { return }
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
            if try root.status(of: snapshot.path)?.kind == .symlink, try root.symlinkTarget(snapshot.path) == target { return }
            try root.createSymlink(snapshot.path, pointingTo: target)
        case .directory(let attributes):
            // A directory the run removed comes back before what it held (undo runs in reverse).
            try root.makeDirectory(snapshot.path, attributes: attributes)
        case .regular(let backup, let sha256, let attributes, _):
            let backupPath = RootPath.join(RootPath.join(runDirectory, "backups"), backup.file)
            guard let pack = try root.readFile(backupPath, limit: 1 << 30), backup.offset >= 0,
                  backup.offset + backup.length <= pack.count else {
                throw SystemError(code: ENOENT, operation: "read the backup of \(snapshot.path) at", path: backupPath)
            }
            let contents = Array(pack[backup.offset..<(backup.offset + backup.length)])
            guard SHA256.hex(contents) == sha256 else {
                throw CorruptJournalError(journal: backupPath, line: 0, reason: "backup of \(snapshot.path) fails its checksum")
            }
            if try root.status(of: snapshot.path)?.kind == .directory {
                throw SystemError(code: EISDIR, operation: "restore", path: snapshot.path)
            }
            try root.writeFileAtomically(snapshot.path, contents: contents, attributes: attributes)
        }
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
