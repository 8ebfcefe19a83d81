import Foundation
import Testing
@testable import SanitizeCloneKit

/// The initramfs side of a running clone's new PV and VG UUIDs (`NextBootVolumeGroups`), run with
/// the real lvm2 tools against a volume group on a loop device, as the initramfs finds it before
/// activation: dracut's initqueue job sourced by sh and bash, initramfs-tools' script run by sh.
@Suite("The initramfs job that sets a clone's own LVM identities", .requiresRoot, .serialized,
       .enabled(if: StorageTools.available("lvm", "pvcreate", "blkid"), "needs lvm2 (apt-get install lvm2)"))
struct NextBootVolumeGroupsTests {
    /// What a run leaves for the initramfs, in a scratch directory beside the loop device.
    struct Pending {
        let directory: String
        var environment: [String: String] {
            ["SANITIZE_CLONE_PENDING": directory + "/pending", "SANITIZE_CLONE_LOG": directory + "/log",
             "SANITIZE_CLONE_LVM_WORK": directory + "/work", "LVM_SUPPRESS_FD_WARNINGS": "1",
             "SANITIZE_CLONE_TABLES": directory + "/no-tables", "SANITIZE_CLONE_TABLES_WORK": directory + "/tables-work",
             "SANITIZE_CLONE_PARAMS": directory + "/param.conf"]
        }
        var log: String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }
        var finished: Bool { FileManager.default.fileExists(atPath: directory + "/work/finished") }

        init(_ directory: String, _ changes: [NextBootUUIDs.Change]) throws {
            self.directory = directory
            try NextBootUUIDs.text(changes).write(toFile: directory + "/pending", atomically: true, encoding: .utf8)
            try DracutNextBootModule.job.write(toFile: directory + "/job.sh", atomically: true, encoding: .utf8)
            try InitramfsComponent.premountScript.write(toFile: directory + "/script", atomically: true, encoding: .utf8)
        }

        /// The dracut job, sourced as the initqueue sources it; the caller's shell must go on with
        /// none of the job's names.
        func sourceJob(_ shell: String) throws -> CommandResult {
            let caller = #". "$1"; echo "after the job: [$_sc_new$_sc_device$_sc_vg]"; command -v _sanitize_clone_lvm _sanitize_clone_tables || echo "no function left""#
            return try HostCommand.run(shell, ["-c", caller, "caller", directory + "/job.sh"], environment: environment)
        }
    }

    @Test("sets the new PV and VG UUIDs exactly, LVs and data intact; the caller goes on; a second pass changes nothing",
          arguments: ["sh", "bash"])
    func setsPendingIdentity(shell: String) throws {
        try LoopDevice.with(size: 128 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vgnext")
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            let metadata = try lvm.backup("vgnext"), segments = try lvm.segments(), data = try lvm.dataChecksum()
            let pv = try LVMIdentityChanger.newUUID(), vg = try LVMIdentityChanger.newUUID()
            // A filesystem line is another job's: left alone.
            let pending = try Pending(loop.directory, [
                .init(type: "ext4", old: "5f3c1a9e-2b7d-4c6e-8a0f-1b2c3d4e5f60", new: "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
                .init(type: StorageIdentityUndo.lvmType, old: before.pvUUID, new: pv, oldGroup: try #require(before.vgUUID), newGroup: vg)])

            let first = try pending.sourceJob(shell)
            #expect(first.exitCode == 0 && first.stdout.contains("after the job: []") && first.stdout.contains("no function left"), "\(first)")
            #expect(try LVMPhysicalVolume.read(loop.path) == LVMPhysicalVolume(device: loop.path, pvUUID: pv, vgName: "vgnext", vgUUID: vg))
            #expect(try loop.blkid("UUID") == pv)
            try lvm.expectClean("vgnext")
            #expect(try lvm.segments() == segments)
            #expect(try lvm.dataChecksum() == data)
            #expect(try lvm.backup("vgnext") == metadata.replacingOccurrences(of: before.pvUUID, with: pv)
                .replacingOccurrences(of: before.vgUUID!, with: vg))
            #expect(pending.log.contains("done LVM2_member \(before.pvUUID) \(pv) \(loop.path)"), "\(pending.log)")
            #expect(!pending.log.contains("ext4"), "\(pending.log)")
            #expect(pending.finished, "every PV named was found: later passes return at once")
            #expect(!FileManager.default.fileExists(atPath: "/etc/lvm/backup/vgnext"), "no backup of the guest's VG on the host")

            // A pass after the boot's first (the job stays in the initqueue) does nothing.
            let again = try pending.sourceJob(shell)
            #expect(again.exitCode == 0)
            #expect(try LVMPhysicalVolume.read(loop.path)?.pvUUID == pv)
            // Without the mark (an initramfs booted again before the finishing run): already set.
            try FileManager.default.removeItem(atPath: loop.directory + "/work/finished")
            _ = try pending.sourceJob(shell)
            #expect(pending.log.contains("done LVM2_member \(before.pvUUID) \(pv) (already set)"), "\(pending.log)")
            #expect(try lvm.backup("vgnext").contains(vg))
        }
    }

    @Test("initramfs-tools' init-premount script sets them too, run as its own sh")
    func initramfsToolsScript() throws {
        try LoopDevice.with(size: 64 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vgtools", logicalVolumes: false)
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            let pv = try LVMIdentityChanger.newUUID(), vg = try LVMIdentityChanger.newUUID()
            let pending = try Pending(loop.directory, [.init(type: StorageIdentityUndo.lvmType, old: before.pvUUID, new: pv,
                                                              oldGroup: try #require(before.vgUUID), newGroup: vg)])
            let result = try HostCommand.run("sh", [loop.directory + "/script"], environment: pending.environment)
            #expect(result.exitCode == 0, "\(result)")
            #expect(try LVMPhysicalVolume.read(loop.path) == LVMPhysicalVolume(device: loop.path, pvUUID: pv, vgName: "vgtools", vgUUID: vg))
            #expect(pending.log.contains("done LVM2_member \(before.pvUUID) \(pv) \(loop.path)"), "\(pending.log)")
        }
    }

    @Test("a PV whose VG is not the one the run saw is left as it is and logged as failed; an absent PV is waited for")
    func wrongOrAbsentVolumeGroup() throws {
        try LoopDevice.with(size: 64 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vgother", logicalVolumes: false)
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            let metadata = try lvm.backup("vgother")
            let absent = try LVMIdentityChanger.newUUID()
            let pending = try Pending(loop.directory, [
                .init(type: StorageIdentityUndo.lvmType, old: before.pvUUID, new: try LVMIdentityChanger.newUUID(),
                      oldGroup: try LVMIdentityChanger.newUUID(), newGroup: try LVMIdentityChanger.newUUID()),
                .init(type: StorageIdentityUndo.lvmType, old: absent, new: try LVMIdentityChanger.newUUID(),
                      oldGroup: try LVMIdentityChanger.newUUID(), newGroup: try LVMIdentityChanger.newUUID()),
                .init(type: StorageIdentityUndo.lvmType, old: "x;reboot", new: "y", oldGroup: "a", newGroup: "b")])
            let result = try pending.sourceJob("sh")
            #expect(result.exitCode == 0, "\(result)")
            #expect(try LVMPhysicalVolume.read(loop.path) == before)
            #expect(try lvm.backup("vgother") == metadata)
            #expect(pending.log.contains("failed LVM2_member \(before.pvUUID)") && pending.log.contains("is not the one with UUID"), "\(pending.log)")
            #expect(pending.log.contains("failed LVM2_member x;reboot y (a malformed line"), "\(pending.log)")
            #expect(!pending.log.contains(absent), "a PV not there yet is not a failure: \(pending.log)")
            #expect(!pending.finished, "the job runs again on the next pass, when the PV may have appeared")
        }
    }

    @Test("the job and the script parse with sh -n and bash -n; dracut installs the job before lvm_scan only when LVM is pending")
    func scriptsParse() throws {
        let directory = try Scratch.makeDirectory(prefix: "lvm-job")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try DracutNextBootModule.job.write(toFile: directory + "/job.sh", atomically: true, encoding: .utf8)
        try InitramfsComponent.premountScript.write(toFile: directory + "/script", atomically: true, encoding: .utf8)
        for shell in ["sh", "bash"] {
            for file in ["job.sh", "script"] {
                let result = try HostCommand.run(shell, ["-n", directory + "/" + file])
                #expect(result.exitCode == 0, "\(shell) -n \(file): \(result)")
            }
        }
        #expect(!DracutNextBootModule.job.contains("exit"), "a sourced job never exits the initqueue")
        #expect(DracutNextBootModule.moduleSetup.contains("inst_hook initqueue/settled 00 \"$moddir/sanitize-clone-settled.sh\""))
    }
}
