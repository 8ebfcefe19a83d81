#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Backups of secrets (private keys, seeds, secret keys) would keep the template's secrets in
/// every clone. A boot-time run shreds them as soon as it commits; a manual run keeps them with
/// its other backups so `rollback` is complete, until `prune`.
enum SecretBackups {
    /// Overwrites each secret backup of `run` with random bytes, syncs, and removes it.
    /// Returns the paths whose backups were shredded.
    static func shred(_ run: RecordedRun, in root: RootDirectory) throws -> [String] {
        var shredded: [String] = []
        for (_, _, action) in run.undoEntries {
            guard case .restore(let snapshot) = action, case .regular(_, _, _, true) = snapshot.state else { continue }
            shredded.append(snapshot.path)
        }
        try shredFile(RootPath.join(RootPath.join(run.directory, "backups"), RollbackJournal.secretsPack), in: root)
        return shredded
    }

    /// Shreds every backup pack of the run directory `directory` (its own or a foreign one),
    /// then removes the directory.
    static func shredRunDirectory(_ directory: String, in root: RootDirectory) throws {
        let backups = RootPath.join(directory, "backups")
        if try root.status(of: backups)?.kind == .directory {
            for name in try root.directoryEntries(backups) { try shredFile(RootPath.join(backups, name), in: root) }
        }
        try root.removeTree(directory)
    }

    /// The largest file overwritten before removal. A secrets pack holds keys and seeds (a few
    /// KiB); a larger file in a run directory — a foreign one's, planted, perhaps sparse and huge —
    /// is only removed, so shredding can never be made to fill the disk or the memory.
    static let shredLimit: Int64 = 16 << 20

    /// Overwrites `path` in place with random bytes of the same length, syncs, removes it
    /// (a file over `shredLimit` is only removed).
    static func shredFile(_ path: String, in root: RootDirectory) throws {
        guard let status = try root.status(of: path), status.kind == .regular else { return }
        guard status.size <= shredLimit else { return try root.removeFile(path) }
        let fd = try root.openDescriptor(path, flags: O_WRONLY | O_NOFOLLOW)
        do {
            defer { System.close(fd) }
            try FileDescriptorIO.writeAll(fd, try RandomBytes.generate(Int(status.size)), path: path)
            try System.fsync(fd, path: path)
        }
        try root.removeFile(path)
    }
}
