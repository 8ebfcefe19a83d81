#if canImport(Glibc)
import Glibc
#endif

/// One check `sanitize-clone verify` makes, and its result.
public struct CloneCheck: Sendable {
    public let name: String
    public let passed: Bool
    public let detail: String

    public init(_ name: String, _ passed: Bool, _ detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
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
    /// on (a disk image's), when not the running system's; every fstab UUID must then name one.
    public func checks(root: RootDirectory, interfaces: [NetworkInterface] = [], devices: [BlockDeviceIdentity]? = nil) throws -> [Check] {
        let recorded = try RecordedIdentity.load(from: root)
        let context = VerificationContext(root: root, template: recorded?.template, interfaces: interfaces, devices: devices)
        var checks = try tasks.flatMap { try $0.cloneChecks(in: context) }
        if recorded == nil {
            checks.append(Check("template identity recorded", false, "no \(RecordedIdentity.path): nothing to compare with (seal the template first)"))
        }
        return checks
    }
}
