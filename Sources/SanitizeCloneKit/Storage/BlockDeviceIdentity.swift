#if canImport(Glibc)
import Glibc
#endif
import CShims

/// What a low-level probe (blkid -p) finds on one block device.
///
/// The probe reads the device itself, never blkid's cache (`/run/blkid/blkid.tab`), so a UUID
/// changed a moment ago is seen at once and a stale cache entry can never answer for the device.
public struct BlockDeviceIdentity: Sendable, Equatable {
    /// The device's path on the host, as given to `probe(_:)`, e.g. /dev/loop3.
    public var device: String
    /// blkid's TYPE: ext2, ext3, ext4, xfs, btrfs, vfat, swap, crypto_LUKS, LVM2_member…
    /// Empty when blkid finds only a partition table (PTTYPE) on a whole disk.
    public var type: String
    /// blkid's UUID exactly as blkid prints it: lowercase 8-4-4-4-12 for most types,
    /// the upper-case volume id `ABCD-1234` for vfat. Nil when the signature has none.
    public var uuid: String?
    /// blkid's LABEL. Characters outside printable ASCII appear as blkid writes them (`M-`, `^`).
    public var label: String?
    /// blkid's PART_ENTRY_UUID: the GPT partition's own UUID (or the MBR `PTUUID-NN` id).
    public var partUUID: String?
    /// The logical volume the device shows, when it is an LV of a disk image reached through a
    /// loop device at its offset (`AttachedDiskImage`); a probe never sets it.
    public var logicalVolume: LogicalVolumeName?

    /// An identity as a probe would report it.
    public init(device: String, type: String, uuid: String? = nil, label: String? = nil, partUUID: String? = nil) {
        self.device = device
        self.type = type
        self.uuid = uuid
        self.label = label
        self.partUUID = partUUID
    }

    /// Probes `device` with `blkid -p -o export DEVICE` (never the blkid cache).
    ///
    /// Returns nil when the device carries no signature at all (blkid exits 2).
    /// Throws `InputError` when `device` is not a block device or carries two signatures that
    /// contradict each other (blkid's "ambivalent result", exit 8), `ProgramFailedError` for any
    /// other blkid failure, and `MissingProgramError` without blkid. Reads the device; writes nothing.
    public static func probe(_ device: String) throws -> BlockDeviceIdentity? {
        _ = try BlockDeviceNumber(of: device)
        let blkid = try Program.find("blkid", package: "util-linux")
        let result = try blkid.run(["-p", "-o", "export", device])
        switch result.exitCode {
        case 0:
            let values = parseExport(result.output)
            return BlockDeviceIdentity(
                device: device, type: values["TYPE"] ?? "", uuid: values["UUID"],
                label: values["LABEL"], partUUID: values["PART_ENTRY_UUID"])
        case 2:
            return nil
        case 8:
            throw InputError("\(device) carries more than one signature (blkid -p: ambivalent result): list them with `wipefs \(device)` and erase the stale one with `wipefs -o OFFSET \(device)` before changing its UUID")
        default:
            throw ProgramFailedError(result: result)
        }
    }

    /// The `KEY=value` lines of `blkid -o export`, with blkid's backslash escapes undone.
    ///
    /// blkid writes control characters as `^X` in this format, so a hostile label cannot start a
    /// line of its own; the first occurrence of a key wins all the same.
    static func parseExport(_ output: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in output.split(whereSeparator: \.isNewline) {
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else { continue }
            let key = String(line[..<equals])
            guard key.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }), values[key] == nil else { continue }
            var value = ""
            var escaped = false
            for character in line[line.index(after: equals)...] {
                if !escaped && character == "\\" {
                    escaped = true
                    continue
                }
                escaped = false
                value.append(character)
            }
            values[key] = value
        }
        return values
    }
}

/// Whether the build host itself uses a block device, so that rewriting its metadata would
/// pull a filesystem out from under a mount, a swap area or a device-mapper/RAID stack.
///
/// A device counts as used when it (or, for a whole disk, one of its partitions) is
/// - mounted: any line of /proc/self/mountinfo with its major:minor, or whose source resolves to
///   the same device node (btrfs mounts show an anonymous 0:N there, and a bind mount or another
///   path to the node, such as /dev/disk/by-uuid/…, must count too);
/// - swapped on: listed in /proc/swaps under any path;
/// - held: /sys/dev/block/MAJ:MIN/holders is not empty (dm, md, bcache);
/// - busy: an `O_EXCL` open fails with EBUSY (the kernel's own claim, which also covers mounts
///   in other mount namespaces and a whole disk whose partition is claimed).
public enum HostDeviceUse {
    /// A short reason why `device` is in use on this host, or nil: "mounted on /mnt/data",
    /// "in use as swap (/dev/vdb2)", "held by dm-0", "in use through its partition vdb1, which is
    /// mounted on /boot", "busy (…)". It reads after "it is".
    ///
    /// Throws `InputError` when `device` does not exist or is no block device, and `SystemError`
    /// when /proc cannot be read. Opens the device once with `O_EXCL` and closes it again.
    public static func reason(_ device: String) throws -> String? {
        let number = try BlockDeviceNumber(of: device)
        let mounts = try MountTable.read()
        let swaps = try swapDevices()
        if let reason = try reason(for: number, mounts: mounts, swaps: swaps) { return reason }
        for partition in number.partitions() {
            if let reason = try reason(for: partition.number, mounts: mounts, swaps: swaps) {
                return "in use through its partition \(partition.name), which is \(reason)"
            }
        }
        // open(2) with O_EXCL on a block device asks the kernel for an exclusive claim, which
        // fails with EBUSY while a filesystem, swap, dm or md holds it, in any namespace.
        guard let fd = try System.allowing([EBUSY], {
            try System.open(device, O_RDONLY | O_EXCL | O_NONBLOCK, operation: "open (exclusively)")
        }) else { return "busy (the kernel refuses an exclusive open: something holds it)" }
        System.close(fd)
        return nil
    }

    /// Why the device with `number` is in use, from the mount table, the swaps and its holders.
    private static func reason(for number: BlockDeviceNumber, mounts: [MountTable.Entry], swaps: [String]) throws -> String? {
        for mount in mounts {
            if mount.device == number.text { return "mounted on \(mount.mountPoint)" }
        }
        for mount in mounts where mount.source.hasPrefix("/") {
            if (try? BlockDeviceNumber(of: mount.source)) == number { return "mounted on \(mount.mountPoint)" }
        }
        for swap in swaps where (try? BlockDeviceNumber(of: swap)) == number {
            return "in use as swap (\(swap))"
        }
        let holders = Sysfs.entries(of: "/sys/dev/block/\(number.text)/holders").sorted()
        if !holders.isEmpty { return "held by \(holders.joined(separator: ", "))" }
        return nil
    }

    /// The paths in /proc/swaps (the first column, with the kernel's octal escapes undone).
    private static func swapDevices() throws -> [String] {
        let text = try hostFileText("/proc/swaps")
        return text.split(whereSeparator: \.isNewline).dropFirst().compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).first.map { MountTable.unescape(String($0)) }
        }
    }
}

/// The kernel's mount and swap tables (/proc/self/mountinfo, /proc/swaps), and the octal
/// escapes they and fstab use.
enum MountTable {
    /// One mount: `device` is the kernel's MAJ:MIN, `source` the mount source as written.
    struct Entry {
        var device: String
        var mountPoint: String
        var source: String
    }

    /// Parses /proc/self/mountinfo (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPER`.
    static func read() throws -> [Entry] {
        let text = try hostFileText("/proc/self/mountinfo")
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 7, let separator = fields.firstIndex(of: "-"), separator >= 6,
                  separator + 2 < fields.count else { return nil }
            return Entry(device: fields[2], mountPoint: unescape(fields[4]), source: unescape(fields[separator + 2]))
        }
    }

    /// Undoes the kernel's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
    static func unescape(_ field: String) -> String {
        let bytes = Array(field.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\"), index + 3 < bytes.count,
               let value = octal(bytes[(index + 1)...(index + 3)]) {
                out.append(value)
                index += 4
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func octal(_ digits: ArraySlice<UInt8>) -> UInt8? {
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value <= 255 ? UInt8(value) : nil
    }
}

/// A block device's number (`st_rdev`), as the kernel writes it in /proc and /sys: `MAJ:MIN`.
struct BlockDeviceNumber: Equatable, Sendable {
    var major: UInt64
    var minor: UInt64

    /// The number of the block device at `path` (symlinks followed, as stat(2) does).
    /// Throws `InputError` when nothing is there or it is no block device.
    init(of path: String) throws {
        guard let info = try System.allowing([ENOENT, ENOTDIR], { try System.status(of: path) }) else {
            throw InputError("\(path) does not exist (give a block device such as /dev/vdb1)")
        }
        guard info.st_mode & S_IFMT == S_IFBLK else {
            throw InputError("\(path) is not a block device (give a block device such as /dev/vdb1; attach an image file with `losetup --find --show FILE` first)")
        }
        // glibc's major()/minor() are macros Swift cannot see; this is their definition.
        let raw = UInt64(info.st_rdev)
        major = ((raw >> 8) & 0xfff) | ((raw >> 32) & ~0xfff)
        minor = (raw & 0xff) | ((raw >> 12) & ~0xff)
    }

    private init(major: UInt64, minor: UInt64) {
        self.major = major
        self.minor = minor
    }

    /// `MAJ:MIN`.
    var text: String { "\(major):\(minor)" }

    /// The partitions of a whole disk: the subdirectories of its sysfs directory that have a
    /// `partition` file, with their kernel names (loop6p1) and numbers. Empty for a partition.
    func partitions() -> [(name: String, number: BlockDeviceNumber)] {
        let directory = "/sys/dev/block/\(text)"
        return Sysfs.entries(of: directory).sorted().compactMap { name in
            guard Sysfs.exists("\(directory)/\(name)/partition"), let dev = Sysfs.firstLine("\(directory)/\(name)/dev") else { return nil }
            let parts = dev.split(whereSeparator: { $0 == ":" || $0.isNewline })
            guard parts.count == 2, let major = UInt64(parts[0]), let minor = UInt64(parts[1]) else { return nil }
            return (name, BlockDeviceNumber(major: major, minor: minor))
        }
    }
}

/// The whole text of a small host file (/proc), read through one descriptor.
private func hostFileText(_ path: String) throws -> String {
    String(decoding: try Sysfs.read(path, limit: 16 << 20), as: UTF8.self)
}
