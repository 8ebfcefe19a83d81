import Foundation
import Testing

/// A raw GPT disk image with an LVM physical volume partition and LVs in it, built on a host
/// without device-mapper: how image tests and test templates get LVM.
///
/// LVM creates the PV, the VG and the LVs without activating anything (`lvcreate --activate n
/// --zero n`, confined by `--config` to one loop device showing the partition, with udev sync,
/// activation, backups and the devices file off). Each LV is then reached the way `run --image`
/// reaches it: a loop device at the partition's offset + `pe_start` + first extent × extent size,
/// with the LV's size, which `withVolume` attaches (and detaches) for mkfs, mount and blkid.
///
/// `LVMDiskImage.make(…)` leaves nothing attached; the caller removes `directory`.
struct LVMDiskImage {
    /// The temporary directory holding the image (and mount points).
    let directory: String
    /// The image file.
    let path: String
    /// Byte offset and size of each partition, in table order.
    let partitions: [(offset: Int, size: Int)]
    /// The index in `partitions` of the LVM PV.
    let physicalVolumeIndex: Int
    /// The volume group's name.
    let volumeGroup: String
    /// Each LV's byte range in the image, as its VG metadata placed it when it was made.
    private(set) var volumes: [String: (offset: Int, size: Int)] = [:]

    /// Builds the image: `size` bytes (sparse), partitions from an sfdisk script whose
    /// `physicalVolumeIndex`th partition becomes a PV with a VG `volumeGroup` (4 MiB extents)
    /// holding `logicalVolumes` (name, size in MiB) in that order, without activating anything.
    static func make(size: String = "512M", table: String, physicalVolumeIndex: Int, volumeGroup: String,
                     logicalVolumes: [(name: String, megabytes: Int)]) throws -> LVMDiskImage {
        let directory = try Scratch.makeDirectory(prefix: "lvm-image")
        do {
            let path = directory + "/disk.raw"
            try HostCommand.succeed("truncate", ["-s", size, path])
            try HostCommand.succeed("sfdisk", ["-q", path], stdin: table)
            let json = try HostCommand.succeed("sfdisk", ["--json", path]).json
            let partitions = (json?["partitiontable"]?["partitions"]?.array ?? []).compactMap { part -> (offset: Int, size: Int)? in
                guard let start = part["start"]?.int, let size = part["size"]?.int else { return nil }
                return (start * 512, size * 512)
            }
            guard physicalVolumeIndex < partitions.count else { throw FixtureError("sfdisk made \(partitions.count) partitions: \(table)") }
            var image = LVMDiskImage(directory: directory, path: path, partitions: partitions,
                                     physicalVolumeIndex: physicalVolumeIndex, volumeGroup: volumeGroup)
            try image.withPhysicalVolume { lvm in
                try lvm.succeed("pvcreate", [lvm.device])
                try lvm.succeed("vgcreate", ["-s", "4m", volumeGroup, lvm.device])
                for volume in logicalVolumes {
                    try lvm.succeed("lvcreate", ["--activate", "n", "--zero", "n", "-L", "\(volume.megabytes)m", "-n", volume.name, volumeGroup])
                }
            }
            try image.locateVolumes()
            return image
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Reads where each linear LV lies now (`pvs -o pe_start`, `lvs -o seg_pe_ranges`).
    mutating func locateVolumes() throws {
        let partition = partitions[physicalVolumeIndex]
        volumes = try withPhysicalVolume { lvm in
            let start = Int(try lvm.succeed("pvs", ["--noheadings", "--units", "b", "--nosuffix", "-o", "pe_start", lvm.device])
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            let extent = 4 << 20
            var found: [String: (offset: Int, size: Int)] = [:]
            for line in try lvm.succeed("lvs", ["--noheadings", "-o", "lv_name,segtype,seg_pe_ranges", volumeGroup]).stdout.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 3, fields[1] == "linear", let colon = fields[2].lastIndex(of: ":") else { continue }
                let range = fields[2][fields[2].index(after: colon)...].split(separator: "-").compactMap { Int($0) }
                guard range.count == 2 else { continue }
                found[String(fields[0])] = (partition.offset + start + range[0] * extent, (range[1] - range[0] + 1) * extent)
            }
            return found
        }
    }

    /// Runs `body` with a loop device showing the PV partition and LVM confined to it.
    func withPhysicalVolume<T>(readOnly: Bool = false, _ body: (ConfinedLVMCommands) throws -> T) throws -> T {
        let partition = partitions[physicalVolumeIndex]
        return try withRange(offset: partition.offset, size: partition.size, readOnly: readOnly) { device in
            try body(ConfinedLVMCommands(device: device, directory: directory))
        }
    }

    /// Runs `body` with a loop device showing the LV `name` (at its offset in the image).
    func withVolume<T>(_ name: String, readOnly: Bool = true, _ body: (String) throws -> T) throws -> T {
        guard let volume = volumes[name] else { throw FixtureError("no linear LV \(name) in \(volumes.keys.sorted())") }
        return try withRange(offset: volume.offset, size: volume.size, readOnly: readOnly, body)
    }

    /// Runs `body` with a loop device showing partition `index`.
    func withPartition<T>(_ index: Int, readOnly: Bool = true, _ body: (String) throws -> T) throws -> T {
        try withRange(offset: partitions[index].offset, size: partitions[index].size, readOnly: readOnly, body)
    }

    /// Attaches `size` bytes of the image at `offset` (detached again afterwards, only that device).
    func withRange<T>(offset: Int, size: Int, readOnly: Bool, _ body: (String) throws -> T) throws -> T {
        let device = try HostCommand.succeed("losetup", ["--find", "--show"] + (readOnly ? ["--read-only"] : [])
                                             + ["--offset", String(offset), "--sizelimit", String(size), path])
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard device.hasPrefix("/dev/loop") else { throw FixtureError("losetup printed no loop device for \(path)") }
        defer { _ = try? HostCommand.run("losetup", ["-d", device]) }
        return try body(device)
    }

    /// Makes a filesystem in LV `name`: `program arguments… DEVICE` (mkfs.xfs, mkfs.ext4, mkswap).
    func format(_ name: String, _ program: String, _ arguments: [String]) throws {
        try withVolume(name, readOnly: false) { device in try HostCommand.succeed(program, arguments + [device]) }
    }

    /// Copies the tree at `source` (e.g. a fixture root) into the filesystem of LV `name`.
    func populate(_ name: String, from source: String) throws {
        try withVolume(name, readOnly: false) { device in
            let point = try Scratch.makeDirectory(prefix: "lvm-image-mount")
            defer { try? FileManager.default.removeItem(atPath: point) }
            try HostCommand.succeed("mount", [device, point])
            defer { _ = try? HostCommand.run("umount", [point]) }
            try HostCommand.succeed("cp", ["-a", source + "/.", point])
        }
    }

    /// A file inside LV `name`, read through a read-only mount (nil when absent).
    func file(_ inside: String, inVolume name: String) throws -> String? {
        try withVolume(name) { device in
            let point = try Scratch.makeDirectory(prefix: "lvm-image-look")
            defer { try? FileManager.default.removeItem(atPath: point) }
            try HostCommand.succeed("mount", ["-o", "ro,norecovery", device, point])
            defer { _ = try? HostCommand.run("umount", [point]) }
            return try? String(contentsOfFile: point + inside, encoding: .utf8)
        }
    }

    /// A file in partition `index`, read through a read-only mount (nil when absent).
    func file(_ inside: String, inPartition index: Int) throws -> String? {
        try withPartition(index) { device in
            let point = try Scratch.makeDirectory(prefix: "lvm-image-look")
            defer { try? FileManager.default.removeItem(atPath: point) }
            try HostCommand.succeed("mount", ["-o", "ro", device, point])
            defer { _ = try? HostCommand.run("umount", [point]) }
            return try? String(contentsOfFile: point + inside, encoding: .utf8)
        }
    }

    /// blkid -p's UUID of LV `name`, read through a fresh read-only attachment.
    func uuid(ofVolume name: String) throws -> String? {
        try withVolume(name) { try Self.blkidUUID($0) }
    }

    /// blkid -p's UUID of partition `index`.
    func uuid(ofPartition index: Int) throws -> String? {
        try withPartition(index) { try Self.blkidUUID($0) }
    }

    private static func blkidUUID(_ device: String) throws -> String? {
        let value = try HostCommand.run("blkid", ["-p", "-s", "UUID", "-o", "value", device]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }

    /// Rewrites the VG metadata with `edit` applied to its text (vgcfgbackup, edit, vgcfgrestore
    /// --force): how LVs lvcreate cannot make without device-mapper (thin, striped on one PV)
    /// get into a fixture.
    func editMetadata(_ edit: (String) throws -> String) throws {
        try withPhysicalVolume { lvm in
            let file = directory + "/metadata.vg"
            defer { try? FileManager.default.removeItem(atPath: file) }
            try lvm.succeed("vgcfgbackup", ["-f", file, volumeGroup])
            try edit(try String(contentsOfFile: file, encoding: .utf8)).write(toFile: file, atomically: true, encoding: .utf8)
            try lvm.succeed("vgcfgrestore", ["--force", "-f", file, volumeGroup])
        }
    }

    /// Loop devices still backed by the image, once the kernel has released a finished
    /// command's (waits up to 10 s; must be none between commands).
    func attachmentsAfterTeardown() throws -> String { try LoopDevice.attachments(backedBy: path) }

    /// An LV section for `editMetadata`: `segments` pieces, each (first extent in the LV, extent
    /// count, [(PV, first extent on it)] with one stripe per entry).
    static func logicalVolumeSection(_ name: String, id: String, type: String = "striped",
                                     segments: [(start: Int, count: Int, stripes: [(pv: String, extent: Int)])],
                                     extra: String = "") -> String {
        var text = "\(name) {\nid = \"\(id)\"\nstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\nflags = []\nsegment_count = \(segments.count)\n"
        for (index, segment) in segments.enumerated() {
            text += "segment\(index + 1) {\nstart_extent = \(segment.start)\nextent_count = \(segment.count)\ntype = \"\(type)\"\n"
            if type == "striped" {
                text += "stripe_count = \(segment.stripes.count)\n" + (segment.stripes.count > 1 ? "stripe_size = 128\n" : "")
                text += "stripes = [" + segment.stripes.map { "\"\($0.pv)\", \($0.extent)" }.joined(separator: ", ") + "]\n"
            }
            text += extra + "}\n"
        }
        return text + "}\n"
    }
}

/// The `lvm` program confined to one loop device, for building fixtures.
struct ConfinedLVMCommands {
    let device: String
    let directory: String

    private var configuration: String {
        let filter = "[\"a|^\(device)$|\", \"r|.*|\"]"
        return "devices { filter=\(filter) global_filter=\(filter) use_devicesfile=0 obtain_device_list_from_udev=0 hints=\"none\" }"
            + " activation { udev_sync=0 udev_rules=0 monitoring=0 } backup { backup=0 archive=0 } global { activation=0 }"
    }

    /// `lvm COMMAND --devices DEVICE --config … ARGUMENTS`; throws unless it exits 0.
    @discardableResult
    func succeed(_ command: String, _ arguments: [String]) throws -> CommandResult {
        let result = try HostCommand.run("lvm", [command, "--devices", device, "--config", configuration] + arguments,
                                         environment: ["LVM_SUPPRESS_FD_WARNINGS": "1"])
        guard result.exitCode == 0 else { throw FixtureError("set-up command failed: \(result)") }
        return result
    }
}
