import Foundation
@testable import SanitizeCloneKit
import Testing

/// LVM identities without devices: the UUID format, refusals before any device is looked at, and
/// the devices file.
@Suite("LVM identities: LVM's UUID format and the devices file")
struct LVMIdentityFormatTests {
    @Test("new UUIDs are 32 letters and digits in LVM's 6-4-4-4-4-4-6 groups, never twice the same")
    func newUUIDFormat() throws {
        for _ in 0..<20 {
            let uuid = try LVMIdentityChanger.newUUID()
            #expect(uuid.wholeMatch(of: /[0-9a-zA-Z]{6}(-[0-9a-zA-Z]{4}){5}-[0-9a-zA-Z]{6}/) != nil, "\(uuid)")
        }
        #expect(try LVMIdentityChanger.newUUID() != LVMIdentityChanger.newUUID())
    }

    @Test("a UUID is taken with or without dashes and given back in LVM's form")
    func uuidForms() throws {
        let dashed = "yiLHmx-3RaF-WXGg-n34h-TPcs-KSFO-BbSfGX"
        #expect(try LVMIdentityChanger.requireWellFormed(dashed, of: "PV") == dashed)
        #expect(try LVMIdentityChanger.requireWellFormed("yiLHmx3RaFWXGgn34hTPcsKSFOBbSfGX", of: "PV") == dashed)
    }

    @Test("a malformed UUID is refused before any device is looked at")
    func malformedUUID() throws {
        let cases = ["random", "0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1", "yiLHmx-3RaF-WXGg-n34h-TPcs-KSFO-BbSfG",
                     "yiLHmx-3RaF-WXGg-n34h-TPcs-KSFO-BbSf!X", ""]
        for uuid in cases {
            let error = try #require(throws: InputError.self, "\(uuid)") {
                try LVMIdentityChanger.setIdentity(pvUUID: uuid, vgUUID: nil, on: "/dev/does-not-exist")
            }
            #expect(error.description.contains("is not an LVM PV UUID"), "\(error)")
        }
        let error = try #require(throws: InputError.self) {
            try LVMIdentityChanger.setIdentity(pvUUID: LVMIdentityChanger.newUUID(), vgUUID: "nope", on: "/dev/does-not-exist")
        }
        #expect(error.description.contains("is not an LVM VG UUID"), "\(error)")
    }

    @Test("a VG name LVM would reject is refused, saying which characters it takes")
    func invalidVGName() throws {
        for name in ["-vg", "vg/root", "vg root", "..", "", String(repeating: "v", count: 128)] {
            let error = try #require(throws: InputError.self, "\(name)") {
                try LVMIdentityChanger.renameVolumeGroup(on: "/dev/does-not-exist", from: "vg", to: name)
            }
            #expect(error.description.contains("is not a valid VG name"), "\(error)")
        }
    }

    @Test("the devices file gets the new PVIDs, a new VERSION counter, and nothing else changes")
    func devicesFileRewrite() throws {
        let text = """
            # LVM uses devices listed in this file.
            # Created by LVM command vgcreate pid 1234 at Mon Jan  1 00:00:00 2024
            VERSION=1.1.7
            IDTYPE=devname IDNAME=/dev/vda2 DEVNAME=/dev/vda2 PVID=yiLHmx3RaFWXGgn34hTPcsKSFOBbSfGX PART=2
            IDTYPE=sys_wwid IDNAME=naa.600140512345 DEVNAME=/dev/sdb PVID=AAAAAAbbbbCCCCddddEEEEffffGGGGGG

            """
        let rewritten = try #require(LVMIdentityChanger.rewrittenDevicesFile(text, pvids: [
            "yiLHmx-3RaF-WXGg-n34h-TPcs-KSFO-BbSfGX": "NEWPVx-3RaF-WXGg-n34h-TPcs-KSFO-BbSfGX",
        ]))
        #expect(rewritten == """
            # LVM uses devices listed in this file.
            # Created by LVM command vgcreate pid 1234 at Mon Jan  1 00:00:00 2024
            VERSION=1.1.8
            IDTYPE=devname IDNAME=/dev/vda2 DEVNAME=/dev/vda2 PVID=NEWPVx3RaFWXGgn34hTPcsKSFOBbSfGX PART=2
            IDTYPE=sys_wwid IDNAME=naa.600140512345 DEVNAME=/dev/sdb PVID=AAAAAAbbbbCCCCddddEEEEffffGGGGGG

            """)
        // Undo is the same with the map reversed (keys without dashes work as well).
        let back = try #require(LVMIdentityChanger.rewrittenDevicesFile(rewritten, pvids: [
            "NEWPVx3RaFWXGgn34hTPcsKSFOBbSfGX": "yiLHmx3RaFWXGgn34hTPcsKSFOBbSfGX",
        ]))
        #expect(back == text.replacingOccurrences(of: "VERSION=1.1.7", with: "VERSION=1.1.9"))
    }

    @Test("a devices file naming none of the old PVIDs is left alone; a PVID in a comment is no entry")
    func devicesFileUntouched() {
        let text = "# PVID=yiLHmx3RaFWXGgn34hTPcsKSFOBbSfGX\nVERSION=1.1.2\nIDTYPE=devname IDNAME=/dev/vda2 DEVNAME=/dev/vda2 PVID=. PART=2\n"
        #expect(LVMIdentityChanger.rewrittenDevicesFile(text, pvids: ["yiLHmx3RaFWXGgn34hTPcsKSFOBbSfGX": "NEWPVx3RaFWXGgn34hTPcsKSFOBbSfGX"]) == nil)
        #expect(LVMIdentityChanger.rewrittenDevicesFile(text, pvids: [:]) == nil)
    }

    @Test("LVM's warnings about disabled activation are not the reason a command failed")
    func reasonWithoutNoise() {
        let output = """
              WARNING: Activation disabled. No device-mapper interaction will be attempted.
              /dev/mapper/control: open failed: No such device
              Failure to communicate with kernel device-mapper driver.
              Consider using option --force to restore Volume Group vg with thin volumes.
              Restore failed.
            """
        #expect(LVMIdentityChanger.reasonSuffix(output) == ": Consider using option --force to restore Volume Group vg with thin volumes. Restore failed.")
    }
}

/// LVM identities on loop devices: a PV with a VG and LVs (their extents written by hand, as no
/// LV can be activated without device-mapper), changed, checked, and changed back exactly.
@Suite("LVM identities on loop devices", .serialized, .requiresRoot,
       .enabled(if: StorageTools.available("lvm", "pvcreate"), "needs lvm2 (apt-get install lvm2)"))
struct LVMIdentityLoopTests {
    @Test("a clone's PV and VG get the given UUIDs; the old ones come back exactly, LVs and data intact")
    func roundTrip() throws {
        try LoopDevice.with(size: 256 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vgclone")
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            #expect(before.vgName == "vgclone" && before.device == loop.path)
            #expect(before.pvUUID == (try loop.blkid("UUID")))
            let metadata = try lvm.backup("vgclone"), segments = try lvm.segments(), data = try lvm.dataChecksum()

            let pv = try LVMIdentityChanger.newUUID(), vg = try LVMIdentityChanger.newUUID()
            let printed = try LVMIdentityChanger.setIdentity(pvUUID: pv, vgUUID: vg, on: loop.path)
            #expect(printed.contains("pvck") && printed.contains("vgcfgrestore"), "\(printed)")
            #expect(try LVMPhysicalVolume.read(loop.path) == LVMPhysicalVolume(device: loop.path, pvUUID: pv, vgName: "vgclone", vgUUID: vg))
            #expect(try loop.blkid("UUID") == pv)
            try lvm.expectClean("vgclone")
            #expect(try lvm.segments() == segments)
            #expect(try lvm.dataChecksum() == data)
            #expect(try lvm.backup("vgclone") == metadata.replacingOccurrences(of: before.pvUUID, with: pv)
                .replacingOccurrences(of: before.vgUUID!, with: vg))

            // Asking for what is already there runs nothing.
            #expect(try LVMIdentityChanger.setIdentity(pvUUID: pv, vgUUID: vg, on: loop.path) == "")

            try LVMIdentityChanger.setIdentity(pvUUID: before.pvUUID, vgUUID: before.vgUUID, on: loop.path)
            #expect(try LVMPhysicalVolume.read(loop.path) == before)
            try lvm.expectClean("vgclone")
            #expect(try lvm.backup("vgclone") == metadata)
            #expect(try lvm.segments() == segments)
            #expect(try lvm.dataChecksum() == data)
            // Backups and archives stay off: the guest's metadata never lands on the host.
            #expect(!FileManager.default.fileExists(atPath: "/etc/lvm/backup/vgclone"))
            #expect(!FileManager.default.fileExists(atPath: "/etc/lvm/archive"))
        }
    }

    @Test("only the VG UUID changes when the PV UUID stays (the label is not rewritten), through a symlink to the device")
    func onlyTheVGUUID() throws {
        try LoopDevice.with(size: 128 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vgonly")
            let link = loop.directory + "/by-id-link"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: loop.path)
            let before = try #require(try LVMPhysicalVolume.read(link))
            #expect(before.device == link)
            let vg = try LVMIdentityChanger.newUUID()
            let printed = try LVMIdentityChanger.setIdentity(pvUUID: before.pvUUID, vgUUID: vg, on: link)
            #expect(!printed.contains("pvck") && printed.contains("vgcfgrestore") && printed.contains("--devices \(loop.path)"), "\(printed)")
            #expect(try LVMPhysicalVolume.read(loop.path)?.vgUUID == vg)
            try LVMIdentityChanger.setIdentity(pvUUID: before.pvUUID, vgUUID: before.vgUUID, on: link)
            #expect(try LVMPhysicalVolume.read(link) == before)
        }
    }

    @Test("a VG spanning two PVs is refused, naming vgimportclone, and left as it was")
    func multiplePVsRefused() throws {
        try LoopDevice.with(size: 64 << 20) { first in
            try LoopDevice.with(size: 64 << 20) { second in
                let lvm = LVMFixture(first, alsoSeeing: second)
                try lvm.succeed("pvcreate", [first.path, second.path])
                try lvm.succeed("vgcreate", ["vgspan", first.path, second.path])
                let before = try #require(try LVMPhysicalVolume.read(first.path))
                #expect(before.vgName == "vgspan")
                let error = try #require(throws: FilesystemUUIDError.self) {
                    try LVMIdentityChanger.setIdentity(pvUUID: LVMIdentityChanger.newUUID(), vgUUID: LVMIdentityChanger.newUUID(), on: first.path)
                }
                #expect(error.description.contains("its VG vgspan spans 2 PVs") && error.description.contains("vgimportclone"), "\(error)")
                let rename = try #require(throws: FilesystemUUIDError.self) {
                    try LVMIdentityChanger.renameVolumeGroup(on: first.path, from: "vgspan", to: "vgspan2")
                }
                #expect(rename.description.contains("spans 2 PVs"), "\(rename)")
                #expect(try LVMPhysicalVolume.read(first.path) == before)
            }
        }
    }

    @Test("a VG owned by another system ID, with two metadata areas and a thin pool, keeps all three")
    func foreignVGWithThinPool() throws {
        try LoopDevice.with(size: 256 << 20) { loop in
            let lvm = LVMFixture(loop, systemID: "template-host")
            try lvm.makeVolumeGroup("vgforeign", metadataCopies: 2)
            try lvm.addThinPool(to: "vgforeign")
            // Foreign to this host (which has no system ID): plain LVM commands refuse the VG.
            #expect(try LVMFixture(loop).lvm("vgck", ["vgforeign"]).exitCode != 0)
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            #expect(before.vgName == "vgforeign")
            let metadata = try lvm.backup("vgforeign"), segments = try lvm.segments()

            let pv = try LVMIdentityChanger.newUUID(), vg = try LVMIdentityChanger.newUUID()
            try LVMIdentityChanger.setIdentity(pvUUID: pv, vgUUID: vg, on: loop.path)
            #expect(try LVMPhysicalVolume.read(loop.path) == LVMPhysicalVolume(device: loop.path, pvUUID: pv, vgName: "vgforeign", vgUUID: vg))
            #expect(try lvm.report(["vg_systemid", "pv_mda_count", "pv_mda_used_count"]) == "template-host 2 2")
            #expect(try lvm.segments() == segments)
            try lvm.expectClean("vgforeign")

            try LVMIdentityChanger.setIdentity(pvUUID: before.pvUUID, vgUUID: before.vgUUID, on: loop.path)
            #expect(try LVMPhysicalVolume.read(loop.path) == before)
            #expect(try lvm.backup("vgforeign") == metadata)
            #expect(try lvm.report(["vg_systemid", "pv_mda_count", "pv_mda_used_count"]) == "template-host 2 2")
        }
    }

    @Test("a change interrupted after the label was written is undone, or finished, by running it again")
    func interruptedChange() throws {
        try LoopDevice.with(size: 128 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vgcrash")
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            let metadata = try lvm.backup("vgcrash")
            let pv = try LVMIdentityChanger.newUUID(), vg = try LVMIdentityChanger.newUUID()

            // The host died between pvck and vgcfgrestore: the label has the new PV UUID.
            try lvm.writeLabelOnly(pvUUID: pv)
            let error = try #require(throws: FilesystemUUIDError.self) { try LVMPhysicalVolume.read(loop.path) }
            #expect(error.description.contains("run it again to finish or undo it"), "\(error)")
            try LVMIdentityChanger.setIdentity(pvUUID: before.pvUUID, vgUUID: before.vgUUID, on: loop.path)
            #expect(try LVMPhysicalVolume.read(loop.path) == before)
            #expect(try lvm.backup("vgcrash") == metadata)

            try lvm.writeLabelOnly(pvUUID: pv)
            try LVMIdentityChanger.setIdentity(pvUUID: pv, vgUUID: vg, on: loop.path)
            #expect(try LVMPhysicalVolume.read(loop.path) == LVMPhysicalVolume(device: loop.path, pvUUID: pv, vgName: "vgcrash", vgUUID: vg))
            try lvm.expectClean("vgcrash")
        }
    }

    @Test("a PV the host holds is refused in one line, and left as it was")
    func heldDeviceRefused() throws {
        try LoopDevice.with(size: 128 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vgheld")
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            // An exclusive open is the kernel's claim, as device-mapper holds a PV with active LVs.
            var claim = open(loop.path, O_RDONLY | O_EXCL | O_CLOEXEC)
            try #require(claim >= 0)
            defer { if claim >= 0 { close(claim) } }
            let error = try #require(throws: FilesystemUUIDError.self) {
                try LVMIdentityChanger.setIdentity(pvUUID: LVMIdentityChanger.newUUID(), vgUUID: LVMIdentityChanger.newUUID(), on: loop.path)
            }
            #expect(error.description.hasPrefix("Refusing to change the LVM identity of \(loop.path): it is busy"), "\(error)")
            #expect(error.description.contains("vgchange -an") && !error.description.contains("\n"), "\(error)")
            let rename = try #require(throws: FilesystemUUIDError.self) {
                try LVMIdentityChanger.renameVolumeGroup(on: loop.path, from: "vgheld", to: "vgheld2")
            }
            #expect(rename.description.hasPrefix("Refusing to change the name of the VG on \(loop.path)"), "\(rename)")
            close(claim)
            claim = -1
            #expect(try LVMPhysicalVolume.read(loop.path) == before)
        }
    }

    @Test("the VG is renamed and renamed back; a host VG of either name is never seen")
    func renameAndBack() throws {
        try LoopDevice.with(size: 128 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vgtemplate")
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            let printed = try LVMIdentityChanger.renameVolumeGroup(on: loop.path, from: "vgtemplate", to: "vgclone-2")
            #expect(printed.contains("vgrename"), "\(printed)")
            var renamed = before
            renamed.vgName = "vgclone-2"
            #expect(try LVMPhysicalVolume.read(loop.path) == renamed)
            try lvm.expectClean("vgclone-2")
            // Done already: nothing runs.
            #expect(try LVMIdentityChanger.renameVolumeGroup(on: loop.path, from: "vgtemplate", to: "vgclone-2") == "")
            let wrong = try #require(throws: InputError.self) {
                try LVMIdentityChanger.renameVolumeGroup(on: loop.path, from: "other", to: "vgother")
            }
            #expect(wrong.description.contains("is called vgclone-2, neither other nor vgother"), "\(wrong)")

            try LVMIdentityChanger.renameVolumeGroup(on: loop.path, from: "vgclone-2", to: "vgtemplate")
            #expect(try LVMPhysicalVolume.read(loop.path) == before)
        }
    }

    @Test("an orphan PV gets a new PV UUID and its old one back, with the same layout")
    func orphanPV() throws {
        try LoopDevice.with(size: 64 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.succeed("pvcreate", ["--pvmetadatacopies", "2", loop.path])
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            #expect(before.vgName == nil && before.vgUUID == nil)
            let layout = try lvm.report(["pe_start", "pv_mda_count", "pv_mda_size"])

            let refused = try #require(throws: InputError.self) {
                try LVMIdentityChanger.setIdentity(pvUUID: LVMIdentityChanger.newUUID(), vgUUID: LVMIdentityChanger.newUUID(), on: loop.path)
            }
            #expect(refused.description.contains("belongs to no volume group"), "\(refused)")

            let pv = try LVMIdentityChanger.newUUID()
            try LVMIdentityChanger.setIdentity(pvUUID: pv, vgUUID: nil, on: loop.path)
            #expect(try LVMPhysicalVolume.read(loop.path) == LVMPhysicalVolume(device: loop.path, pvUUID: pv))
            #expect(try lvm.report(["pe_start", "pv_mda_count", "pv_mda_size"]) == layout)
            try LVMIdentityChanger.setIdentity(pvUUID: before.pvUUID, vgUUID: nil, on: loop.path)
            #expect(try LVMPhysicalVolume.read(loop.path) == before)
        }
    }

    @Test("a PV in a VG needs a VG UUID; a device that is no PV has no LVM identity")
    func wrongInputs() throws {
        try LoopDevice.with(size: 64 << 20) { loop in
            #expect(try LVMPhysicalVolume.read(loop.path) == nil)
            let notPV = try #require(throws: InputError.self) {
                try LVMIdentityChanger.setIdentity(pvUUID: LVMIdentityChanger.newUUID(), vgUUID: nil, on: loop.path)
            }
            #expect(notPV.description.contains("is not an LVM physical volume"), "\(notPV)")
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vginput", logicalVolumes: false)
            let needsVG = try #require(throws: InputError.self) {
                try LVMIdentityChanger.setIdentity(pvUUID: LVMIdentityChanger.newUUID(), vgUUID: nil, on: loop.path)
            }
            #expect(needsVG.description.contains("belongs to the volume group vginput"), "\(needsVG)")
        }
    }
}

/// LVM commands for the fixtures, confined to one loop device exactly as the library confines
/// its own (activation off, so `lvcreate --activate n` works without device-mapper).
struct LVMFixture {
    let loop: LoopDevice
    /// Set on VGs this fixture creates, and used to reach them afterwards.
    var systemID: String?
    /// A second device the commands may see, for a VG spanning two PVs.
    var other: LoopDevice?

    init(_ loop: LoopDevice, systemID: String? = nil, alsoSeeing other: LoopDevice? = nil) {
        self.loop = loop
        self.systemID = systemID
        self.other = other
    }

    private var configuration: String {
        let accepted = ([loop] + (other.map { [$0] } ?? [])).map { "\"a|^\($0.path)$|\", " }.joined()
        let filter = "[\(accepted)\"r|.*|\"]"
        let owner = systemID.map { " system_id_source=\"lvmlocal\" } local { system_id=\"\($0)\"" } ?? ""
        return "devices { filter=\(filter) global_filter=\(filter) use_devicesfile=0 obtain_device_list_from_udev=0 hints=\"none\" }"
            + " activation { udev_sync=0 udev_rules=0 monitoring=0 } backup { backup=0 archive=0 }"
            + " global { activation=0\(owner) }"
    }

    /// `lvm COMMAND [--devices DEVICE] --config … ARGUMENTS` (pvck rejects --devices).
    func lvm(_ command: String, _ arguments: [String]) throws -> CommandResult {
        let devices = command == "pvck" ? [] : ["--devices", ([loop.path] + (other.map { [$0.path] } ?? [])).joined(separator: ",")]
        return try HostCommand.run("lvm", [command] + devices + ["--config", configuration] + arguments,
                                   environment: ["LVM_SUPPRESS_FD_WARNINGS": "1"])
    }

    @discardableResult
    func succeed(_ command: String, _ arguments: [String]) throws -> CommandResult {
        let result = try lvm(command, arguments)
        guard result.exitCode == 0 else { throw FixtureError("set-up command failed: \(result)") }
        return result
    }

    /// A PV with a VG `name` and, unless told otherwise, three LVs: `data` in two pieces (extents
    /// 0-1 and 9-10), `root` and `frag`, with a marker written at the start of each extent used.
    func makeVolumeGroup(_ name: String, metadataCopies: Int = 1, logicalVolumes: Bool = true) throws {
        try succeed("pvcreate", ["--pvmetadatacopies", String(metadataCopies), loop.path])
        try succeed("vgcreate", ["-s", "4m", name, loop.path])
        guard logicalVolumes else { return }
        try succeed("lvcreate", ["--activate", "n", "--zero", "n", "-L", "8m", "-n", "data", name])
        try succeed("lvcreate", ["--activate", "n", "--zero", "n", "-L", "16m", "-n", "root", name])
        try succeed("lvcreate", ["--activate", "n", "--zero", "n", "-l", "3", "-n", "frag", name])
        try succeed("lvextend", ["-L", "+8m", "\(name)/data"])
        let start = Int(try report(["pe_start"]))!
        for extent in 0..<11 {
            try HostCommand.succeed("sh", ["-c", "printf 'EXTENT-%02d' \"$2\" | dd of=\"$1\" bs=1 seek=\"$3\" conv=notrunc status=none",
                                           "sh", loop.path, String(extent), String(start + extent * (4 << 20))])
        }
    }

    /// Adds a thin pool to the metadata (vgcfgbackup, edit, vgcfgrestore --force): lvcreate cannot
    /// make one without device-mapper. Its LVs take extents 20-25.
    func addThinPool(to vg: String) throws {
        let file = loop.directory + "/thin.vg"
        try succeed("vgcfgbackup", ["-f", file, vg])
        var text = try String(contentsOfFile: file, encoding: .utf8)
        func linear(_ name: String, _ id: String, _ extents: Int, at extent: Int, visible: Bool = false) -> String {
            """
            \(name) {
            id = "\(id)"
            status = ["READ", "WRITE"\(visible ? ", \"VISIBLE\"" : "")]
            flags = []
            segment_count = 1
            segment1 {
            start_extent = 0
            extent_count = \(extents)
            type = "striped"
            stripe_count = 1
            stripes = ["pv0", \(extent)]
            }
            }

            """
        }
        let pool = """
            pool {
            id = "thinpl-0000-0000-0000-0000-0000-000001"
            status = ["READ", "WRITE", "VISIBLE"]
            flags = []
            segment_count = 1
            segment1 {
            start_extent = 0
            extent_count = 4
            type = "thin-pool"
            metadata = "pool_tmeta"
            pool = "pool_tdata"
            transaction_id = 0
            chunk_size = 128
            discards = "passdown"
            zero_new_blocks = 0
            }
            }

            """
        let volumes = pool + linear("pool_tmeta", "thinpl-0000-0000-0000-0000-0000-000002", 1, at: 24)
            + linear("pool_tdata", "thinpl-0000-0000-0000-0000-0000-000003", 4, at: 20)
            + linear("lvol0_pmspare", "thinpl-0000-0000-0000-0000-0000-000004", 1, at: 25)
        let anchor = try #require(text.range(of: "logical_volumes {\n"))
        text.insert(contentsOf: volumes, at: anchor.upperBound)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        try succeed("vgcfgrestore", ["--force", "-f", file, vg])
    }

    /// The VG's metadata as vgcfgbackup writes it, without what changes on every write
    /// (the date, the command line, seqno).
    func backup(_ vg: String) throws -> String {
        let file = loop.directory + "/backup-\(UUID().uuidString).vg"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try succeed("vgcfgbackup", ["-f", file, vg])
        return try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").filter { line in
            !["# Generated by", "description =", "creation_time =", "seqno ="].contains { line.contains($0) }
        }.joined(separator: "\n")
    }

    /// Every LV segment: name, UUID, first extent, and where on the PV it lies.
    func segments() throws -> String {
        try succeed("lvs", ["-a", "--noheadings", "-o", "lv_name,lv_uuid,segtype,seg_start_pe,seg_pe_ranges", "--sort", "lv_name,seg_start_pe"]).stdout
    }

    /// One line of `pvs -o FIELDS`, fields separated by one space.
    func report(_ fields: [String]) throws -> String {
        try succeed("pvs", ["--noheadings", "--units", "b", "--nosuffix", "-o", fields.joined(separator: ","), loop.path])
            .stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// The SHA-256 of everything after the first MiB (the extents).
    func dataChecksum() throws -> String {
        try HostCommand.succeed("sh", ["-c", "dd if=\"$1\" bs=1M skip=1 status=none | sha256sum", "sh", loop.path]).stdout
    }

    /// vgck and pvck find nothing wrong.
    func expectClean(_ vg: String) throws {
        let vgck = try lvm("vgck", [vg])
        #expect(vgck.exitCode == 0, "\(vgck)")
        let pvck = try lvm("pvck", [loop.path])
        #expect(pvck.exitCode == 0 && pvck.stdout.contains("Found label on \(loop.path), sector 1"), "\(pvck)")
    }

    /// What the first half of a change writes: the label, with the metadata left as it is.
    func writeLabelOnly(pvUUID: String) throws {
        let file = loop.directory + "/label-\(UUID().uuidString).vg"
        try succeed("pvck", ["--dump", "metadata", "-f", file, loop.path])
        let current = try #require(try LVMPhysicalVolume.read(loop.path)?.pvUUID)
        let text = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: current, with: pvUUID)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        try succeed("pvck", ["-y", "--repairtype", "pv_header", "--settings", "pv_uuid=\(pvUUID)", "-f", file, loop.path])
    }
}
