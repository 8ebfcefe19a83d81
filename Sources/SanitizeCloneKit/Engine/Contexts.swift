#if canImport(Glibc)
import Glibc
#endif

/// What a task's `plan` may read: the root, the configuration, the options and the identity
/// the tasks before it have planned. Planning is sequential, in the task graph's order.
public final class PlanningContext {
    public let root: RootDirectory
    public let configuration: Configuration
    public let options: RunOptions
    /// The new identity so far; a task sets the values it decides.
    public var identity: NewIdentity

    init(root: RootDirectory, configuration: Configuration, options: RunOptions) {
        self.root = root
        self.configuration = configuration
        self.options = options
        self.identity = NewIdentity()
    }

    /// A per-clone credential (e.g. "sanitize-clone.hostname"), trimmed, or nil.
    ///
    /// Read only on the live system: with `--root` the build host's credentials are not the
    /// guest's. Looks in `$CREDENTIALS_DIRECTORY` (the unit's `LoadCredential=`), then in
    /// `/run/credentials/@system` (SMBIOS type 11, kernel command line, fw_cfg).
    public func credential(_ name: String) -> String? {
        guard root.isLiveSystem || options.credentialsDirectory != nil else { return nil }
        var directories: [String] = []
        if let explicit = options.credentialsDirectory { directories.append(explicit) }
        if let fromUnit = getenv("CREDENTIALS_DIRECTORY") { directories.append(String(cString: fromUnit)) }
        directories.append("/run/credentials/@system")
        for directory in directories {
            guard let host = try? RootDirectory(path: directory),
                  let text = try? host.readText(name) else { continue }
            let value = text.trimmingWhitespace().split(whereSeparator: \.isNewline).first.map { String($0).trimmingWhitespace() } ?? ""
            if !value.isEmpty { return value }
        }
        return nil
    }
}

/// What a task's `apply` and `verify` get: the root (whose temporary files carry the run id),
/// the run, and the call to make after each change.
public final class ApplyContext: Sendable {
    public let root: RootDirectory
    public let runID: String
    public let taskName: String
    public let mode: RunOptions.Mode
    public let audit: Audit
    private let onChangeApplied: @Sendable (Int, String?) throws -> Void

    init(root: RootDirectory, runID: String, taskName: String, mode: RunOptions.Mode, audit: Audit,
         onChangeApplied: @escaping @Sendable (Int, String?) throws -> Void) {
        self.root = root
        self.runID = runID
        self.taskName = taskName
        self.mode = mode
        self.audit = audit
        self.onChangeApplied = onChangeApplied
    }

    /// Tells the engine the plan's change number `index` (0-based) is done: it is journaled and
    /// audited. `actualNew` replaces the planned new value when it is only known now (a new
    /// key's fingerprint); it must not be a secret. Throws when a failpoint fires there.
    public func changeApplied(_ index: Int, actualNew: String? = nil) throws {
        try onChangeApplied(index, actualNew)
    }

    /// Logs a notice for this task (e.g. new SSH fingerprints).
    public func notice(_ message: String, path: String? = nil, new: String? = nil) {
        audit.record(.notice, message, task: taskName, path: path, new: new)
    }
}
