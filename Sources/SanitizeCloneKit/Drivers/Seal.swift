/// `sanitize-clone seal`: prepares a template before it is captured, so every clone made from
/// it gets a fresh identity on its first boot.
///
/// It records the template's identity and fingerprint (with its storage identities: the UUIDs
/// of what its fstab and crypttab name, its LVM and partition table identifiers), writes `uninitialized` to
/// /etc/machine-id (systemd's first-boot marker) and removes the /var/lib/dbus copy (systemd 252
/// would copy the old id back from it), removes the SSH private host keys, DHCP leases, the
/// random seed and every sanitize-clone journal and backup, and enables the service.
public struct Seal: Sendable {
    /// One thing seal does.
    public struct Step: Sendable {
        public let path: String
        public let action: String
        public let detail: String
    }

    /// Places DHCP clients and systemd keep per-machine state that a template must not pass on.
    static let leaseDirectories = ["/var/lib/dhcp", "/var/lib/dhclient", "/var/lib/dhcpcd", "/var/lib/NetworkManager", "/var/lib/systemd/network"]
    static let seedFiles = ["/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed"]
    static let unitName = "sanitize-clone.service"
    static let unitDirectories = ["/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"]
    static let wantsLink = "/etc/systemd/system/sysinit.target.wants/sanitize-clone.service"

    public init() {}

    /// What sealing `root` does, in order (a dry run prints this and stops).
    public func plan(root: RootDirectory) throws -> [Step] {
        var steps = [Step(path: RecordedIdentity.path, action: "record", detail: "the template's identity and fingerprint, with its storage identities")]
        steps.append(Step(path: "/etc/machine-id", action: "write", detail: "uninitialized (systemd's first-boot marker)"))
        if try root.status(of: "/var/lib/dbus/machine-id")?.kind == .regular {
            steps.append(Step(path: "/var/lib/dbus/machine-id", action: "delete", detail: "systemd 252 would copy the old id back from it"))
        }
        for path in try SSHHostKeysTask.keyPaths(in: root) {
            for file in [path, path + ".pub", path + "-cert.pub"] where try root.status(of: file) != nil {
                steps.append(Step(path: file, action: "delete", detail: file == path ? "the template's private host key" : "goes with the private key"))
            }
        }
        for directory in Self.leaseDirectories {
            for name in try root.directoryEntries(directory) where Self.isLease(name) {
                steps.append(Step(path: RootPath.join(directory, name), action: "delete", detail: "DHCP lease or DUID"))
            }
        }
        for path in Self.seedFiles where try root.status(of: path) != nil {
            steps.append(Step(path: path, action: "delete", detail: "the random seed (every clone would start with the same)"))
        }
        for run in try Self.runDirectories(in: root) {
            steps.append(Step(path: run, action: "delete", detail: "journal and backups of a run (may hold old secrets)"))
        }
        if try root.status(of: StateDirectory.keyPath) != nil {
            steps.append(Step(path: StateDirectory.keyPath, action: "delete", detail: "the key that authenticates this machine's journals (each clone makes its own)"))
        }
        if let unit = try unitPath(in: root) {
            if try root.symlinkTarget(Self.wantsLink) == nil {
                steps.append(Step(path: Self.wantsLink, action: "symlink", detail: "enable \(unit) at boot"))
            }
        } else {
            steps.append(Step(path: Self.wantsLink, action: "warn", detail: "\(Self.unitName) is not installed in this root: install the package (make install DESTDIR=…) so clones run it"))
        }
        return steps
    }

    /// The run directories in the root: its own runs and foreign ones set aside.
    static func runDirectories(in root: RootDirectory) throws -> [String] {
        try StateDirectory.runIDs(in: root).map { RootPath.join(StateDirectory.runsPath, $0) }
            + root.directoryEntries(StateDirectory.foreignPath).sorted().map { RootPath.join(StateDirectory.foreignPath, $0) }
    }

    static func isLease(_ name: String) -> Bool {
        name.hasSuffix(".lease") || name.hasSuffix(".leases") || name.hasSuffix(".duid") || name == "duid"
            || name.hasPrefix("dhclient") || name.hasPrefix("internal-") || name.hasSuffix(".lease~")
    }

    /// The unit file inside the root, if installed.
    func unitPath(in root: RootDirectory) throws -> String? {
        for directory in Self.unitDirectories {
            let path = RootPath.join(directory, Self.unitName)
            if try root.followedStatus(of: path)?.kind == .regular { return path }
        }
        return nil
    }

    /// Seals `root`. Returns the steps carried out. The storage identities are read within the
    /// root's device scope: every block device of the running system; for a `--root`, the disk
    /// holding its filesystem and the `devices` named (`--device`).
    public func seal(root: RootDirectory, platform: PlatformFacts, devices: [String] = []) throws -> [Step] {
        let lock = try RunLock(in: root)
        defer { withExtendedLifetime(lock) {} }
        let steps = try plan(root: root)
        var identity = try RecordedIdentity.current(of: root, platform: platform, sealed: true,
                                                    storageScope: try DeviceScope.of(root, named: devices))
        // Sealed again before any boot: the first seal removed what identified the template (the
        // id is 'uninitialized', the keys are gone), so keep what it recorded.
        if let previous = try RecordedIdentity.load(from: root), previous.sealed {
            identity.template.machineID = identity.template.machineID ?? previous.template.machineID
            identity.template.sshFingerprints = Set(identity.template.sshFingerprints + previous.template.sshFingerprints).sorted()
            if identity.template.macs.isEmpty { identity.template.macs = previous.template.macs }
            if identity.template.storage?.isEmpty ?? true, previous.template.storage?.isEmpty == false {
                identity.template.storage = previous.template.storage
            }
        }
        for run in try Self.runDirectories(in: root) {
            try SecretBackups.shredRunDirectory(run, in: root)
        }
        try identity.save(to: root)
        for step in steps {
            switch step.action {
            case "write":
                try root.writeFileAtomically(step.path, contents: Array("uninitialized\n".utf8), attributes: FileAttributes(mode: 0o444))
            case "delete" where step.path.hasPrefix(StateDirectory.runsPath) || step.path.hasPrefix(StateDirectory.foreignPath):
                continue
            case "delete":
                if step.detail == "the template's private host key" || step.path == StateDirectory.keyPath {
                    try SecretBackups.shredFile(step.path, in: root)
                } else {
                    try root.removeFile(step.path)
                }
            case "symlink":
                try root.makeDirectories(RootPath.parent(of: Self.wantsLink))
                try root.createSymlink(Self.wantsLink, pointingTo: try unitPath(in: root)!)
            default:
                continue
            }
        }
        return steps
    }
}
