/// What a path was before a run changed it: enough to put it back from the journal alone.
public struct PathSnapshot: Codable, Sendable, Equatable {
    /// The state of the path.
    public enum State: Codable, Sendable, Equatable {
        /// Nothing was there: undo removes what the run created.
        case absent
        /// A regular file, copied into the run's backup directory at `backup`.
        case regular(backup: BackupLocation, sha256: String, attributes: FileAttributes, secret: Bool)
        /// A symlink with this target (the link itself, never what it points to).
        case symlink(target: String)
        /// A directory, which is never removed or replaced by undo; only its attributes return.
        case directory(attributes: FileAttributes)
    }

    /// The path inside the root.
    public var path: String
    public var state: State
    /// True for a file that only makes sense with a secret of the same run (a public key with
    /// its private key): when the secret cannot be restored, this stays as the run left it.
    public var tiedToSecret: Bool?

    public init(path: String, state: State, tiedToSecret: Bool = false) {
        self.path = path
        self.state = state
        self.tiedToSecret = tiedToSecret ? true : nil
    }

    /// True when restoring needs a secret backup (the secret itself or a file tied to it).
    public var needsSecretBackup: Bool {
        if case .regular(_, _, _, true) = state { return true }
        return tiedToSecret == true
    }
}

/// Where a file's copy lives: a byte range of one of the run's backup packs. Backups are packed
/// (`backups/files` and, for secrets, `backups/secrets`) so that all of them cost two syncs, and
/// the secrets can be shredded as one file.
public struct BackupLocation: Codable, Sendable, Equatable {
    /// The pack's file name in the run's `backups/` directory.
    public var file: String
    public var offset: Int
    public var length: Int
}

/// A short fingerprint of what a path holds now, to tell whether something changed it after a run
/// wrote it: "sha256:…", "symlink:TARGET", "directory" or "absent".
public enum PathFingerprint {
    /// The fingerprint of `path` in `root` (symlinks are not followed).
    public static func of(_ path: String, in root: RootDirectory) throws -> String {
        guard let status = try root.status(of: path) else { return "absent" }
        switch status.kind {
        case .symlink: return "symlink:" + (try root.symlinkTarget(path) ?? "")
        case .directory: return "directory"
        case .regular: return "sha256:" + SHA256.hex(try root.readFile(path) ?? [])
        case .other: return "other"
        }
    }
}
