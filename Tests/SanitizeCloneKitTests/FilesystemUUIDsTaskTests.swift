import Foundation
import SanitizeCloneKit
import Testing

/// `fs-uuids` on loop devices the tests attach: every filesystem a fixture root's fstab names gets
/// a new UUID, every reference is rewritten, and a rollback gives back the old UUIDs and files.
/// Never any other device: the build host's own disks are refused by the task, and the tests
/// only attach sparse files of their own.
@Suite("Filesystem UUIDs and their references", .requiresRoot, .serialized,
       .enabled(if: StorageTools.available("mkfs.ext4", "mkfs.xfs", "mkswap", "mkfs.vfat", "tune2fs", "xfs_admin", "swaplabel", "fatlabel")))
struct FilesystemUUIDsTaskTests {
    /// Four filesystems as a clone's disk has them: ext4 root, XFS /srv, swap, vfat ESP.
    struct Disks {
        let root: LoopDevice, srv: LoopDevice, swap: LoopDevice, esp: LoopDevice
        var all: [LoopDevice] { [root, srv, swap, esp] }
        /// `--device` for each: a fixture root is not on these disks, so the command line names them.
        var deviceArguments: [String] { all.flatMap { ["--device", $0.path] } }
    }

    static func withDisks<T>(_ body: (Disks) throws -> T) throws -> T {
        try LoopDevice.with(size: 64 << 20) { root in
            try root.format("mkfs.ext4", ["-q", "-F"])
            return try LoopDevice.with(size: 320 << 20) { srv in
                try srv.format("mkfs.xfs", ["-q", "-f"])
                return try LoopDevice.with(size: 16 << 20) { swap in
                    try swap.format("mkswap", ["-q"])
                    return try LoopDevice.with(size: 40 << 20) { esp in
                        try esp.format("mkfs.vfat", ["-F", "32"])
                        return try body(Disks(root: root, srv: srv, swap: swap, esp: esp))
                    }
                }
            }
        }
    }

    /// A Debian-like root whose fstab, GRUB configuration, BLS entry, kernel command line and
    /// resume configuration name the disks.
    static func template(_ disks: Disks) throws -> (FixtureRoot, [String: String]) {
        var uuids: [String: String] = [:]
        for (name, disk) in [("root", disks.root), ("srv", disks.srv), ("swap", disks.swap), ("esp", disks.esp)] {
            uuids[name] = try #require(try disk.blkid("UUID"), "\(name) has a UUID")
        }
        let root = try FixtureRoot.debianLike()
        try root.write("/etc/fstab", """
            # /etc/fstab: static file system information.
            UUID=\(uuids["root"]!) /         ext4 errors=remount-ro 0 1
            UUID=\(uuids["srv"]!)  /srv      xfs  defaults 0 2
            UUID=\(uuids["esp"]!)  /boot/efi vfat umask=0077 0 1
            UUID=\(uuids["swap"]!) none      swap sw 0 0
            tmpfs /tmp tmpfs defaults 0 0
            """ + "\n")
        try root.write("/boot/grub/grub.cfg", """
            search --no-floppy --fs-uuid --set=root \(uuids["root"]!)
            linux /boot/vmlinuz root=UUID=\(uuids["root"]!) ro resume=UUID=\(uuids["swap"]!) quiet
            """ + "\n", mode: 0o444)
        try root.write("/boot/efi/EFI/debian/grub.cfg", "search.fs_uuid \(uuids["root"]!) root\nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n")
        try root.write("/boot/loader/entries/debian.conf", "title Debian\noptions root=UUID=\(uuids["root"]!) ro\n")
        try root.write("/etc/kernel/cmdline", "root=UUID=\(uuids["root"]!) ro quiet\n")
        try root.write("/etc/initramfs-tools/conf.d/resume", "RESUME=UUID=\(uuids["swap"]!)\n")
        return (root, uuids)
    }

    static func currentUUIDs(_ disks: Disks) throws -> [String: String?] {
        ["root": try disks.root.blkid("UUID"), "srv": try disks.srv.blkid("UUID"), "swap": try disks.swap.blkid("UUID"), "esp": try disks.esp.blkid("UUID")]
    }

    @Test("a dry run plans a new UUID for each filesystem and every reference, and changes nothing")
    func dryRun() throws {
        try Self.withDisks { disks in
            let (root, uuids) = try Self.template(disks)
            defer { root.remove() }
            let before = try root.signature()
            let plan = try InProcess.json(["run", "--root", root.path, "--dry-run", "--json", "--only", "fs-uuids"] + disks.deviceArguments)
            #expect(plan.status(of: "fs-uuids") == "planned", "\(plan)")
            let devices = plan.task("fs-uuids")?["changes"]?.array?.compactMap { $0["path"]?.string } ?? []
            #expect(devices.count == Self.changeCount, "the crash matrix covers every change: \(devices)")
            #expect(Set(disks.all.map(\.path)).isSubset(of: Set(devices)), "\(devices)")
            #expect(try Self.currentUUIDs(disks) == uuids.mapValues { Optional($0) })
            try expectUnchanged(root, since: before, "a dry run")
        }
    }

    @Test("run: new UUIDs on all four, every reference rewritten, the initramfs note; rollback gives back UUIDs and files")
    func runThenRollback() throws {
        try Self.withDisks { disks in
            let (root, uuids) = try Self.template(disks)
            defer { root.remove() }
            let before = try root.signature()
            let run = try InProcess.json(["run", "--root", root.path, "--json", "--only", "fs-uuids"] + disks.deviceArguments)
            #expect(run["result"]?.string == "committed", "\(run)")
            let now = try Self.currentUUIDs(disks)
            for (name, old) in uuids {
                let new = try #require(now[name] ?? nil, "\(name) has a UUID")
                #expect(new != old, "\(name) got a new UUID")
                #expect(root.read("/etc/fstab")?.contains("UUID=\(new) ") == true, "fstab names the new \(name) UUID: \(root.read("/etc/fstab") ?? "")")
            }
            let newRoot = try #require(now["root"] ?? nil), newSwap = try #require(now["swap"] ?? nil)
            #expect(root.read("/boot/grub/grub.cfg") == "search --no-floppy --fs-uuid --set=root \(newRoot)\nlinux /boot/vmlinuz root=UUID=\(newRoot) ro resume=UUID=\(newSwap) quiet\n")
            #expect(root.mode("/boot/grub/grub.cfg") == 0o444)
            #expect(root.read("/boot/efi/EFI/debian/grub.cfg")?.hasPrefix("search.fs_uuid \(newRoot) root\n") == true)
            #expect(root.read("/boot/loader/entries/debian.conf")?.contains("root=UUID=\(newRoot) ro") == true)
            #expect(root.read("/etc/kernel/cmdline") == "root=UUID=\(newRoot) ro quiet\n")
            #expect(root.read("/etc/initramfs-tools/conf.d/resume") == "RESUME=UUID=\(newSwap)\n")
            #expect(try #require(now["esp"] ?? nil).range(of: #"^[0-9A-F]{4}-[0-9A-F]{4}$"#, options: .regularExpression) != nil)
            let notes = run.task("initramfs")?["notes"]?.array?.compactMap(\.string) ?? []
            #expect(notes.contains { $0.contains("update-initramfs") && $0.contains("/etc/initramfs-tools/conf.d/resume") }, "\(notes)")
            #expect(try HostCommand.run("e2fsck", ["-fn", disks.root.path]).exitCode == 0)
            #expect(try HostCommand.run("xfs_repair", ["-n", disks.srv.path]).exitCode == 0)

            let rollback = try SanitizeClone.run(["rollback", "--root", root.path, "--last"] + disks.deviceArguments)
            #expect(rollback.exitCode == 0, "\(rollback)")
            #expect(try Self.currentUUIDs(disks) == uuids.mapValues { Optional($0) })
            try expectUnchanged(root, since: before, "run then rollback")
        }
    }

    /// Four UUIDs and six reference files on the fixture (checked in `dryRun`).
    static let changeCount = 10
    static let crashPoints = ["fs-uuids:before-apply"] + (1...changeCount).map { "fs-uuids:change-\($0)" } + ["fs-uuids:after-apply"]

    @Test("a crash at each failpoint is rolled back to the old UUIDs and files", arguments: crashPoints)
    func crash(_ point: String) throws {
        try Self.withDisks { disks in
            let (root, uuids) = try Self.template(disks)
            defer { root.remove() }
            let before = try root.signature()
            let crashed = try SanitizeClone.run(["run", "--root", root.path, "--only", "fs-uuids"] + disks.deviceArguments, failpoint: point + ":crash")
            try #require(crashed.wasKilled, "\(crashed)")
            let recovered = try SanitizeClone.run(["rollback", "--root", root.path, "--last"] + disks.deviceArguments)
            #expect(recovered.exitCode == 0, "\(recovered)")
            #expect(try Self.currentUUIDs(disks) == uuids.mapValues { Optional($0) })
            try expectUnchanged(root, since: before, "recovery after a crash at \(point)")
        }
    }

    @Test("a filesystem the build host has mounted, and one that is not present, are reported and never touched")
    func refusals() throws {
        try LoopDevice.with(size: 64 << 20) { mounted in
            try mounted.format("mkfs.ext4", ["-q", "-F"])
            let uuid = try #require(try mounted.blkid("UUID"))
            try mounted.mount()
            let root = try FixtureRoot.debianLike()
            defer { root.remove() }
            try root.write("/etc/fstab", "UUID=\(uuid) / ext4 defaults 0 1\nUUID=0b7e5cc4-6a0e-4c8c-8d25-3f3a3e0d9d11 /data ext4 defaults 0 2\n")
            let plan = try InProcess.json(["plan", "--root", root.path, "--json", "--only", "fs-uuids"] + ["--device", mounted.path])
            #expect(plan.status(of: "fs-uuids") == "skipped", "\(plan)")
            let notes = plan.task("fs-uuids")?["notes"]?.array?.compactMap(\.string) ?? []
            #expect(notes.contains { $0.contains("the build host uses \(mounted.path)") && $0.contains("mounted") }, "\(notes)")
            #expect(notes.contains { $0.contains("/data") && $0.contains("no such device is present") }, "\(notes)")
            #expect(try mounted.blkid("UUID") == uuid)
        }
    }

    @Test("two devices with one UUID (the template's disk attached beside the clone's) are refused, not guessed")
    func duplicateUUIDs() throws {
        try LoopDevice.with(size: 64 << 20) { clone in
            try clone.format("mkfs.ext4", ["-q", "-F"])
            let uuid = try #require(try clone.blkid("UUID"))
            try LoopDevice.with(size: 64 << 20) { template in
                try template.format("mkfs.ext4", ["-q", "-F", "-U", uuid])
                let root = try FixtureRoot.debianLike()
                defer { root.remove() }
                try root.write("/etc/fstab", "UUID=\(uuid) / ext4 defaults 0 1\n")
                let plan = try InProcess.json(["plan", "--root", root.path, "--json", "--only", "fs-uuids"] + ["--device", clone.path, "--device", template.path])
                let notes = plan.task("fs-uuids")?["notes"]?.array?.compactMap(\.string) ?? []
                #expect(notes.contains { $0.contains("2 devices match") && $0.contains("refused") }, "\(notes)")
            }
        }
    }

    @Test("the volume group the fstab mounts from gets new PV and VG UUIDs, the devices file new PVIDs; rollback gives them back",
          .enabled(if: StorageTools.available("lvm")))
    func lvmVolumeGroup() throws {
        try LoopDevice.with(size: 64 << 20) { loop in
            let lvm = LVMFixture(loop)
            try lvm.makeVolumeGroup("vgfsuuids", logicalVolumes: false)
            let before = try #require(try LVMPhysicalVolume.read(loop.path))
            let root = try FixtureRoot.debianLike()
            defer { root.remove() }
            let pvid = before.pvUUID.filter { $0 != "-" }
            try root.write("/etc/fstab", "/dev/mapper/vgfsuuids-root / ext4 errors=remount-ro 0 1\n")
            try root.write("/etc/lvm/devices/system.devices", "# LVM uses devices listed in this file.\nVERSION=1.1.1\nIDTYPE=devname IDNAME=/dev/vda2 DEVNAME=/dev/vda2 PVID=\(pvid) PART=2\n")
            let signature = try root.signature()
            let run = try InProcess.json(["run", "--root", root.path, "--json", "--only", "fs-uuids"] + ["--device", loop.path])
            #expect(run["result"]?.string == "committed", "\(run)")
            let after = try #require(try LVMPhysicalVolume.read(loop.path))
            #expect(after.pvUUID != before.pvUUID && after.vgUUID != before.vgUUID && after.vgName == "vgfsuuids", "\(after)")
            let devices = root.read("/etc/lvm/devices/system.devices") ?? ""
            #expect(devices.contains("PVID=\(after.pvUUID.filter { $0 != "-" }) PART=2") && !devices.contains(pvid), "\(devices)")

            let rollback = try SanitizeClone.run(["rollback", "--root", root.path, "--last"] + ["--device", loop.path])
            #expect(rollback.exitCode == 0, "\(rollback)")
            #expect(try LVMPhysicalVolume.read(loop.path) == before)
            try expectUnchanged(root, since: signature, "run then rollback")
        }
    }

    /// Holds `device` open exclusively, as the host's own LVM (device-mapper) would, during `body`.
    static func holdingExclusively<T>(_ device: LoopDevice, _ body: () throws -> T) throws -> T {
        let descriptor = open(device.path, O_RDONLY | O_EXCL | O_CLOEXEC)
        guard descriptor >= 0 else { throw FixtureError("cannot hold \(device.path) open exclusively (errno \(errno))") }
        defer { close(descriptor) }
        return try body()
    }

    /// A root whose fstab, GRUB configuration and resume setting name the volume group `name`
    /// (UUID `vgUUID`) in every way a name is written, with one look-alike that must stay.
    static func volumeGroupTemplate(_ name: String, vgUUID: String) throws -> FixtureRoot {
        let root = try FixtureRoot.debianLike()
        try root.write("/etc/fstab", "/dev/mapper/\(name)-root / ext4 errors=remount-ro 0 1\n/dev/\(name)/swap none swap sw 0 0\n")
        try root.write("/boot/grub/grub.cfg", """
            # \(name) is the template's volume group; /dev/mapper/\(name)--old-data is another one
            set root='lvmid/\(vgUUID)/Lv0000-aaaa-bbbb-cccc-dddd-eeee-ffffff'
            search --no-floppy --fs-uuid --set=root --hint='lvmid/\(vgUUID)/Lv0000-aaaa-bbbb-cccc-dddd-eeee-ffffff' --hint='(lvm/\(name)-root)'
            linux /vmlinuz root=/dev/mapper/\(name)-root ro rd.lvm.lv=\(name)/root rd.lvm.vg=\(name) resume=/dev/\(name)/swap
            """ + "\n")
        try root.write("/etc/initramfs-tools/conf.d/resume", "RESUME=/dev/mapper/\(name)-swap\n")
        return root
    }

    /// Two PVs with a VG `name` each: the host's, held open as the host's LVM would hold it, and
    /// the clone's, named by a `volumeGroupTemplate` root. `body` gets the host's disk, the
    /// clone's, the clone's PV as it was, the root and the root's signature.
    static func withCollidingVolumeGroups(_ name: String,
                                          _ body: (LoopDevice, LoopDevice, LVMPhysicalVolume, FixtureRoot, RootSignature) throws -> Void) throws {
        try LoopDevice.with(size: 64 << 20) { hostDisk in
            try LVMFixture(hostDisk).makeVolumeGroup(name, logicalVolumes: false)
            try LoopDevice.with(size: 64 << 20) { cloneDisk in
                try LVMFixture(cloneDisk).makeVolumeGroup(name, logicalVolumes: false)
                let before = try #require(try LVMPhysicalVolume.read(cloneDisk.path))
                let root = try volumeGroupTemplate(name, vgUUID: try #require(before.vgUUID))
                defer { root.remove() }
                let signature = try root.signature()
                try holdingExclusively(hostDisk) { try body(hostDisk, cloneDisk, before, root, signature) }
            }
        }
    }

    @Test("a volume group whose name a PV the host uses carries too gets a new name (as vgimportclone would) with every reference; dry run and rollback leave all as it was",
          .enabled(if: StorageTools.available("lvm")))
    func volumeGroupNameCollision() throws {
        try Self.withCollidingVolumeGroups("vgshared") { hostDisk, cloneDisk, before, root, signature in
            let hostBefore = try #require(try LVMPhysicalVolume.read(hostDisk.path))
            let dry = try InProcess.json(["run", "--root", root.path, "--dry-run", "--json", "--only", "fs-uuids"] + ["--device", cloneDisk.path])
            let planned = dry.task("fs-uuids")?["changes"]?.array?.compactMap { $0["action"]?.string } ?? []
            #expect(planned.contains("rename-volume-group"), "\(dry)")
            #expect(try LVMPhysicalVolume.read(cloneDisk.path) == before)
            try expectUnchanged(root, since: signature, "the dry run")

            let run = try InProcess.json(["run", "--root", root.path, "--json", "--only", "fs-uuids"] + ["--device", cloneDisk.path])
            #expect(run["result"]?.string == "committed", "\(run)")
            let notes = run.task("fs-uuids")?["notes"]?.array?.compactMap(\.string) ?? []
            #expect(notes.contains { $0.contains("also carries a volume group called vgshared") && $0.contains("becomes vgshared1") }, "\(notes)")
            #expect(!notes.contains { $0.contains(hostDisk.path) && !$0.contains("also carries") }, "the host's disk is outside the run's devices: \(notes)")
            let after = try #require(try LVMPhysicalVolume.read(cloneDisk.path))
            #expect(after.vgName == "vgshared1" && after.pvUUID != before.pvUUID && after.vgUUID != before.vgUUID, "\(after)")
            #expect(try LVMPhysicalVolume.read(hostDisk.path) == hostBefore, "the host's volume group is never touched")
            #expect(root.read("/etc/fstab") == "/dev/mapper/vgshared1-root / ext4 errors=remount-ro 0 1\n/dev/vgshared1/swap none swap sw 0 0\n")
            let newVG = try #require(after.vgUUID)
            #expect(root.read("/boot/grub/grub.cfg") == """
                # vgshared is the template's volume group; /dev/mapper/vgshared--old-data is another one
                set root='lvmid/\(newVG)/Lv0000-aaaa-bbbb-cccc-dddd-eeee-ffffff'
                search --no-floppy --fs-uuid --set=root --hint='lvmid/\(newVG)/Lv0000-aaaa-bbbb-cccc-dddd-eeee-ffffff' --hint='(lvm/vgshared1-root)'
                linux /vmlinuz root=/dev/mapper/vgshared1-root ro rd.lvm.lv=vgshared1/root rd.lvm.vg=vgshared1 resume=/dev/vgshared1/swap
                """ + "\n")
            #expect(root.read("/etc/initramfs-tools/conf.d/resume") == "RESUME=/dev/mapper/vgshared1-swap\n")

            let rollback = try SanitizeClone.run(["rollback", "--root", root.path, "--last"] + ["--device", cloneDisk.path])
            #expect(rollback.exitCode == 0, "\(rollback)")
            #expect(try LVMPhysicalVolume.read(cloneDisk.path) == before)
            try expectUnchanged(root, since: signature, "run then rollback")
        }
    }

    /// Set LVM UUIDs, the rename, three reference files.
    static let volumeGroupCrashPoints = ["fs-uuids:before-apply"] + (1...5).map { "fs-uuids:change-\($0)" } + ["fs-uuids:after-apply"]

    @Test("a crash at each failpoint of a volume group rename is rolled back to the old name, UUIDs and files",
          .enabled(if: StorageTools.available("lvm")), arguments: volumeGroupCrashPoints)
    func volumeGroupRenameCrash(_ point: String) throws {
        try Self.withCollidingVolumeGroups("vgcrashed") { _, cloneDisk, before, root, signature in
            let crashed = try SanitizeClone.run(["run", "--root", root.path, "--only", "fs-uuids"] + ["--device", cloneDisk.path], failpoint: point + ":crash")
            try #require(crashed.wasKilled, "\(crashed)")
            let recovered = try SanitizeClone.run(["rollback", "--root", root.path, "--last"] + ["--device", cloneDisk.path])
            #expect(recovered.exitCode == 0, "\(recovered)")
            #expect(try LVMPhysicalVolume.read(cloneDisk.path) == before)
            try expectUnchanged(root, since: signature, "recovery after a crash at \(point)")
        }
    }

    @Test("two volume groups of the name the fstab mounts from, neither in use, are refused rather than guessed",
          .enabled(if: StorageTools.available("lvm")))
    func volumeGroupAmbiguous() throws {
        try LoopDevice.with(size: 64 << 20) { first in
            try LVMFixture(first).makeVolumeGroup("vgtwin", logicalVolumes: false)
            try LoopDevice.with(size: 64 << 20) { second in
                try LVMFixture(second).makeVolumeGroup("vgtwin", logicalVolumes: false)
                let before = [try LVMPhysicalVolume.read(first.path), try LVMPhysicalVolume.read(second.path)]
                let root = try Self.volumeGroupTemplate("vgtwin", vgUUID: try #require(before[0]?.vgUUID))
                defer { root.remove() }
                let signature = try root.signature()
                let run = try InProcess.json(["run", "--root", root.path, "--json", "--only", "fs-uuids"] + ["--device", first.path, "--device", second.path])
                let notes = run.task("fs-uuids")?["notes"]?.array?.compactMap(\.string) ?? []
                #expect(notes.contains { $0.contains("2 physical volumes carry a volume group called vgtwin") && $0.contains("refused") }, "\(notes)")
                #expect([try LVMPhysicalVolume.read(first.path), try LVMPhysicalVolume.read(second.path)] == before)
                try expectUnchanged(root, since: signature, "a refused run")
            }
        }
    }
}
