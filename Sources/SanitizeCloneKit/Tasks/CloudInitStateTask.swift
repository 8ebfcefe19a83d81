/// When cloud-init is installed, clears its per-instance cache so it treats the clone as a new
/// instance (new SSH keys, hostname and per-instance modules from its datasource). Its
/// configuration (`/etc/cloud`) is never touched.
public struct CloudInitStateTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        /// Paths removed in this order: each directory after what it holds.
        let removals: [(path: String, isDirectory: Bool)]
    }

    static let stateDirectory = "/var/lib/cloud"
    /// What cloud-init keeps per instance: the current-instance link, every instance's data,
    /// the cached datasource and instance ids, and the semaphores of its once-per-instance modules.
    static let perInstance = ["instance", "instances", "data", "sem", "handlers"]

    public let name = "cloud-init-state"
    public let summary = "Clear cloud-init's per-instance cache so the clone is a new instance (configuration untouched)"

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        let root = context.root
        let installed = try root.followedStatus(of: "/etc/cloud/cloud.cfg") != nil || root.followedStatus(of: "/usr/bin/cloud-init") != nil
        guard installed else { return .skip("cloud-init is not installed in this root") }
        var removals: [(path: String, isDirectory: Bool)] = []
        for name in Self.perInstance {
            try collect(RootPath.join(Self.stateDirectory, name), in: root, into: &removals)
        }
        guard !removals.isEmpty else { return .skip("cloud-init has no per-instance state in this root") }
        let changes = removals.map { item in
            Change(path: item.path, action: "delete", old: item.isDirectory ? "directory" : "instance data", new: nil,
                   undo: .restorePath(followingSymlinks: false))
        }
        return TaskPlan(changes: changes, decision: Decision(removals: removals))
    }

    /// Adds `path` and, for a directory, everything below it first (post-order).
    private func collect(_ path: String, in root: RootDirectory, into removals: inout [(path: String, isDirectory: Bool)]) throws {
        guard let status = try root.status(of: path) else { return }
        if status.kind == .directory {
            for name in try root.directoryEntries(path) { try collect(RootPath.join(path, name), in: root, into: &removals) }
            removals.append((path, true))
        } else {
            removals.append((path, false))
        }
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        for (index, item) in decision.removals.enumerated() {
            if item.isDirectory {
                try context.root.removeEmptyDirectory(item.path)
            } else {
                try context.root.removeFile(item.path)
            }
            try context.changeApplied(index)
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for item in decision.removals where try context.root.status(of: item.path) != nil {
            throw VerificationError("\(item.path) is still there")
        }
    }
}
