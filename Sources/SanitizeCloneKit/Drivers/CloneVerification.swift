#if canImport(Glibc)
import Glibc
#endif

/// One check `sanitize-clone verify` makes, and its result.
public struct CloneCheck: Sendable {
    /// How a check ended.
    public enum State: String, Sendable {
        /// The identity differs from the template's, or the fact holds.
        case passed
        /// Changed at the next boot (a filesystem UUID the initramfs sets): reboot to complete it.
        case pending
        /// Still the template's because this guest or its configuration keeps it by design (a
        /// mounted filesystem with `ChangeMountedFilesystems=no`, a partition table outside
        /// `--image`…); `reason` says why and what changes it. A failure only with `--strict`.
        case kept
        /// A run should have changed it and did not, or the clone is inconsistent.
        case failed
    }

    public let name: String
    public let state: State
    public let detail: String
    /// Why a kept identity is kept, and how to change it; nil in every other state.
    public let reason: String?

    /// A check that passed or failed.
    public init(_ name: String, _ passed: Bool, _ detail: String) {
        self.init(name: name, state: passed ? .passed : .failed, detail: detail, reason: nil)
    }

    private init(name: String, state: State, detail: String, reason: String?) {
        self.name = name
        self.state = state
        self.detail = detail
        self.reason = reason
    }

    /// A change scheduled for the next boot ("pending, reboot: …").
    public static func pending(_ name: String, _ detail: String) -> CloneCheck {
        CloneCheck(name: name, state: .pending, detail: "pending, reboot: " + detail, reason: nil)
    }

    /// An identity still the template's by design: `detail` says which, `reason` why and what
    /// changes it (the line reads "kept: DETAIL: REASON").
    public static func kept(_ name: String, _ detail: String, reason: String) -> CloneCheck {
        CloneCheck(name: name, state: .kept, detail: "kept: \(detail): \(reason)", reason: reason)
    }

    /// False only for a failure: pending and kept identities do not fail `verify` (kept ones do
    /// with `--strict`, see `passed(strict:)`).
    public var passed: Bool { state != .failed }

    /// True for a change scheduled for the next boot.
    public var pending: Bool { state == .pending }

    /// True for an identity kept by design.
    public var kept: Bool { state == .kept }

    /// Whether the check holds: with `strict`, a kept identity fails too.
    public func passed(strict: Bool) -> Bool { strict ? state == .passed || state == .pending : passed }
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
    /// True when the root verified is the running clone itself (`verify` without `--root`):
    /// what a run would do about a device in use depends on it.
    public let isRunningClone: Bool

    /// How to run `sanitize-clone run` on what is verified: `run --image FILE`, `run --root DIR`
    /// (with the `--device`s given) or `run`.
    public var runCommand: String {
        if let image = deviceScope.imageFile { return "sanitize-clone run --image \(image)" }
        if isRunningClone { return "sanitize-clone run" }
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
        try checks(root: root, interfaces: interfaces, devices: devices, image: image, named: named, runningClone: root.isLiveSystem)
    }

    /// `checks(root:…)` with whether `root` is taken for the running clone (a test's fixture root
    /// whose devices it has mounted stands for one).
    func checks(root: RootDirectory, interfaces: [NetworkInterface] = [], devices: [BlockDeviceIdentity]? = nil,
                image: String? = nil, named: [String] = [], runningClone: Bool) throws -> [Check] {
        let recorded = try RecordedIdentity.load(from: root)
        let scope = try devices.map { DeviceScope.image($0, file: image) } ?? DeviceScope.of(root, named: named)
        let configuration = recorded?.template.storage?.isEmpty == false
            ? try Configuration.load(from: root, keys: RunEngine.engineKeys + tasks.flatMap(\.configurationKeys)) : nil
        let context = VerificationContext(root: root, template: recorded?.template, interfaces: interfaces, devices: devices,
                                          deviceScope: scope, configuration: configuration, isRunningClone: runningClone)
        var checks = try tasks.flatMap { try $0.cloneChecks(in: context) }
        if recorded == nil {
            checks.append(Check("template identity recorded", false, "no \(RecordedIdentity.path): nothing to compare with (seal the template first)"))
        }
        return checks
    }
}
