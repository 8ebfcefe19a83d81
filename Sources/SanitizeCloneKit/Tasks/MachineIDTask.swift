import CShims

/// Gives the machine a new random `/etc/machine-id` and makes D-Bus's copy agree.
///
/// `/var/lib/dbus/machine-id`: a symlink to `/etc/machine-id` stays; a regular file is rewritten
/// to match; a missing one becomes that symlink (as systemd-tmpfiles makes it). Then
/// `dbus-uuidgen --ensure=FILE` validates the result — always with an explicit file we resolved
/// inside the root, since without one it acts on the host's /var/lib/dbus.
public struct MachineIDTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let newID: String
        let dbusCopy: DBusCopy
        let uuidgen: Program
        /// At first boot systemd bind-mounts a transient id from /run/machine-id over
        /// /etc/machine-id; when that id is not unique it is replaced in /run too and the mount
        /// is detached so the new id reaches the disk.
        let replacesTransientID: Bool
    }

    /// What to do with `/var/lib/dbus/machine-id`.
    enum DBusCopy: Sendable {
        case leave, rewrite(FileAttributes), link
    }

    static let path = "/etc/machine-id"
    static let dbusPath = "/var/lib/dbus/machine-id"

    public let name = "machine-id"
    public let summary = "Give the machine a new random /etc/machine-id and make D-Bus's copy match"

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        let root = context.root
        let uuidgen = try Program.find("dbus-uuidgen", package: "dbus-bin")
        let oldText = try root.readText(Self.path)
        let oldID = MachineID.parse(oldText)
        var replacesTransientID = false
        if let boot = context.options.boot, root.isLiveSystem, try Self.isTransient(in: root) {
            if let transient = oldID, !boot.sharedMachineIDs.contains(transient) {
                context.identity.machineID = transient
                return .skip("keeping systemd's random transient id \(transient) (systemd-machine-id-commit writes it to disk)")
            }
            replacesTransientID = true
        }
        let newID = try MachineID.random()
        context.identity.machineID = newID
        context.identity.previousMachineID = oldID

        let oldShown = oldID ?? oldText.map { $0.trimmingWhitespace().isEmpty ? "(empty)" : $0.trimmingWhitespace() } ?? "(none)"
        var changes = [Change(path: Self.path, action: oldText == nil ? "create" : "write", old: oldShown, new: newID)]
        let dbusCopy = try planDBusCopy(in: root)
        switch dbusCopy {
        case .leave: break
        case .rewrite:
            let old = MachineID.parse(try root.readText(Self.dbusPath)) ?? "(invalid)"
            changes.append(Change(path: Self.dbusPath, action: "write", old: old, new: newID))
        case .link:
            let old = try root.symlinkTarget(Self.dbusPath).map { "symlink → \($0)" } ?? "(none)"
            changes.append(Change(path: Self.dbusPath, action: "symlink", old: old, new: "symlink → \(Self.path)",
                                  undo: .restorePath(followingSymlinks: false)))
        }
        return TaskPlan(changes: changes, decision: Decision(newID: newID, dbusCopy: dbusCopy, uuidgen: uuidgen,
                                                            replacesTransientID: replacesTransientID))
    }

    /// True when /etc/machine-id is a mount point (systemd's transient id on a first boot).
    static func isTransient(in root: RootDirectory) throws -> Bool {
        guard let file = try root.status(of: path), file.kind == .regular,
              let directory = try root.followedStatus(of: RootPath.parent(of: path)) else { return false }
        return file.device != directory.device
    }

    private func planDBusCopy(in root: RootDirectory) throws -> DBusCopy {
        guard try root.followedStatus(of: RootPath.parent(of: Self.dbusPath))?.kind == .directory else { return .leave }
        guard let status = try root.status(of: Self.dbusPath) else { return .link }
        switch status.kind {
        case .symlink:
            // A link that cannot be resolved inside the root (dangling into a missing directory) leads elsewhere: relink it.
            let leadsToMachineID = try (try? root.canonicalPath(Self.dbusPath)) == root.canonicalPath(Self.path)
            return leadsToMachineID ? .leave : .link
        case .regular:
            return .rewrite(FileAttributes(of: status))
        case .directory, .other:
            throw InputError("\(Self.dbusPath) is not a file or symlink (remove it; systemd-tmpfiles recreates it as a link)")
        }
    }

    /// Detaches systemd's read-only transient mount before the engine checks that /etc/machine-id
    /// can be changed and the journal snapshots it (the snapshot then holds the disk's
    /// `uninitialized`). The service runs in the system's mount namespace, so this is the
    /// system's view, as with systemd-machine-id-commit.
    public func prepare(_ decision: Decision) throws {
        guard decision.replacesTransientID else { return }
        try System.detachMount(Self.path, operation: "detach systemd's transient mount of")
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        let contents = Array((decision.newID + "\n").utf8)
        if decision.replacesTransientID {
            // A process that still holds the old mount's inode open sees the new id too.
            try context.root.overwriteInPlace("/run/machine-id", contents: contents)
        }
        var writes = [RootDirectory.FileWrite(path: Self.path, contents: contents, attributes: FileAttributes(mode: 0o444))]
        if case .rewrite(let attributes) = decision.dbusCopy {
            writes.append(.init(path: Self.dbusPath, contents: contents, attributes: attributes))
        }
        try context.root.writeFilesAtomically(writes) { try context.changeApplied($0) }
        if case .link = decision.dbusCopy {
            try context.root.createSymlink(Self.dbusPath, pointingTo: Self.path)
            try context.changeApplied(1)
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        let root = context.root
        guard MachineID.parse(try root.readText(Self.path)) == decision.newID else {
            throw VerificationError("\(Self.path) does not hold the new id")
        }
        if try root.followedStatus(of: Self.dbusPath) != nil, MachineID.parse(try root.readText(Self.dbusPath)) != decision.newID {
            throw VerificationError("\(Self.dbusPath) does not match \(Self.path)")
        }
        // D-Bus reads its own copy when it is a regular file, else /etc/machine-id through the link.
        if case .rewrite = decision.dbusCopy {
            try validateWithUUIDGen(decision.uuidgen, path: Self.dbusPath, root: root)
        } else {
            try validateWithUUIDGen(decision.uuidgen, path: Self.path, root: root)
        }
    }

    /// Runs `dbus-uuidgen --ensure=` on the file `path` leads to, through our own descriptor of its
    /// directory, so it can neither follow a symlink out of the root nor touch the host's files.
    private func validateWithUUIDGen(_ uuidgen: Program, path: String, root: RootDirectory) throws {
        let target = try root.canonicalPath(path)
        let directory = try root.openParent(of: target)
        defer { System.close(directory) }
        let before = try root.readFile(target)
        let file = RootDirectory.pathForOtherProgram(directory: directory, name: RootPath.lastComponent(of: target))
        let result = try uuidgen.run(["--ensure=\(file)"])
        guard result.exitCode == 0, try root.readFile(target) == before else {
            throw VerificationError("dbus-uuidgen --ensure rejected \(path): \(result.output.trimmingWhitespace())")
        }
    }
}

extension MachineIDTask {
    /// The id is valid, not the template's, not derived from a product UUID clones may share,
    /// and D-Bus's copy is the same.
    public func cloneChecks(in context: VerificationContext) throws -> [CloneCheck] {
        let root = context.root
        let machineID = MachineID.parse(try root.readText("/etc/machine-id"))
        var checks = [CloneCheck("machine-id is valid", machineID != nil, machineID ?? "/etc/machine-id holds no valid id")]
        guard let machineID else { return checks }
        if let old = context.template?.machineID {
            checks.append(CloneCheck("machine-id differs from the template's", machineID != old, machineID == old ? "still \(old)" : "\(machineID) (template \(old))"))
        }
        // systemd derives a sealed clone's id from the SMBIOS product UUID, which clones started
        // with one UUID share: such an id was never replaced.
        if root.isLiveSystem, let uuid = PlatformFacts.live().productUUID {
            let derived = ProductUUID.derivedMachineIDs(uuid).contains(machineID)
            checks.append(CloneCheck("machine-id is not derived from the product UUID", !derived, derived ? "\(machineID) comes from product UUID \(uuid)" : machineID))
        }
        if try root.followedStatus(of: "/var/lib/dbus/machine-id") != nil {
            let dbus = MachineID.parse(try root.readText("/var/lib/dbus/machine-id"))
            checks.append(CloneCheck("D-Bus machine-id equals /etc/machine-id", dbus != nil && dbus == machineID, dbus ?? "invalid"))
        }
        return checks
    }

    /// A random id where /etc/machine-id holds none, so the clone boots with one of its own.
    public func createMissing(in root: RootDirectory, configuration: Configuration) throws -> [String] {
        guard MachineID.parse(try? root.readText("/etc/machine-id")) == nil else { return [] }
        try root.writeFileAtomically("/etc/machine-id", contents: Array((try MachineID.random() + "\n").utf8), attributes: FileAttributes(mode: 0o444))
        return ["/etc/machine-id"]
    }
}
