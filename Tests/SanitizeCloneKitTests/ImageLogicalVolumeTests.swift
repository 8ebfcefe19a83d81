import Foundation
@testable import SanitizeCloneKit
import Testing

/// `run --image` on an image whose root and swap are LVM logical volumes, on a host without
/// device-mapper: each linear LV is reached through a loop device at the byte range its VG
/// metadata gives, and what cannot be reached that way is refused, naming it.
@Suite("LVs of an image, without device-mapper", .requiresRoot, .serialized,
       .enabled(if: StorageTools.available("sfdisk", "lvm", "mkfs.xfs", "xfs_admin", "mkfs.ext4", "mkswap")))
struct ImageLogicalVolumeTests {
    /// The image and the UUIDs its template was given.
    struct Template {
        let image: LVMDiskImage
        let bootUUID: String, rootUUID: String, swapUUID: String
        var volumeGroup: String { image.volumeGroup }
        var fstab: String {
            "UUID=\(rootUUID) / xfs defaults 0 1\nUUID=\(bootUUID) /boot ext4 defaults 0 2\n/dev/mapper/\(volumeGroup)-swap none swap sw 0 0\n"
        }
        func grub(root: String, swap: String, boot: String) -> String {
            "search --fs-uuid --set=root \(boot)\nlinux /vmlinuz root=UUID=\(root) resume=UUID=\(swap) ro\n"
        }
    }

    /// A GPT image: an ext4 /boot partition with grub.cfg, and an LVM PV partition whose VG (a
    /// name no other VG on this host has) holds `root` (XFS, the fixture template; fstab names it
    /// by UUID) and `swap` (fstab names it by /dev/mapper name; the kernel's resume= by UUID).
    /// With `luks`, a third partition holds a LUKS volume.
    static func makeTemplate(luks: Bool = false) throws -> Template {
        let volumeGroup = "lvt" + String(UUID().uuidString.prefix(6)).lowercased()
        let table = "label: gpt\n,40M,L\n,470M,E6D6D379-F507-44C2-A23C-238F2A3DF928\n" + (luks ? ",,L\n" : "")
        let image = try LVMDiskImage.make(size: luks ? "560M" : "512M", table: table, physicalVolumeIndex: 1,
                                          volumeGroup: volumeGroup, logicalVolumes: [("root", 320), ("swap", 32)])
        do {
            let template = Template(image: image, bootUUID: UUID().uuidString.lowercased(), rootUUID: UUID().uuidString.lowercased(),
                                    swapUUID: UUID().uuidString.lowercased())
            let root = try FixtureRoot.debianLike()
            defer { root.remove() }
            try root.write("/etc/fstab", template.fstab)
            try root.makeDirectory("/boot")
            try image.format("root", "mkfs.xfs", ["-q", "-f", "-m", "uuid=\(template.rootUUID)"])
            try image.populate("root", from: root.path)
            try image.format("swap", "mkswap", ["-q", "-U", template.swapUUID])
            let boot = image.directory + "/boot"
            try FileManager.default.createDirectory(atPath: boot + "/grub", withIntermediateDirectories: true)
            try template.grub(root: template.rootUUID, swap: template.swapUUID, boot: template.bootUUID)
                .write(toFile: boot + "/grub/grub.cfg", atomically: true, encoding: .utf8)
            if luks {
                try image.withPartition(2, readOnly: false) { device in
                    try HostCommand.succeed("cryptsetup", ["luksFormat", "-q", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
                                                           "--key-file", "-", device], stdin: "template")
                }
            }
            let part = image.partitions[0]
            try HostCommand.succeed("mkfs.ext4", ["-q", "-F", "-U", template.bootUUID, "-d", boot, "-E", "offset=\(part.offset)",
                                                  image.path, "\(part.size / 1024)k"])
            return template
        } catch {
            try? FileManager.default.removeItem(atPath: image.directory)
            throw error
        }
    }

    @Test("run --image changes the UUIDs of the XFS root LV and the swap LV, fstab and grub.cfg follow, read back through a fresh attachment; rollback --image gives the old ones back")
    func runThenRollback() throws {
        let template = try Self.makeTemplate()
        let image = template.image
        defer { try? FileManager.default.removeItem(atPath: image.directory) }

        let run = try SanitizeClone.json(["run", "--image", image.path, "--json", "--hostname", "lv-01"])
        #expect(run["result"]?.string == "committed" && run.status(of: "fs-uuids") == "applied", "\(run)")
        #expect(try image.attachmentsAfterTeardown().isEmpty, "nothing left attached")
        #expect(!FileManager.default.fileExists(atPath: image.path + ".sanitize-clone-pending"))
        // Read from the image file through new loop devices at the LVs' offsets.
        let root = try #require(try image.uuid(ofVolume: "root")), swap = try #require(try image.uuid(ofVolume: "swap"))
        let boot = try #require(try image.uuid(ofPartition: 0))
        #expect(root != template.rootUUID && swap != template.swapUUID && boot != template.bootUUID)
        #expect(try image.file("/etc/fstab", inVolume: "root")
                == "UUID=\(root) / xfs defaults 0 1\nUUID=\(boot) /boot ext4 defaults 0 2\n/dev/mapper/\(template.volumeGroup)-swap none swap sw 0 0\n")
        #expect(try image.file("/grub/grub.cfg", inPartition: 0) == template.grub(root: root, swap: swap, boot: boot))
        #expect(try image.file("/etc/hostname", inVolume: "root") == "lv-01\n")

        let rollback = try SanitizeClone.json(["rollback", "--image", image.path, "--last", "--json"])
        #expect(rollback["result"]?.string == "rolled-back", "\(rollback)")
        #expect(try image.uuid(ofVolume: "root") == template.rootUUID)
        #expect(try image.uuid(ofVolume: "swap") == template.swapUUID)
        #expect(try image.uuid(ofPartition: 0) == template.bootUUID)
        #expect(try image.file("/etc/fstab", inVolume: "root") == template.fstab)
        #expect(try image.file("/grub/grub.cfg", inPartition: 0)
                == template.grub(root: template.rootUUID, swap: template.swapUUID, boot: template.bootUUID))
        #expect(try image.file("/etc/hostname", inVolume: "root") == "golden\n")
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a dry run plans both LVs' new UUIDs and changes no byte of the image")
    func dryRun() throws {
        let template = try Self.makeTemplate()
        let image = template.image
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let before = try HostCommand.succeed("sha256sum", [image.path]).stdout
        let plan = try SanitizeClone.json(["run", "--image", image.path, "--dry-run", "--json", "--hostname", "lv-01"])
        #expect(plan["result"]?.string == "planned" && plan.status(of: "fs-uuids") == "planned", "\(plan)")
        let changes = plan.task("fs-uuids")?["changes"]?.array ?? []
        for old in [template.rootUUID, template.swapUUID] {
            #expect(changes.contains { $0["old"]?.string == old && $0["action"]?.string?.hasPrefix("set-uuid") == true }, "\(old): \(changes)")
        }
        #expect(try HostCommand.succeed("sha256sum", [image.path]).stdout == before)
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("striped, thin and scattered LVs and a LUKS partition are refused, each named with its reason; the linear LVs are still changed",
          .enabled(if: StorageTools.available("cryptsetup")))
    func unreachableVolumesAreRefused() throws {
        let template = try Self.makeTemplate(luks: true)
        let image = template.image
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        // lvcreate cannot make these without device-mapper (or a second PV): edited metadata can.
        // root and swap take extents 0-87; these lie from 90 on.
        try image.editMetadata { text in
            let section = LVMDiskImage.logicalVolumeSection
            var volumes = section("str", "stripe-0000-0000-0000-0000-0000-000001", "striped",
                                  [(0, 4, [("pv0", 90), ("pv0", 92)])], "")
            volumes += section("frag", "fragmt-0000-0000-0000-0000-0000-000001", "striped",
                               [(0, 2, [("pv0", 94)]), (2, 2, [("pv0", 97)])], "")
            volumes += section("pool", "thinpl-0000-0000-0000-0000-0000-000001", "thin-pool", [(0, 4, [])],
                               "metadata = \"pool_tmeta\"\npool = \"pool_tdata\"\ntransaction_id = 1\nchunk_size = 128\ndiscards = \"passdown\"\nzero_new_blocks = 0\n")
            volumes += section("pool_tdata", "thinpl-0000-0000-0000-0000-0000-000002", "striped", [(0, 4, [("pv0", 100)])], "")
                .replacingOccurrences(of: ", \"VISIBLE\"", with: "")
            volumes += section("pool_tmeta", "thinpl-0000-0000-0000-0000-0000-000003", "striped", [(0, 1, [("pv0", 104)])], "")
                .replacingOccurrences(of: ", \"VISIBLE\"", with: "")
            volumes += section("lvol0_pmspare", "thinpl-0000-0000-0000-0000-0000-000004", "striped", [(0, 1, [("pv0", 105)])], "")
                .replacingOccurrences(of: ", \"VISIBLE\"", with: "")
            volumes += section("thin1", "thinlv-0000-0000-0000-0000-0000-000001", "thin", [(0, 2, [])],
                               "thin_pool = \"pool\"\ntransaction_id = 0\ndevice_id = 1\n")
            guard let anchor = text.range(of: "logical_volumes {\n") else { throw FixtureError("no logical_volumes in \(text)") }
            var edited = text
            edited.insert(contentsOf: volumes, at: anchor.upperBound)
            return edited
        }
        let plan = try SanitizeClone.json(["run", "--image", image.path, "--dry-run", "--json"])
        #expect(plan["result"]?.string == "planned", "\(plan)")
        let notes = plan.task("fs-uuids")?["notes"]?.array?.compactMap(\.string) ?? []
        let vg = template.volumeGroup
        for (volume, reason) in [("str", "is striped over 2 stripes"), ("thin1", "is a thin LV"), ("frag", "lies in 2 pieces that do not follow each other")] {
            #expect(notes.contains { $0.contains("LV \(vg)/\(volume) \(reason)") && $0.contains("without device-mapper") }, "\(volume): \(notes)")
        }
        #expect(notes.contains { $0.hasPrefix("partition 3 (/dev/loop") && $0.contains("is a LUKS volume") && $0.contains("device-mapper") }, "\(notes)")
        #expect(!notes.contains { $0.contains("\(vg)/pool") }, "the pool itself and its hidden LVs hold no filesystem: \(notes)")
        let changes = plan.task("fs-uuids")?["changes"]?.array ?? []
        #expect(changes.contains { $0["old"]?.string == template.rootUUID }, "the linear root LV is still reached: \(changes)")
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }
}

/// The byte ranges `LogicalVolumeLayout` computes from LVM's report, and what it refuses.
@Suite("Logical volume layout")
struct LogicalVolumeLayoutTests {
    static func row(_ lv: String, type: String = "linear", role: String = "public", start: Int = 0, count: Int, ranges: String,
                    stripes: Int = 1, uuid: String? = nil) -> String {
        #"{"vg_name":"vg0", "lv_name":"\#(lv)", "lv_uuid":"\#(uuid ?? lv + "-uuid")", "lv_role":"\#(role)", "segtype":"\#(type)", "stripes":"\#(stripes)", "seg_start_pe":"\#(start)", "seg_size_pe":"\#(count)", "seg_pe_ranges":"\#(ranges)", "vg_extent_size":"4194304"}"#
    }

    static func layout(_ rows: [String], deviceSize: UInt64 = 1 << 30) throws -> LogicalVolumeLayout {
        try LogicalVolumeLayout.parse(report: #"{"report": [{"seg": [\#(rows.joined(separator: ","))]}]}"#,
                                      device: "/dev/loop7", dataStart: 1 << 20, deviceSize: deviceSize)
    }

    @Test("a linear LV lies at pe_start + first extent × extent size, with its extents' size; one in contiguous segments is one range")
    func linear() throws {
        let layout = try Self.layout([
            Self.row("root", count: 15, ranges: "/dev/loop7:0-14"),
            Self.row("data", start: 0, count: 2, ranges: "/dev/loop7:15-16"),
            Self.row("data", start: 2, count: 3, ranges: "/dev/loop7:17-19"),
        ])
        #expect(layout.refusals.isEmpty, "\(layout.refusals)")
        #expect(layout.volumes.map { "\($0.name) \($0.offset) \($0.size)" }
                == ["vg0/root \(1 << 20) \(15 * (4 << 20))", "vg0/data \((1 << 20) + 15 * (4 << 20)) \(5 * (4 << 20))"])
    }

    @Test("refused, naming the LV: striped, thin, RAID, mirror, snapshot and origin, other PVs, scattered pieces, extents past the end")
    func refusals() throws {
        let layout = try Self.layout([
            Self.row("str", type: "striped", count: 4, ranges: "/dev/loop7:0-1 /dev/loop7:2-3", stripes: 2),
            Self.row("thin", type: "thin", count: 2, ranges: "", stripes: 0),
            Self.row("r1", type: "raid1", count: 2, ranges: "r1_rimage_0:0-1 r1_rimage_1:0-1", stripes: 2),
            Self.row("m", type: "mirror", count: 2, ranges: "m_mimage_0:0-1 m_mimage_1:0-1", stripes: 2),
            Self.row("snap", role: "public,snapshot,thicksnapshot", count: 2, ranges: "/dev/loop7:10-11"),
            Self.row("orig", role: "public,origin,thickorigin", count: 2, ranges: "/dev/loop7:12-13"),
            Self.row("span", start: 0, count: 2, ranges: "/dev/loop7:20-21"),
            Self.row("span", start: 2, count: 2, ranges: "[unknown]:0-1"),
            Self.row("scattered", start: 0, count: 2, ranges: "/dev/loop7:30-31"),
            Self.row("scattered", start: 2, count: 2, ranges: "/dev/loop7:40-41"),
            Self.row("beyond", count: 2, ranges: "/dev/loop7:1000-1001"),
            Self.row("huge", count: 2, ranges: "/dev/loop7:4611686018427387904-4611686018427387905"),
            Self.row("pool_tdata", role: "private,thin,pool,data", count: 2, ranges: "/dev/loop7:50-51"),
            Self.row("elsewhere", count: 2, ranges: "/dev/loop8:0-1"),
        ], deviceSize: 256 << 20)
        #expect(layout.volumes.isEmpty, "\(layout.volumes)")
        let reasons = Dictionary(uniqueKeysWithValues: layout.refusals.map { ($0.name.volume, $0.description) })
        let expected = ["str": "is striped over 2 stripes", "thin": "is a thin LV", "r1": "is a RAID LV (raid1)", "m": "is a mirror LV",
                        "snap": "is a snapshot", "orig": "has snapshots", "span": "has extents on another PV (one that is not in the image)",
                        "scattered": "lies in 2 pieces that do not follow each other on the PV (extents 30-31, 40-41)",
                        "beyond": "has extents past the end of its PV", "huge": "has extents past the end of its PV"]
        for (volume, reason) in expected {
            #expect(reasons[volume]?.hasPrefix("LV vg0/\(volume) \(reason)") == true, "\(volume): \(reasons[volume] ?? "not refused")")
        }
        #expect(reasons["pool_tdata"] == nil && reasons["elsewhere"] == nil, "hidden LVs and LVs wholly on another PV are not this PV's to report")
        #expect(reasons.values.allSatisfy { $0.contains("without device-mapper") })
    }

    @Test("a device path names an LV as device-mapper and udev name it; other paths name none")
    func devicePaths() {
        #expect(LogicalVolumeName(devicePath: "/dev/mapper/vg--a-root--fs")?.description == "vg-a/root-fs")
        #expect(LogicalVolumeName(devicePath: "/dev/vg0/swap")?.description == "vg0/swap")
        #expect(LogicalVolumeName(devicePath: "/dev/disk/by-id/dm-name-vg0-home")?.description == "vg0/home")
        #expect(LogicalVolumeName(devicePath: "/dev/mapper/cryptroot") == nil)
        #expect(LogicalVolumeName(devicePath: "/dev/sda1") == nil)
        #expect(LogicalVolumeName(devicePath: "/dev/disk/by-uuid/x") == nil)
    }
}
