import Foundation
import Logging
import Testing
@testable import SanitizeCloneKit

/// The dracut module's pre-mount hook, sourced by sh and by bash as `dracut-pre-mount.sh` sources
/// it, against loop devices the test attaches (as the initramfs finds them after its initqueue):
/// it sets each pending UUID with the real tools, replays a dirty XFS log first, logs every step,
/// leaves the calling shell running with none of its names, and does nothing twice.
@Suite("The dracut pre-mount hook that sets a clone's own filesystem UUIDs", .requiresRoot, .serialized,
       .enabled(if: StorageTools.available("mkfs.ext4", "mkfs.xfs", "mkswap", "tune2fs", "xfs_admin", "xfs_db", "xfs_io", "xfs_repair", "swaplabel")))
struct DracutHookTests {
    @Test("sets ext4, an XFS whose log needs replaying, and swap; the caller goes on; a second run changes nothing", arguments: ["sh", "bash"])
    func setsPendingUUIDs(shell: String) throws {
        try LoopDevice.with(size: 64 << 20) { ext4 in
            try ext4.format("mkfs.ext4", ["-q", "-F"])
            try LoopDevice.with(size: 512 << 20) { xfs in
                try xfs.format("mkfs.xfs", ["-q", "-f"])
                // A log holding changes and no unmount record, as after a crash of the template.
                let point = try xfs.mount()
                try xfs.writeFiles(20, into: point)
                try HostCommand.succeed("xfs_io", ["-x", "-c", "shutdown -f", point])
                try xfs.unmount(point)
                try LoopDevice.with(size: 16 << 20) { swap in
                    try swap.format("mkswap", ["-q"])
                    try run(shell, ext4: ext4, xfs: xfs, swap: swap)
                }
            }
        }
    }

    func run(_ shell: String, ext4: LoopDevice, xfs: LoopDevice, swap: LoopDevice) throws {
        let old = (ext4: try #require(try ext4.blkid("UUID")), xfs: try #require(try xfs.blkid("UUID")), swap: try #require(try swap.blkid("UUID")))
        let new = (ext4: UUID().uuidString.lowercased(), xfs: UUID().uuidString.lowercased(), swap: UUID().uuidString.lowercased())
        let directory = ext4.directory
        try NextBootUUIDs.text([.init(type: "ext4", old: old.ext4, new: new.ext4), .init(type: "xfs", old: old.xfs, new: new.xfs),
                                .init(type: "swap", old: old.swap, new: new.swap), .init(type: "vfat", old: "0B7E-5CC4", new: "9F3F-0E2A")])
            .write(toFile: directory + "/pending", atomically: true, encoding: .utf8)
        try DracutNextBootModule.hook.write(toFile: directory + "/hook.sh", atomically: true, encoding: .utf8)
        let environment = ["SANITIZE_CLONE_PENDING": directory + "/pending", "SANITIZE_CLONE_LOG": directory + "/log",
                           "SANITIZE_CLONE_REPLAY": directory + "/replay"]
        // Sourced, as dracut does: the caller's shell must go on, with none of the hook's names.
        let caller = #". "$1"; echo "after the hook: [$_sc_new$_sc_device]"; command -v _sanitize_clone_uuids || echo "no function left""#
        let first = try HostCommand.run(shell, ["-c", caller, "caller", directory + "/hook.sh"], environment: environment)
        #expect(first.exitCode == 0 && first.stdout.contains("after the hook: []") && first.stdout.contains("no function left"), "\(first)")
        #expect(try ext4.blkid("UUID") == new.ext4)
        #expect(try xfs.blkid("UUID") == new.xfs)
        #expect(try swap.blkid("UUID") == new.swap)
        var log = try String(contentsOfFile: directory + "/log", encoding: .utf8)
        #expect(log.contains("done ext4 \(old.ext4) \(new.ext4) \(ext4.path)") && log.contains("done swap \(old.swap) \(new.swap) \(swap.path)"), "\(log)")
        #expect(log.contains("replaying the log of \(xfs.path)") && log.contains("done xfs \(old.xfs) \(new.xfs) \(xfs.path)"), "\(log)")
        #expect(log.contains("missing vfat"), "a device that is not there is logged, not guessed: \(log)")
        #expect(try HostCommand.run("e2fsck", ["-fn", ext4.path]).exitCode == 0)
        #expect(try HostCommand.run("xfs_repair", ["-n", xfs.path]).exitCode == 0)
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains(directory + "/replay"), "the replay mount is gone")

        let second = try HostCommand.run(shell, ["-c", caller, "caller", directory + "/hook.sh"], environment: environment)
        #expect(second.exitCode == 0, "\(second)")
        log = try String(contentsOfFile: directory + "/log", encoding: .utf8)
        for (type, was, now) in [("ext4", old.ext4, new.ext4), ("xfs", old.xfs, new.xfs), ("swap", old.swap, new.swap)] {
            #expect(log.contains("done \(type) \(was) \(now) (already set)"), "\(log)")
        }
        #expect(try xfs.blkid("UUID") == new.xfs)
    }
}

/// What `fs-uuids` installs on a running dracut clone (step 1 of `NextBootUUIDs`), what it removes
/// after the boot (step 3), and how it rebuilds the initramfs.
@Suite("The dracut next-boot module", .requiresFileOwnership)
struct DracutNextBootModuleTests {
    static let changes = [FilesystemUUIDsTask.Decision.UUIDChange(device: "/dev/mapper/rhel-root", type: "xfs", old: "0b7e5cc4-6a0e-4c8c-8d25-3f3a3e0d9d11",
                                                                 new: "9f3f0e2a-1111-4c8c-8d25-3f3a3e0d9d11", deferred: false, atNextBoot: true),
                          .init(device: "/dev/vda2", type: "ext4", old: "5f3c1a9e-2b7d-4c6e-8a0f-1b2c3d4e5f60",
                                new: "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", deferred: false, atNextBoot: true),
                          .init(device: "/dev/mapper/rhel-swap", type: "swap", old: "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                                new: "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a", deferred: false, atNextBoot: true)]

    @Test("module-setup.sh and the hook parse with bash -n and sh -n")
    func scriptsParse() throws {
        let directory = try Scratch.makeDirectory(prefix: "dracut")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try DracutNextBootModule.moduleSetup.write(toFile: directory + "/module-setup.sh", atomically: true, encoding: .utf8)
        try DracutNextBootModule.hook.write(toFile: directory + "/hook.sh", atomically: true, encoding: .utf8)
        for (shell, file) in [("bash", "module-setup.sh"), ("bash", "hook.sh"), ("sh", "hook.sh")] {
            let result = try HostCommand.run(shell, ["-n", directory + "/" + file])
            #expect(result.exitCode == 0, "\(shell) -n \(file): \(result)")
        }
        #expect(DracutNextBootModule.moduleSetup.contains("inst_hook pre-mount 10 \"$moddir/sanitize-clone-uuids.sh\""))
        #expect(DracutNextBootModule.moduleSetup.contains("return 255"), "included only when added by name")
        #expect(!DracutNextBootModule.hook.contains("exit"), "a sourced hook never exits dracut-pre-mount")
        let commands = DracutNextBootModule.hook.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
        #expect(!commands.contains { $0.contains("nouuid") || $0.contains("xfs_repair") }, "the log is replayed, never discarded")
    }

    @Test("module-setup.sh's install, run by bash with dracut's functions stubbed: the pending list, the tools, the udev rule made from the list (a line with a UUID that is not hex and dashes gets none), the pre-mount hook; the LVM job only with an LVM line")
    func moduleSetupInstall() throws {
        let directory = try Scratch.makeDirectory(prefix: "dracut-setup")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sysroot = directory + "/sysroot", initdir = directory + "/initdir"
        try FileManager.default.createDirectory(atPath: sysroot + "/etc/sanitize-clone", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: initdir, withIntermediateDirectories: true)
        try DracutNextBootModule.moduleSetup.write(toFile: directory + "/module-setup.sh", atomically: true, encoding: .utf8)
        let stubs = #"inst_simple() { echo "inst_simple $*"; }; inst_multiple() { echo "inst_multiple $*"; }; inst_hook() { echo "inst_hook $*"; }; instmods() { echo "instmods $*"; }"#
        let install = { () throws -> CommandResult in
            try HostCommand.run("bash", ["-c", #". "$1"; \#(stubs); moddir=/mod; install; installkernel"#, "setup", directory + "/module-setup.sh"],
                                environment: ["dracutsysrootdir": sysroot, "initdir": initdir])
        }
        let nothing = try install()
        #expect(nothing.exitCode == 0 && !nothing.stdout.contains("inst_"), "nothing is pending: nothing is installed: \(nothing)")

        let pending = Self.changes.map { NextBootUUIDs.Change(type: $0.type, old: $0.old, new: $0.new) }
            + [.init(type: "ext4", old: "x\", RUN+=\"/bin/evil", new: "1234")]
        try NextBootUUIDs.text(pending).write(toFile: sysroot + NextBootUUIDs.pendingFile, atomically: true, encoding: .utf8)
        let filesystems = try install()
        #expect(filesystems.exitCode == 0, "\(filesystems)")
        #expect(filesystems.stdout.contains("inst_simple \(NextBootUUIDs.pendingFile)") && filesystems.stdout.contains("inst_multiple -o blkid e2fsck tune2fs xfs_admin"))
        #expect(filesystems.stdout.contains("inst_hook pre-mount 10 /mod/sanitize-clone-uuids.sh") && !filesystems.stdout.contains("initqueue"), "\(filesystems)")
        #expect(filesystems.stdout.contains("instmods xfs"), "the XFS driver for the log replay: \(filesystems)")
        let rules = try String(contentsOfFile: initdir + DracutNextBootModule.rulesInInitramfs, encoding: .utf8)
        for change in Self.changes {
            #expect(rules.contains("ACTION!=\"remove\", SUBSYSTEM==\"block\", ENV{ID_FS_UUID}==\"\(change.new)\", SYMLINK+=\"disk/by-uuid/\(change.old)\""), "\(rules)")
        }
        #expect(!rules.contains("evil") && rules.split(separator: "\n").filter { !$0.hasPrefix("#") }.count == Self.changes.count, "\(rules)")

        try NextBootUUIDs.text(pending + [.init(type: StorageIdentityUndo.lvmType, old: "XDoO0o-SlCP-SV3d-FR8r-00iT-G8J5-ykJmuH",
                                                new: "yCMfXx-RvsS-N0Cu-LVxm-ViBP-HlXC-9CDwQ5", oldGroup: "6fKuwx-cRpz-FYeQ-6Qsd-INrv-0ly3-d6LvbN",
                                                newGroup: "55P3CD-geZx-8uam-vPv2-gqMY-Dy4b-tC7JuP")])
            .write(toFile: sysroot + NextBootUUIDs.pendingFile, atomically: true, encoding: .utf8)
        let volumes = try install()
        #expect(volumes.stdout.contains("inst_hook initqueue/settled 00 /mod/sanitize-clone-settled.sh") && volumes.stdout.contains("inst_multiple -o lvm grep sed rm"),
                "\(volumes)")
        let lvmRules = try String(contentsOfFile: initdir + DracutNextBootModule.rulesInInitramfs, encoding: .utf8)
        #expect(!lvmRules.contains("XDoO0o"), "an LVM line gets no by-uuid rule: \(lvmRules)")
    }
}
