#if canImport(Glibc)
import Glibc
#endif

/// One check `sanitize-clone verify` makes, and its result.
public struct CloneCheck: Sendable {
    public let name: String
    public let passed: Bool
    public let detail: String
    /// True for a change that is scheduled but not made yet (a filesystem UUID the initramfs sets
    /// at the next boot): not a failure, but the administrator must reboot to complete it.
    public let pending: Bool

    public init(_ name: String, _ passed: Bool, _ detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
        self.pending = false
    }

    private init(name: String, detail: String) {
        self.name = name
        self.passed = true
        self.detail = detail
        self.pending = true
    }

    /// A change scheduled for the next boot: passes, marked pending ("pending, reboot: …").
    public static func pending(_ name: String, _ detail: String) -> CloneCheck {
        CloneCheck(name: name, detail: "pending, reboot: " + detail)
    }
}

/// What a task's `cloneChecks` may read: the root, the template's recorded identity, and the
/// machine the root belongs to.
public struct VerificationContext: Sendable {
    public let root: RootDirectory
    /// The template's identity as `seal` (or the first boot) recorded it, when recorded.
    public let template: RecordedIdentity.Template?
    /// The NICs of the machine the root belongs to; empty: the network configuration is not checked.
    public let interfaces: [NetworkInterface]
    /// The block devices the root's filesystems must be on (a disk image's); nil: the running
    /// system's (checked through /dev/disk/by-uuid), or none for another root.
    public let devices: [BlockDeviceIdentity]?
    /// The block devices in view, as a run on this root would see them: every device of the
    /// running system, the image's partitions (and the image file), or a `--root`'s disk and the
    /// devices named with `--device`.
    public let deviceScope: DeviceScope
    /// The root's configuration, read only when the template's storage identities are compared
    /// (what a run would do about a mounted filesystem depends on it); nil otherwise.
    public let configuration: Configuration?

    /// How to run `sanitize-clone run` on what is verified: `run --image FILE`, `run --root DIR`
    /// (with the `--device`s given) or `run`.
    public var runCommand: String {
        if let image = deviceScope.imageFile { return "sanitize-clone run --image \(image)" }
        if root.isLiveSystem { return "sanitize-clone run" }
        return "sanitize-clone run --root \(root.hostPath)" + deviceScope.namedDevices.map { " --device \($0)" }.joined()
    }
}

/// `sanitize-clone verify`: proves the clone — every identity differs from the template's
/// recorded one and is consistent. Each task checks its own identity (`cloneChecks`); this only
/// runs them in order and adds whether a template identity was recorded at all.
public struct CloneVerification: Sendable {
    public typealias Check = CloneCheck
    let tasks: [any SanitizeTask]

    public init(tasks: [any SanitizeTask] = TaskRegistry.all) { self.tasks = tasks }

    /// Runs every task's checks against `root`. `interfaces` are the NICs of the machine the root
    /// belongs to (the live system's, or those given for a `--root`); without them the network
    /// configuration is not checked. `devices`: the block devices the root's filesystems must be
    /// on (a disk image's, attached from `image`), when not the running system's; every fstab UUID
    /// must then name one. `named`: with a `--root`, the clone's devices given with `--device`
    /// (each must be a block device), beside the disk holding the root's filesystem.
    public func checks(root: RootDirectory, interfaces: [NetworkInterface] = [], devices: [BlockDeviceIdentity]? = nil,
                       image: String? = nil, named: [String] = []) throws -> [Check] {
        let recorded = try RecordedIdentity.load(from: root)
        let scope = try devices.map { DeviceScope.image($0, file: image) } ?? DeviceScope.of(root, named: named)
        let configuration = recorded?.template.storage?.isEmpty == false
            ? try Configuration.load(from: root, keys: RunEngine.engineKeys + tasks.flatMap(\.configurationKeys)) : nil
        let context = VerificationContext(root: root, template: recorded?.template, interfaces: interfaces, devices: devices,
                                          deviceScope: scope, configuration: configuration)
        var checks = try tasks.flatMap { try $0.cloneChecks(in: context) }
        if recorded == nil {
            checks.append(Check("template identity recorded", false, "no \(RecordedIdentity.path): nothing to compare with (seal the template first)"))
        }
        return checks
    }
}
