#if canImport(Glibc)
import Glibc
#endif
import CShims
import Synchronization

/// The append-only journal of one run, with the copies of the files it replaces.
///
/// Lives in `<root>/var/lib/sanitize-clone/runs/<run id>/`: `journal` (0600, checksummed lines)
/// and `backups/` (0700, one 0600 file per replaced file). Undo information is written and synced
/// before the change it reverses; several snapshots share one sync.
public final class RollbackJournal: @unchecked Sendable {
    // @unchecked: the descriptor and counters are only touched under `state`'s lock.
    public let runID: String
    let root: RootDirectory
    /// The run's directory inside the root.
    public let directory: String
    let trust: JournalTrust
    private let state: Mutex<State>

    private struct State {
        var descriptor: Int32
        /// The open backup packs by file name, and how much each holds.
        var packs: [String: (descriptor: Int32, size: Int)] = [:]
    }

    /// The pack for ordinary files and the pack for secrets.
    static let filesPack = "files", secretsPack = "secrets"

    /// Creates the run's directory with its journal holding `first` (the run-started record)
    /// atomically: both are made and synced under a hidden name, then renamed into `runs/`, so a
    /// run directory never exists without a journal record. Throws when the state directory is
    /// unsafe.
    init(root: RootDirectory, runID: String, trust: JournalTrust, first: JournalRecord) throws {
        self.root = root
        self.runID = runID
        self.trust = trust
        directory = RootPath.join(StateDirectory.runsPath, runID)
        try StateDirectory.ensureSafeDirectories(in: root)
        let staging = RootPath.join(StateDirectory.runsPath, StateDirectory.stagingPrefix + runID)
        try root.makeDirectories(staging, mode: 0o700)
        let journalPath = RootPath.join(staging, "journal")
        let fd = try root.openDescriptor(journalPath, flags: O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600)
        state = Mutex(State(descriptor: fd))
        try append([first], sync: true)
        try syncDirectory(staging)
        try root.move(staging, to: directory)
        try syncDirectory(StateDirectory.runsPath)
        try root.makeDirectories(RootPath.join(directory, "backups"), mode: 0o700)
    }

    deinit {
        state.withLock { state in
            System.close(state.descriptor)
            state.packs.values.forEach { System.close($0.descriptor) }
        }
    }

    /// Appends `records`; with `sync`, they are on disk when this returns.
    public func append(_ records: [JournalRecord], sync: Bool) throws {
        let bytes = try records.flatMap { try $0.encodedLine(trust: trust, runID: runID) }
        let path = RootPath.join(directory, "journal")
        try state.withLock { state in
            try FileDescriptorIO.writeAll(state.descriptor, bytes, path: path)
            if sync { try System.fdatasync(state.descriptor, path: path) }
        }
    }

    /// Copies what `path` holds now into the backups (its directory entry is made durable by
    /// `syncBackups()`), and returns the snapshot that restores it.
    public func snapshot(_ path: String, secret: Bool) throws -> PathSnapshot {
        guard let status = try root.status(of: path) else { return PathSnapshot(path: path, state: .absent) }
        switch status.kind {
        case .symlink:
            return PathSnapshot(path: path, state: .symlink(target: try root.symlinkTarget(path) ?? ""))
        case .directory:
            return PathSnapshot(path: path, state: .directory(attributes: FileAttributes(of: status)))
        case .other:
            throw SystemError(code: EINVAL, operation: "back up (not a regular file, symlink or directory)", path: path)
        case .regular:
            let contents = try root.readFile(path) ?? []
            let location = try appendBackup(contents, secret: secret)
            var attributes = FileAttributes(of: status)
            attributes.extendedAttributes = try root.extendedAttributes(of: path)
            return PathSnapshot(path: path, state: .regular(
                backup: location, sha256: SHA256.hex(contents), attributes: attributes, secret: secret))
        }
    }

    /// Copies `contents` (bytes a change replaces outside the root) into the `files` pack (made
    /// durable by `syncBackups()`), and returns where.
    public func keep(_ contents: [UInt8]) throws -> BackupLocation {
        try appendBackup(contents, secret: false)
    }

    /// Appends `contents` to the right pack (created 0600 before any byte is written).
    private func appendBackup(_ contents: [UInt8], secret: Bool) throws -> BackupLocation {
        let name = secret ? Self.secretsPack : Self.filesPack
        let path = RootPath.join(RootPath.join(directory, "backups"), name)
        return try state.withLock { state in
            if state.packs[name] == nil {
                let fd = try root.openDescriptor(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND, mode: 0o600)
                state.packs[name] = (fd, 0)
            }
            let pack = state.packs[name]!
            try FileDescriptorIO.writeAll(pack.descriptor, contents, path: path)
            state.packs[name] = (pack.descriptor, pack.size + contents.count)
            return BackupLocation(file: name, offset: pack.size, length: contents.count)
        }
    }

    /// Makes every backup written so far durable: one sync per pack, then the directories.
    /// Not syncfs: that would wait for every dirty page of the
    /// whole file system, which on a busy host costs hundreds of milliseconds.
    public func syncBackups() throws {
        try state.withLock { state in
            // Start every pack's writeback before waiting for any: one journal commit for all.
            for pack in state.packs.values { System.startWriteback(pack.descriptor) }
            for (name, pack) in state.packs {
                try System.fdatasync(pack.descriptor, operation: "flush the backups", path: name)
            }
        }
    }

    /// Makes the run's directories durable (its entry in runs/, the journal's and the backups'
    /// entries): after this and the undo records' sync, changes may begin.
    public func syncDirectories() throws {
        for path in [RootPath.join(directory, "backups"), directory, StateDirectory.runsPath] { try syncDirectory(path) }
    }

    private func syncDirectory(_ path: String) throws {
        let fd = try root.openDescriptor(path, flags: O_RDONLY | O_DIRECTORY)
        defer { System.close(fd) }
        try System.fsync(fd, path: path)
    }
}

/// Appends records to the journal of an existing run (recovery and `rollback`).
final class JournalAppender: Sendable {
    private let descriptor: Int32
    private let path: String
    private let trust: JournalTrust
    private let runID: String

    init(root: RootDirectory, run: RecordedRun, trust: JournalTrust) throws {
        self.trust = trust
        runID = run.id
        path = RootPath.join(run.directory, "journal")
        descriptor = try root.openDescriptor(path, flags: O_WRONLY | O_APPEND | O_NOFOLLOW)
        // A record torn by a crash is cut off, so the next one starts on a line of its own.
        let bytes = try root.readFile(path) ?? []
        if let last = bytes.last, last != 0x0a {
            let keep = (bytes.lastIndex(of: 0x0a) ?? -1) + 1
            try System.truncate(descriptor, to: keep, operation: "cut the torn record off", path: path)
        }
    }

    deinit { System.close(descriptor) }

    func append(_ records: [JournalRecord], sync: Bool) throws {
        let bytes = try records.flatMap { try $0.encodedLine(trust: trust, runID: runID) }
        try FileDescriptorIO.writeAll(descriptor, bytes, path: path)
        if sync { try System.fdatasync(descriptor, path: path) }
    }
}
