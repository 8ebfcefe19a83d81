import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import CShims
import Synchronization

/// A raw disk image attached to loop devices: one per partition (by offset and size), or one for
/// the whole image when it has no partition table (a bare filesystem).
///
/// The partition table is read in userspace (`sfdisk --json`), because a kernel without partition
/// parsers makes no partition devices for `losetup -P`. Every loop device is attached with the
/// kernel's autoclear flag and held open only by this object, so it goes away by itself when the
/// last user lets go:
/// - `detach()` (or deinit) detaches at once, or when a mount of the device ends;
/// - SIGINT, SIGTERM or SIGHUP: `DeviceCleanup` unmounts and detaches, then the process ends;
/// - SIGKILL: nothing of ours runs, but the kernel closes our descriptors, which detaches every
///   device not mounted. Mounts made in the namespace of `PrivateMount.hideMountsFromHost()` die
///   with the process, and their devices with them. A mount left in the host's namespace keeps
///   its device attached: the next attach of the image refuses it, naming the device and the
///   commands that release it.
///
/// The linear LVs of the LVM physical volumes among them are attached too, each as one more
/// loop device at the byte range its VG metadata gives (`LogicalVolumeLayout`), so a host without
/// device-mapper reaches them like partitions; what cannot be reached that way (striped, thin,
/// RAID, snapshots, LVM inside LUKS) is listed in `unreachable` with the reason.
///
/// While attached, the image carries a whole-file lock on its open file description (exclusive
/// when read-write, shared when read-only), the kind qemu takes and checks on its disk images:
/// qemu refuses to start a VM on an image we hold, and we refuse to change an image a running VM
/// holds. The lock lasts as long as any of our loop devices does, even one left behind by SIGKILL.
public final class AttachedDiskImage: Sendable {
    /// One attached partition, or the whole image when it has no partition table.
    public struct Partition: Sendable, Equatable {
        /// The partition's number in the table (5 and up are logical MBR partitions); nil for a
        /// whole-image filesystem.
        public let number: Int?
        /// The loop device showing exactly this partition, e.g. /dev/loop3.
        public let device: String
        /// Where the partition starts in the image, in bytes.
        public let offset: UInt64
        /// The partition's size, in bytes.
        public let size: UInt64
        /// The GPT partition type GUID (upper case) or MBR type (hex, "83"), as sfdisk prints it;
        /// nil for a whole-image filesystem.
        public let typeCode: String?
        /// PARTUUID as blkid shows it: the GPT partition's UUID in lower case, or for MBR the disk
        /// identifier and the partition number in hex (`c3cebe12-01`); nil for a whole-image
        /// filesystem or an MBR disk whose identifier is 0.
        public let partUUID: String?
        /// The logical volume this device shows, for an LV reached at its offset inside an LVM
        /// physical volume of the image (`number` is then nil); nil for a partition.
        public let logicalVolume: LogicalVolumeName?

        /// How messages name it: "partition 2", "LV vg0/root", "the whole image".
        public var name: String {
            if let logicalVolume { return "LV \(logicalVolume)" }
            return number.map { "partition \($0)" } ?? "the whole image"
        }
    }

    /// The image's path, as given.
    public let image: String
    /// The attached partitions in table order (extended MBR containers and empty entries skipped).
    public let partitions: [Partition]
    /// Whether the loop devices refuse writes.
    public let isReadOnly: Bool
    /// What the image holds that cannot be reached without device-mapper, one line each naming it
    /// and the reason ("partition 3: LV vg0/data is striped over 2 stripes: …").
    public let unreachable: [String]

    /// The loop devices still attached, and the image's own descriptor (flushed and closed on
    /// detach); nil once detached.
    private let state: Mutex<(attachments: [LoopAttachment], image: Int32)?>

    /// Attaches every partition (sfdisk --json IMAGE; no table → the whole image), read-only when
    /// asked.
    ///
    /// Throws `InputError` for an image that cannot be used, in one line that says what to do:
    /// missing, not a regular file, empty, qcow2 or another non-raw format (convert it with
    /// `qemu-img convert -O raw`), already attached to a loop device (`losetup -j IMAGE`), locked
    /// by a running VM or another run (a read-only attach minds only exclusive locks), a GPT that
    /// does not fit in the image, or a table pointing past the image's end. Throws `SystemError`
    /// when the kernel refuses a loop device, `MissingProgramError` without sfdisk or losetup. On
    /// any failure every device attached so far is detached before the error is thrown. Writes
    /// nothing to the image; locks it.
    public init(image: String, readOnly: Bool = false) throws {
        let descriptor = try Self.openImage(image, readOnly: readOnly)
        var attached: [LoopAttachment] = []
        do {
            let size = try Self.sizeOfRawImage(image, descriptor: descriptor)
            try Self.refuseIfAttached(image)
            try Self.lock(image, descriptor: descriptor, exclusive: !readOnly)
            let layout = try PartitionLayout.read(image: image, size: size)
            var partitions: [Partition] = []
            for entry in layout {
                let (loopDescriptor, number) = try System.attachLoopDevice(to: descriptor, offset: entry.offset, size: entry.size,
                                                                           readOnly: readOnly, path: image)
                attached.append(LoopAttachment(descriptor: loopDescriptor, device: "/dev/loop\(number)", isReadOnly: readOnly,
                                               registration: DeviceCleanup.register(loop: loopDescriptor)))
                partitions.append(Partition(
                    number: entry.number, device: "/dev/loop\(number)", offset: entry.offset, size: entry.size,
                    typeCode: entry.typeCode, partUUID: entry.partUUID, logicalVolume: nil))
            }
            var unreachable: [String] = []
            for partition in partitions {
                for volume in Self.logicalVolumes(in: partition, unreachable: &unreachable) {
                    let offset = partition.offset + volume.offset  // within the partition: checked by the layout
                    let (loopDescriptor, number) = try System.attachLoopDevice(to: descriptor, offset: offset, size: volume.size,
                                                                               readOnly: readOnly, path: image)
                    attached.append(LoopAttachment(descriptor: loopDescriptor, device: "/dev/loop\(number)", isReadOnly: readOnly,
                                                   registration: DeviceCleanup.register(loop: loopDescriptor)))
                    partitions.append(Partition(number: nil, device: "/dev/loop\(number)", offset: offset, size: volume.size,
                                                typeCode: nil, partUUID: nil, logicalVolume: volume.name))
                }
            }
            self.partitions = partitions
            self.unreachable = unreachable
        } catch {
            attached.forEach { $0.detach() }
            System.close(descriptor)
            throw error
        }
        self.image = image
        self.isReadOnly = readOnly
        self.state = Mutex((attached, descriptor))
    }

    /// The linear LVs of the LVM PV on `partition`, if it is one, as its VG metadata places them;
    /// what cannot be reached (and a LUKS volume, which is never opened here) is added to
    /// `unreachable`. Reads the partition (blkid -p, lvs); a PV LVM cannot read is reported there,
    /// not thrown: the rest of the image stays usable.
    private static func logicalVolumes(in partition: Partition, unreachable: inout [String]) -> [LogicalVolumeLayout.Volume] {
        guard let identity = try? BlockDeviceIdentity.probe(partition.device) else { return [] }
        switch identity.type {
        case "crypto_LUKS":
            unreachable.append("\(partition.name) (\(partition.device)) is a LUKS volume: --image never opens one (that needs device-mapper and its passphrase), so an LVM PV or filesystem inside it is not reached and keeps its UUIDs")
            return []
        case StorageIdentityUndo.lvmType:
            do {
                let layout = try LogicalVolumeLayout.read(partition.device, deviceSize: partition.size)
                unreachable += layout.refusals.map { "\(partition.name) (LVM PV): \($0)" }
                return layout.volumes
            } catch {
                unreachable.append("\(partition.name) (\(partition.device)) is an LVM PV whose LVs cannot be listed, so none is attached: \(error)")
                return []
            }
        default:
            return []
        }
    }

    /// The partition whose PARTUUID is `partUUID` (any case), as an fstab `PARTUUID=` names it.
    public func partition(partUUID: String) -> Partition? {
        partitions.first { $0.partUUID == partUUID.lowercased() }
    }

    /// Detaches every loop device (idempotent), each flushed first when attached read-write. A
    /// device still mounted is detached by the kernel when the mount ends, and the image's lock is
    /// released with the last device. Flushes the image file when it was attached read-write.
    /// Also called from deinit.
    ///
    /// Returns the flushes that failed (empty when all reached the image). A write a failed flush
    /// left in a device's page cache is lost when the device is detached: `ImageReadBack` is what
    /// tells whether the image holds every change.
    @discardableResult
    public func detach() -> [SystemError] {
        guard let (attachments, descriptor) = state.withLock({ current in
            defer { current = nil }
            return current
        }) else { return [] }
        let failures = attachments.compactMap { $0.detach() }
        // Belt and braces, so its failure is ignored: every flush of a loop device reaches the
        // file, since the loop driver passes it on as fsync.
        if !isReadOnly { try? System.fsync(descriptor, path: image) }
        System.close(descriptor)
        return failures
    }

    deinit {
        detach()
    }
}

// MARK: - Checks before attaching

extension AttachedDiskImage {
    /// Opens a regular file (checked before opening, so a FIFO cannot block us) for the loop devices.
    private static func openImage(_ image: String, readOnly: Bool) throws -> Int32 {
        guard let status = try System.allowing([ENOENT, ENOTDIR], { try System.status(of: image) }) else {
            throw InputError("\(image) does not exist (give the path of a raw disk image file, e.g. 'sanitize-clone plan --image /var/lib/libvirt/images/web-07.raw'; convert others with 'qemu-img convert -O raw')")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw InputError("\(image) is not a regular file (--image takes a raw disk image file; for a disk or partition device, mount its root filesystem and pass --root)")
        }
        return try System.open(image, readOnly ? O_RDONLY : O_RDWR)
    }

    /// The image's size, once it is known to be a raw disk: non-empty and not one of qemu's
    /// other formats, which a loop device would show as garbage.
    private static func sizeOfRawImage(_ image: String, descriptor: Int32) throws -> UInt64 {
        let status = try System.status(of: descriptor, path: image)
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw InputError("\(image) is not a regular file (--image takes a raw disk image file)")
        }
        guard status.st_size >= 512 else {
            throw InputError("\(image) is \(status.st_size == 0 ? "empty" : "smaller than one sector") (give a raw disk image of the VM, not an empty file)")
        }
        var header = [UInt8](repeating: 0, count: 512)
        let count = try header.withUnsafeMutableBytes { buffer in try System.read(descriptor, into: buffer, at: 0, path: image) }
        if let format = DiskImageFormat.nonRaw(header: Array(header[0..<count])) {
            throw InputError("\(image) is a \(format) image, not a raw disk (convert it first: qemu-img convert -O raw \(image) \(rawName(of: image)), then pass the .raw file)")
        }
        return UInt64(status.st_size)
    }

    /// The name suggested for a converted copy: the extension replaced by .raw.
    private static func rawName(of image: String) -> String {
        let name = image.split(separator: "/").last.map(String.init) ?? image
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return image + ".raw" }
        return String(image.dropLast(name.distance(from: dot, to: name.endIndex))) + ".raw"
    }

    /// Locks the image for the time it is attached, or refuses it when someone holds a lock that
    /// conflicts: a running VM, or another run changing it.
    private static func lock(_ image: String, descriptor: Int32, exclusive: Bool) throws {
        guard try System.allowing([EAGAIN, EACCES], {
            try System.lockWholeFile(descriptor, exclusive: exclusive, path: image)
        }) == nil else { return }
        throw InputError("\(image) is locked by another program, most likely a running VM (qemu locks its disk images) or another sanitize-clone run: shut the VM down (or let the run finish) first")
    }

    /// Refuses an image a loop device already shows (`losetup -j`): another run is using it, a
    /// killed run left it mounted, or another tool attached it.
    private static func refuseIfAttached(_ image: String) throws {
        let devices = try attachedDevices(of: image)
        guard !devices.isEmpty else { return }
        let list = devices.joined(separator: " ")
        throw InputError("\(image) is already attached to \(devices.joined(separator: ", ")) (by a run still going, one that was killed, or another tool): if nothing uses it any more, unmount what `findmnt \(devices[0])` lists and run `losetup -d \(list)`")
    }
}

extension AttachedDiskImage {
    /// The loop devices that show `image` now (`losetup --associated`). Throws
    /// `MissingProgramError` without losetup, `ProgramFailedError` when it fails.
    static func attachedDevices(of image: String) throws -> [String] {
        let losetup = try Program.find("losetup", package: "mount")
        let output = try losetup.run(["--associated", image]).check().output
        return output.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            guard line.hasPrefix("/dev/"), let colon = line.firstIndex(of: ":") else { return nil }
            return String(line[..<colon])
        }
    }

    /// Waits up to `seconds` until no loop device shows `image`: a device we detached stays
    /// until the last process that opened it (udev's blkid, another program probing every
    /// device) closes it. Returns whether none is left.
    static func waitUntilDetached(_ image: String, seconds: Int = 10) throws -> Bool {
        for _ in 0..<(seconds * 10) {
            if try attachedDevices(of: image).isEmpty { return true }
            usleep(100_000)
        }
        return try attachedDevices(of: image).isEmpty
    }
}

/// Disk image formats a loop device cannot read, told apart by their first bytes.
enum DiskImageFormat {
    /// The format's name as qemu-img calls it, or nil for anything else (raw, a bare filesystem).
    static func nonRaw(header: [UInt8]) -> String? {
        func starts(_ magic: String, at offset: Int = 0) -> Bool {
            let bytes = Array(magic.utf8)
            return header.count >= offset + bytes.count && Array(header[offset..<offset + bytes.count]) == bytes
        }
        if header.starts(with: [0x51, 0x46, 0x49, 0xfb]) { return header.count > 7 && header[7] == 1 ? "qcow" : "qcow2" }
        if starts("QED\0") { return "qed" }
        if starts("KDMV") || starts("# Disk DescriptorFile") { return "vmdk" }
        if starts("vhdxfile") { return "vhdx" }
        if starts("conectix") { return "vpc (VHD)" }
        if header.count >= 68, Array(header[64..<68]) == [0x7f, 0x10, 0xda, 0xbe] { return "vdi" }
        return nil
    }
}

// MARK: - The partition table

/// Where the partitions of an image lie, read from its table with `sfdisk --json`.
struct PartitionLayout {
    /// One partition to attach.
    struct Entry: Equatable {
        var number: Int?
        var offset: UInt64
        var size: UInt64
        var typeCode: String?
        var partUUID: String?
    }

    /// sfdisk's JSON dump: `{"partitiontable": {"label": "gpt", "id": ..., "partitions": [...]}}`.
    struct Dump: Decodable {
        struct Table: Decodable {
            /// "gpt", "dos", "sun", "sgi".
            var label: String
            /// The disk identifier: a GUID for GPT, `0x1234abcd` for MBR.
            var id: String?
            var device: String
            var sectorsize: UInt64?
            var partitions: [Partition]?
        }
        struct Partition: Decodable {
            /// The device sfdisk would name for it: the image's path, then `p` when that ends in a
            /// digit, then the number.
            var node: String
            var start: UInt64
            var size: UInt64
            var type: String?
            var uuid: String?
        }
        var partitiontable: Table
    }

    /// MBR types of extended partitions: containers of logical partitions, never a filesystem.
    static let extendedTypes: Set<String> = ["5", "f", "85"]
    /// The MBR type of a GPT's protective partition.
    static let protectiveType = "ee"

    /// The partitions of `image` (`size` bytes): the whole image when it has no partition table.
    /// Throws `InputError` for a table that does not fit in the image or has no partition.
    static func read(image: String, size: UInt64) throws -> [Entry] {
        let sfdisk = try Program.find("sfdisk", package: "fdisk")
        let result = try sfdisk.run(["--json", image])
        if result.exitCode != 0 && result.output.contains("does not contain a recognized partition table") {
            return [Entry(number: nil, offset: 0, size: size, typeCode: nil, partUUID: nil)]
        }
        try result.check()
        let dump: Dump
        do {
            dump = try JSONDecoder().decode(Dump.self, from: Data(jsonDocument(in: result.output).utf8))
        } catch {
            throw InputError("\(image): sfdisk --json printed no partition table we can read (\(error)); check the image with `sfdisk --verify \(image)`")
        }
        return try entries(of: dump.partitiontable, image: image, size: size)
    }

    /// The entries of a table read by sfdisk, checked against the image's size.
    static func entries(of table: Dump.Table, image: String, size: UInt64) throws -> [Entry] {
        let sectorSize = table.sectorsize ?? 512
        let all = table.partitions ?? []
        if table.label == "dos", all.contains(where: { $0.type?.lowercased() == protectiveType }) {
            throw InputError("\(image) has a GPT that sfdisk cannot read, only its protective MBR (a truncated copy? copy the image again, or check it with `sfdisk --verify \(image)`)")
        }
        let entries = try all.compactMap { partition -> Entry? in
            let number = Self.number(of: partition.node, device: table.device)
            if table.label == "dos", let type = partition.type, extendedTypes.contains(type.lowercased()) { return nil }
            guard partition.size > 0 else { return nil }
            // A hostile table may hold sector numbers whose byte offsets overflow 64 bits.
            let offset = partition.start.multipliedReportingOverflow(by: sectorSize)
            let length = partition.size.multipliedReportingOverflow(by: sectorSize)
            let end = offset.partialValue.addingReportingOverflow(length.partialValue)
            guard !offset.overflow, !length.overflow, !end.overflow else {
                throw InputError("\(image) has a partition table that points far past any disk's end (partition \(number.map(String.init) ?? partition.node)); check it with `sfdisk --verify \(image)`")
            }
            guard end.partialValue <= size else {
                throw InputError("\(image) is too short for its partition table: partition \(number.map(String.init) ?? partition.node) ends at byte \(end.partialValue) but the image has \(size) bytes (a truncated copy? copy it again, or grow it: truncate -s \(end.partialValue) \(image))")
            }
            return Entry(number: number, offset: offset.partialValue, size: length.partialValue, typeCode: partition.type,
                         partUUID: partUUID(label: table.label, diskID: table.id, number: number, uuid: partition.uuid))
        }
        guard !entries.isEmpty else {
            throw InputError("\(image) has a \(table.label) partition table without a partition (nothing to sanitize: is it the right image?)")
        }
        return entries
    }

    /// The partition number at the end of sfdisk's node name: `disk.raw2` → 2, `disk1p2` → 2.
    static func number(of node: String, device: String) -> Int? {
        guard node.hasPrefix(device) else { return Int(String(node.reversed().prefix { $0.isNumber }.reversed())) }
        var suffix = node.dropFirst(device.count)
        if suffix.first == "p" { suffix = suffix.dropFirst() }
        return Int(suffix)
    }

    /// PARTUUID as blkid (and the kernel's root=PARTUUID=) spells it.
    static func partUUID(label: String, diskID: String?, number: Int?, uuid: String?) -> String? {
        switch label {
        case "gpt":
            return uuid?.lowercased()
        case "dos":
            let digits = diskID?.lowercased().split(separator: "x").last.map(String.init)
            guard let digits, let number, let value = UInt32(digits, radix: 16), value != 0 else { return nil }
            return hex(UInt64(value), digits: 8) + "-" + hex(UInt64(number), digits: 2)
        default:
            return nil
        }
    }

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// The JSON document in sfdisk's output, which also holds its warnings (stderr is merged):
    /// from the first line that is `{` to the last that is `}`.
    static func jsonDocument(in output: String) -> String {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.firstIndex(of: "{"), let last = lines.lastIndex(of: "}"), first <= last else { return output }
        return lines[first...last].joined(separator: "\n")
    }
}

/// One loop device we attached: its descriptor (which keeps it attached) and its registration
/// for cleanup on a signal.
private struct LoopAttachment: Sendable {
    let descriptor: Int32
    /// /dev/loopN, for messages.
    let device: String
    let isReadOnly: Bool
    let registration: DeviceCleanup.Registration?

    /// Forgets the registration first, so the signal handler never clears a descriptor number
    /// that is closed and perhaps reused; then flushes (fsync), detaches (LOOP_CLR_FD) and closes,
    /// unless the cleanup of a signal did it all already. Returns the flush's failure, if any.
    ///
    /// The flush is what keeps a change: a tool that writes to the device without fsync
    /// (`fatlabel` does) leaves its write dirty in the device's page cache, where blkid -p sees it.
    /// LOOP_CLR_FD from the device's only opener puts it into rundown at once, and the loop driver
    /// fails every request from then on, so the writeback of the last close fails ("Buffer I/O
    /// error … lost async page write") and the image never holds the write.
    func detach() -> SystemError? {
        if let registration, !registration.cancel() { return nil }
        var failure: SystemError?
        if !isReadOnly {
            do throws(SystemError) {
                try System.fsync(descriptor, operation: "flush the loop device", path: device)
            } catch {
                failure = error
            }
        }
        // Ignored: the device was attached with autoclear, so closing our descriptor, its last
        // user once the mounts are gone, detaches it anyway.
        try? System.clearLoopDevice(descriptor)
        System.close(descriptor)
        return failure
    }
}
