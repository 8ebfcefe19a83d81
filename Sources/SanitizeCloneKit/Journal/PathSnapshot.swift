/// What a path was before a run changed it: enough to put it back from the journal alone.
public struct PathSnapshot: Codable, Sendable, Equatable {
    /// The state of the path.
    public enum State: Codable, Sendable, Equatable {
        /// Nothing was there: undo removes what the run created.
        case absent
        /// A regular file, copied to `backup` in the run's backup directory.
        case regular(backup: String, sha256: String, attributes: FileAttributes, secret: Bool)
        /// A symlink with this target (the link itself, never what it points to).
        case symlink(target: String)
        /// A directory, which is never removed or replaced by undo; only its attributes return.
        case directory(attributes: FileAttributes)
    }

    /// The path inside the root.
    public var path: String
    public var state: State

    public init(path: String, state: State) {
        self.path = path
        self.state = state
    }
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
