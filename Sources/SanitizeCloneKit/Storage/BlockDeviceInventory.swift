import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The block devices a run may find a root's filesystems on, each as a low-level probe sees it:
/// the image's loop devices in `--image` mode, otherwise every block device of this machine.
public struct BlockDeviceInventory: Sendable {
    public let devices: [BlockDeviceIdentity]

    public init(devices: [BlockDeviceIdentity]) { self.devices = devices }

    /// Every block device of this machine with a signature (sysfs `/sys/class/block`, probed).
    public static func host() throws -> BlockDeviceInventory {
        var devices: [BlockDeviceIdentity] = []
        // Plain sysfs paths: its entries are symlinks into /sys/devices (see `Sysfs`).
        for name in Sysfs.entries(of: "/sys/class/block").sorted() {
            let path = "/dev/\(name)"
            guard Sysfs.exists(path), let size = Sysfs.firstLine("/sys/class/block/\(name)/size"), size != "0" else { continue }
            guard var identity = try BlockDeviceIdentity.probe(path) else { continue }
            // An active LV (dm-N) is known by its mapper name, as an fstab `/dev/mapper/VG-LV` names it.
            if identity.logicalVolume == nil, let mapperName = Sysfs.firstLine("/sys/class/block/\(name)/dm/name") {
                identity.logicalVolume = LogicalVolumeName(devicePath: "/dev/mapper/" + mapperName)
            }
            devices.append(identity)
        }
        return BlockDeviceInventory(devices: devices)
    }

    /// The devices `source` names (compared as blkid would: UUIDs and PARTUUIDs case-insensitively);
    /// for a device path, the LV it names (`/dev/mapper/VG-LV`, `/dev/VG/LV`): an image's, or an
    /// active one of the running system.
    public func devices(for source: FilesystemReference.Source) -> [BlockDeviceIdentity] {
        switch source {
        case .uuid(let uuid): devices.filter { $0.uuid?.lowercased() == uuid.lowercased() }
        case .label(let label): devices.filter { $0.label == label }
        case .partUUID(let uuid): devices.filter { $0.partUUID?.lowercased() == uuid.lowercased() }
        case .device(let path):
            LogicalVolumeName(devicePath: path).map { name in devices.filter { $0.logicalVolume == name } } ?? []
        case .partLabel: []
        }
    }

    /// The device that has `uuid` now, when exactly one has.
    public func device(withUUID uuid: String) -> BlockDeviceIdentity? {
        let matching = devices(for: .uuid(uuid))
        return matching.count == 1 ? matching[0] : nil
    }
}

/// UUID changes to filesystems that are mounted while the task graph runs (an image's root, in
/// `--image` mode): the task journals them like any other change, and the caller makes them
/// once the filesystems are unmounted.
public final class DeferredFilesystemChanges: Sendable {
    /// One UUID to set later.
    public struct Change: Sendable, Equatable {
        public let device: String
        public let type: String
        public let old: String
        public let new: String
    }

    /// The devices the caller has mounted.
    public let mountedDevices: Set<String>
    /// Devices whose UUID must stay, with the reason (a reference the caller could not reach).
    public let keptDevices: [String: String]
    private let changes = Mutex<[Change]>([])

    public init(mountedDevices: Set<String>, keptDevices: [String: String] = [:]) {
        self.mountedDevices = mountedDevices
        self.keptDevices = keptDevices
    }

    func add(_ change: Change) { changes.withLock { $0.append(change) } }
    /// The changes the run left for the caller, in the order they were planned.
    public var pending: [Change] { changes.withLock { $0 } }
}
