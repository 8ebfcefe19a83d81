#if canImport(Glibc)
import Glibc
#endif

/// What a task's `plan` may read: the root, the configuration, the options and the identity
/// the tasks before it have planned. Planning is sequential, in the task graph's order.
public final class PlanningContext {
    public let root: RootDirectory
    public let configuration: Configuration
    public let options: RunOptions
    /// The block devices the run may change (see `DeviceScope`).
    public let deviceScope: DeviceScope
    /// The new identity so far; a task sets the values it decides.
    public var identity: NewIdentity

    init(root: RootDirectory, configuration: Configuration, options: RunOptions, deviceScope: DeviceScope) {
        self.root = root
        self.configuration = configuration
        self.options = options
        self.deviceScope = deviceScope
        self.identity = NewIdentity()
    }

    /// Contents earlier tasks of this run plan to write, by path (nil: to remove).
    private var plannedFiles: [String: String?] = [:]

    /// The text of `path` as the run will leave it so far: what an earlier task planned for it
    /// (nil when it plans to remove it), else what the root holds. Tasks that edit the same file
    /// (network bindings, then static addresses) each plan on the one before's result and apply
    /// in that order.
    public func plannedText(_ path: String) throws -> String? {
        if let planned = plannedFiles[path] { return planned }
        return try root.readText(path)
    }

    /// Records the text this task plans to write to `path`, for the tasks planned after it.
    public func planText(_ text: String, for path: String) {
        plannedFiles[path] = .some(text)
    }

    /// Records that this task plans to remove `path`, for the tasks planned after it.
    public func planRemoval(of path: String) {
        plannedFiles[path] = .some(nil)
    }

    /// The NICs of the machine the root belongs to: given with `--nic` (or `[Network] Interfaces=`),
    /// read from sysfs for the running system; nil when the root is another machine's and none
    /// were given (the build host's own NICs are never the guest's).
    public func currentInterfaces() throws -> [NetworkInterface]? {
        if let given = options.platform?.interfaces, !given.isEmpty { return given }
        let configured = configuration.value("Network", "Interfaces")
        if !configured.isEmpty {
            return try configured.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { entry in
                do { return try NetworkInterface(parsing: String(entry)) } catch { throw InputError("[Network] Interfaces=\(error)") }
            }
        }
        return root.isLiveSystem ? runningSystemFacts.interfaces : nil
    }

    /// The DMI product UUID of the machine the root belongs to, when known.
    public var productUUID: String? {
        if let platform = options.platform { return platform.productUUID }
        return root.isLiveSystem ? runningSystemFacts.productUUID : nil
    }

    /// The running system's facts: those the caller read (`options.platform`), else read once
    /// here (waiting for udev is not repeated for every task that asks).
    private lazy var runningSystemFacts: PlatformFacts = options.platform ?? PlatformFacts.live()

    /// A per-clone credential's whole text, or nil (see `credential(_:)` for where it is read).
    public func credentialText(_ name: String) -> String? {
        guard root.isLiveSystem || options.credentialsDirectory != nil else { return nil }
        for directory in credentialDirectories {
            guard let host = try? RootDirectory(path: directory), let text = try? host.readTextLeniently(name),
                  !text.trimmingWhitespace().isEmpty else { continue }
            return text
        }
        return nil
    }

    private var credentialDirectories: [String] {
        var directories: [String] = []
        if let explicit = options.credentialsDirectory { directories.append(explicit) }
        if let fromUnit = getenv("CREDENTIALS_DIRECTORY") { directories.append(String(cString: fromUnit)) }
        directories.append("/run/credentials/@system")
        return directories
    }

    /// A per-clone credential (e.g. "sanitize-clone.hostname"), trimmed, or nil.
    ///
    /// Read only on the live system: with `--root` the build host's credentials are not the
    /// guest's. Looks in `$CREDENTIALS_DIRECTORY` (the unit's `LoadCredential=`), then in
    /// `/run/credentials/@system` (SMBIOS type 11, kernel command line, fw_cfg).
    public func credential(_ name: String) -> String? {
        guard let text = credentialText(name) else { return nil }
        let value = text.trimmingWhitespace().split(whereSeparator: \.isNewline).first.map { String($0).trimmingWhitespace() } ?? ""
        return value.isEmpty ? nil : value
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
