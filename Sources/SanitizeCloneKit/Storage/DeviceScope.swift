#if canImport(Glibc)
import Glibc
#endif

/// The block devices a run may change, and only those: a guest's fstab, crypttab or journal is
/// untrusted input and must never lead the tool to a device of the host.
///
/// - the running system (`run` without `--root`): every block device of this machine;
/// - `--image`: the image's own partitions, and the linear LVs inside its LVM PVs (loop devices
///   at their offsets, `AttachedDiskImage`);
/// - `--root`: the partitions of the disk that holds the root's own filesystem (through
///   device-mapper to the disks below it), and the devices named with `--device`.
///
/// `fs-uuids` plans only within it, and the undo of a UUID change finds its device only within it.
public struct DeviceScope: Sendable {
    enum Source: Sendable {
        case host
        case image([BlockDeviceIdentity], file: String?)
        case rootDisk(paths: [String], named: [String])
    }
    let source: Source

    /// Every block device of this machine (the running system).
    public static let host = DeviceScope(source: .host)

    /// A disk image's own partitions (as attached; their identities are probed again each time
    /// the inventory is read), and the image `file` itself (its partition table), when known.
    public static func image(_ devices: [BlockDeviceIdentity], file: String? = nil) -> DeviceScope {
        DeviceScope(source: .image(devices, file: file))
    }

    /// The disk image file whose partition table a run may change (`--image`, as given on the
    /// command line, never as a journal names it); nil for a `--root` or the running system.
    public var imageFile: String? {
        if case .image(_, let file) = source { return file }
        return nil
    }

    /// The scope of `root`: every device for the running system, else the disk holding the root's
    /// filesystem and the devices `named` on the command line (each must be a block device).
    public static func of(_ root: RootDirectory, named: [String]) throws -> DeviceScope {
        if root.isLiveSystem && named.isEmpty { return .host }
        for device in named { _ = try BlockDeviceNumber(of: device) }
        var paths: [String] = []
        if let status = try root.followedStatus(of: "/") {
            paths = Self.disk(holding: status.device)
        }
        return DeviceScope(source: .rootDisk(paths: paths, named: named))
    }

    /// The devices in scope, each probed now (blkid -p).
    public func inventory() throws -> BlockDeviceInventory {
        switch source {
        case .host: return try BlockDeviceInventory.host()
        case .image(let devices, _):
            // Probed again, not the identities seen when the image was attached: the undo of a
            // UUID set earlier in this run looks for the device by its new UUID. A partition's
            // PARTUUID comes from the image's table (blkid sees none on a loop device at an offset).
            return BlockDeviceInventory(devices: try devices.compactMap { attached in
                guard var probed = try BlockDeviceIdentity.probe(attached.device) else { return nil }
                if probed.partUUID == nil { probed.partUUID = attached.partUUID }
                probed.logicalVolume = attached.logicalVolume
                return probed
            })
        case .rootDisk(let paths, let named):
            var seen = Set<String>()
            let devices = try (paths + named).filter { seen.insert($0).inserted }.compactMap { try BlockDeviceIdentity.probe($0) }
            return BlockDeviceInventory(devices: devices)
        }
    }

    /// The devices named with `--device` (a `--root`'s), as given.
    public var namedDevices: [String] {
        if case .rootDisk(_, let named) = source { return named }
        return []
    }

    /// True when every block device of this machine is in scope (the running system).
    public var coversHost: Bool {
        if case .host = source { return true }
        return false
    }

    /// One line for the plan: what may be changed.
    public var summary: String {
        switch source {
        case .host: return "every block device of this machine"
        case .image: return "the image's own partitions and LVs"
        case .rootDisk(let paths, let named):
            let disk = paths.isEmpty ? "no disk holds the root's filesystem" : "the root's disk (\(paths.joined(separator: ", ")))"
            return disk + (named.isEmpty ? "" : " and --device \(named.joined(separator: ", "))")
        }
    }

    /// What the plan says of the scope, e.g. "only the root's disk (/dev/vda) may get new UUIDs;
    /// name another disk of the clone with --device".
    public var planNote: String {
        switch source {
        case .host: return "every block device of this machine may get a new UUID"
        case .image: return "only the image's own partitions and LVs may get new UUIDs"
        case .rootDisk: return "only \(summary) may get new UUIDs; name another disk of the clone with --device"
        }
    }

    /// The whole disk that holds the filesystem on device number `device` (st_dev), with all its
    /// partitions, as /dev paths; through device-mapper, the disks below. Empty for a filesystem
    /// on no block device (tmpfs, overlay).
    static func disk(holding device: UInt64) -> [String] {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        let directory = "/sys/dev/block/\(major):\(minor)"
        guard Sysfs.exists(directory) else { return [] }
        let slaves = Sysfs.entries(of: directory + "/slaves").sorted()
        if !slaves.isEmpty {
            return slaves.flatMap { name -> [String] in
                guard let number = Sysfs.firstLine("/sys/class/block/\(name)/dev") else { return [] }
                return wholeDisk(at: "/sys/dev/block/\(number)")
            }
        }
        return wholeDisk(at: directory)
    }

    /// The disk of the sysfs block directory `directory` (itself, or its parent for a
    /// partition) and its partitions.
    private static func wholeDisk(at directory: String) -> [String] {
        let disk = Sysfs.exists(directory + "/partition") ? directory + "/.." : directory
        guard let name = Sysfs.lines(disk + "/uevent").first(where: { $0.hasPrefix("DEVNAME=") }) else { return [] }
        let diskName = String(name.dropFirst("DEVNAME=".count))
        let partitions = Sysfs.entries(of: disk).sorted().filter { Sysfs.exists("\(disk)/\($0)/partition") }
        return (["/dev/" + diskName] + partitions.map { "/dev/" + $0 }).filter(Sysfs.exists)
    }
}
