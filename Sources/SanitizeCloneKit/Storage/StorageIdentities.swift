/// The storage identities a root's own configuration leads to, as `seal` records them for the
/// template (`RecordedIdentity.Template.storage`) and `verify` reads them again in the clone: the
/// UUID of every filesystem, swap area and LUKS volume the root's fstab and crypttab name, the PV
/// and VG UUIDs and VG name of every volume group they mount from, and the identifiers of the
/// partition tables those devices sit on (GPT disk GUID and partition GUIDs, or the MBR disk id).
///
/// Only devices within the run's `DeviceScope` are read (a guest's fstab never leads to a host
/// device); an entry whose device is not in view is left out, never guessed. Everything is read
/// with `blkid -p`, LVM confined to the one device, and `sfdisk --json`: nothing is written.
public struct StorageIdentities: Codable, Sendable, Equatable {
    /// A filesystem, swap area or LUKS volume, and where the root uses it.
    public struct Volume: Codable, Sendable, Equatable {
        /// The mount point ("/", "/srv"; "none" for swap) or the crypttab mapping's name.
        public var place: String
        /// blkid's TYPE: ext4, xfs, btrfs, vfat, swap, crypto_LUKS…
        public var type: String
        /// The UUID as blkid prints it.
        public var uuid: String
        /// The device it was found on when recorded (for messages only: names change).
        public var device: String
        /// A LUKS volume's volume-key fingerprint (`LUKSVolumeKey`); nil for anything else, and
        /// in records written before it was kept.
        public var volumeKey: String? = nil
    }

    /// An LVM physical volume and the volume group on it.
    public struct VolumeGroup: Codable, Sendable, Equatable {
        /// The VG's name (kept to name it in messages: a name stays unless it collides).
        public var name: String
        /// The VG UUID in LVM's form; nil for a PV in no VG.
        public var uuid: String?
        /// The PV UUID in LVM's form.
        public var pvUUID: String
        public var device: String
    }

    /// A partition table's identifiers.
    public struct PartitionTable: Codable, Sendable, Equatable {
        /// One partition's unique GUID (GPT only).
        public struct Partition: Codable, Sendable, Equatable {
            public var number: Int
            public var guid: String
        }
        /// The disk or image file it was read from (for messages only).
        public var disk: String
        /// "gpt" or "dos".
        public var label: String
        /// The GPT disk GUID or `0x…` MBR disk identifier, as sfdisk prints it.
        public var diskID: String
        public var partitions: [Partition]
    }

    public var volumes: [Volume] = []
    public var volumeGroups: [VolumeGroup] = []
    public var partitionTables: [PartitionTable] = []
    /// Physical volumes LVM could not read, one line each with the reason; not recorded.
    public var unreadableVolumeGroups: [String] = []
    /// Partition tables sfdisk could not read, one line each with the reason; not recorded.
    public var unreadableTables: [String] = []

    private enum CodingKeys: String, CodingKey { case volumes, volumeGroups, partitionTables }

    public init() {}

    /// True when nothing was found.
    public var isEmpty: Bool { volumes.isEmpty && volumeGroups.isEmpty && partitionTables.isEmpty }

    /// The identities of what `root`'s fstab and crypttab name, within `scope`. In `--image` mode
    /// the partition table is the image file's (`scope.imageFile`); otherwise the tables of the
    /// disks holding the partitions found. Throws what reading the root's files throws; a device
    /// LVM or sfdisk cannot read is named in `unreadableVolumeGroups` or `unreadableTables`. Reads devices; writes nothing.
    public static func current(of root: RootDirectory, in scope: DeviceScope) throws -> StorageIdentities {
        var identities = StorageIdentities()
        let references = try FilesystemTable.references(in: root)
        guard !references.isEmpty else { return identities }
        let inventory = try scope.inventory()
        var groups = Set<String>()
        var seen = Set<String>()
        for reference in references {
            if case .device(let path) = reference.source, let group = VolumeGroupNames.volumeGroup(namedBy: path) {
                groups.insert(group)
                continue
            }
            let matching = inventory.devices(for: reference.source)
            guard matching.count == 1, let device = matching.first, let uuid = device.uuid,
                  device.type != StorageIdentityUndo.lvmType, seen.insert(device.device).inserted else { continue }
            let volumeKey = device.type == "crypto_LUKS" ? try? LUKSVolumeKey.fingerprint(of: device.device) : nil
            identities.volumes.append(Volume(place: reference.mountPoint, type: device.type, uuid: uuid, device: device.device,
                                             volumeKey: volumeKey ?? nil))
        }
        var disks: [String] = identities.volumes.map(\.device)
        if !groups.isEmpty {
            for device in inventory.devices where device.type == StorageIdentityUndo.lvmType {
                do {
                    guard let volume = try LVMPhysicalVolume.read(device.device), let name = volume.vgName, groups.contains(name) else { continue }
                    identities.volumeGroups.append(VolumeGroup(name: name, uuid: volume.vgUUID, pvUUID: volume.pvUUID, device: device.device))
                    disks.append(device.device)
                } catch {
                    identities.unreadableVolumeGroups.append("\(device.device): LVM cannot read this physical volume (\(error))")
                }
            }
        }
        let tableSources = scope.imageFile.map { [$0] } ?? Self.wholeDisks(holding: disks)
        for source in tableSources {
            do {
                guard let table = try PartitionTableIdentity.read(image: source), ["gpt", "dos"].contains(table.label) else { continue }
                identities.partitionTables.append(PartitionTable(
                    disk: source, label: table.label, diskID: table.diskID,
                    partitions: table.partitions.compactMap { partition in partition.uuid.map { .init(number: partition.number, guid: $0) } }))
            } catch {
                identities.unreadableTables.append("\(source): the partition table cannot be read (\(error))")
            }
        }
        return identities
    }

    /// The whole disks (`/dev/vda`) the partitions among `devices` are on, in order, once each;
    /// for a loop device attached at an offset of a file (how this tool, and a kernel without
    /// partition-table parsers, attach an image's partitions), that file. A whole disk or a loop
    /// device of a whole file has no table of its own to read.
    static func wholeDisks(holding devices: [String]) -> [String] {
        var disks: [String] = []
        for device in devices {
            guard let number = try? BlockDeviceNumber(of: device) else { continue }
            let directory = "/sys/dev/block/\(number.text)"
            if let offset = Sysfs.firstLine(directory + "/loop/offset"), offset != "0",
               let file = Sysfs.firstLine(directory + "/loop/backing_file"), file.hasPrefix("/") {
                if !disks.contains(file) && Sysfs.exists(file) { disks.append(file) }
                continue
            }
            // The partition's sysfs directory sits inside its disk's.
            guard Sysfs.exists(directory + "/partition"),
                  let name = Sysfs.lines(directory + "/../uevent").first(where: { $0.hasPrefix("DEVNAME=") }) else { continue }
            let disk = "/dev/" + name.dropFirst("DEVNAME=".count)
            if !disks.contains(disk) && Sysfs.exists(disk) { disks.append(disk) }
        }
        return disks
    }
}
