import Foundation
import SanitizeCloneKit
import Testing

/// `run --image` and `rollback --image` on a GPT disk image made by the test: an ext4 /boot and an
/// ext4 root holding a Debian-like template. The kernel here parses no partition tables, so the
/// run attaches each partition by offset; nothing may be left attached or mounted afterwards.
@Suite("Offline image mode", .requiresRoot, .serialized, .enabled(if: StorageTools.available("sfdisk", "mkfs.ext4", "tune2fs")))
struct ImageModeTests {
    /// A disk image and what the test knows about it.
    struct Image {
        let directory: String
        let path: String
        let bootUUID: String
        let rootUUID: String
        /// Byte offset and size of each partition.
        let partitions: [(offset: Int, size: Int)]

        /// blkid -p of partition `index` through a loop device the test attaches and detaches.
        func uuid(ofPartition index: Int) throws -> String? {
            try withPartition(index) { device in
                try HostCommand.run("blkid", ["-p", "-s", "UUID", "-o", "value", device]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }

        /// A file of the root partition, read through a read-only mount the test makes.
        func rootFile(_ inside: String) throws -> String? {
            try withPartition(1) { device in
                let point = directory + "/look"
                try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
                try HostCommand.succeed("mount", ["-o", "ro", device, point])
                defer { _ = try? HostCommand.run("umount", [point]) }
                return try? String(contentsOfFile: point + inside, encoding: .utf8)
            }
        }

        func withPartition<T>(_ index: Int, _ body: (String) throws -> T) throws -> T {
            let part = partitions[index]
            let device = try HostCommand.succeed("losetup", ["--find", "--show", "--read-only", "--offset", String(part.offset),
                                                             "--sizelimit", String(part.size), path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            defer { _ = try? HostCommand.run("losetup", ["-d", device]) }
            return try body(device)
        }

        /// Loop devices still backed by the image (must be none between commands).
        func attachments() throws -> String {
            try HostCommand.run("losetup", ["-j", path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// The attachments once the last command's are gone: the kernel releases a process's
        /// private mount namespace, and with it the autoclear loop devices, shortly after it
        /// exits (or is killed), not at once — on a loaded machine noticeably later. Waits up to 10 s.
        func attachmentsAfterTeardown() throws -> String {
            for _ in 0..<100 {
                let now = try attachments()
                if now.isEmpty { return now }
                usleep(100_000)
            }
            return try attachments()
        }
    }

    /// Builds the image: the fixture template's files on the root partition, fstab and GRUB
    /// configuration naming both filesystems by UUID. With `physicalVolume` (a file holding an
    /// LVM PV), a third partition gets its bytes and the fstab mounts `/srv` from `fstabLVM`.
    static func makeImage(physicalVolume: String? = nil, fstabLVM: String = "", sealed: Bool = false,
                          prepare: (FixtureRoot) throws -> Void = { _ in }, prepareBoot: (String) throws -> Void = { _ in }) throws -> Image {
        let template = try FixtureRoot.debianLike()
        defer { template.remove() }
        if sealed { try SanitizeClone.json(["seal", "--root", template.path, "--json"]) }
        try prepare(template)
        let directory = try Scratch.makeDirectory(prefix: "image")
        let path = directory + "/disk.raw"
        let bootUUID = UUID().uuidString.lowercased(), rootUUID = UUID().uuidString.lowercased()
        try template.write("/etc/fstab", "UUID=\(rootUUID) / ext4 errors=remount-ro 0 1\nUUID=\(bootUUID) /boot ext4 defaults 0 2\n"
                           + (physicalVolume == nil ? "" : "\(fstabLVM) /srv ext4 defaults 0 2\n"))
        try template.makeDirectory("/boot")
        let boot = directory + "/boot"
        try FileManager.default.createDirectory(atPath: boot + "/grub", withIntermediateDirectories: true)
        try "search --fs-uuid --set=root \(bootUUID)\nlinux /vmlinuz root=UUID=\(rootUUID) ro\n".write(toFile: boot + "/grub/grub.cfg", atomically: true, encoding: .utf8)
        try prepareBoot(boot)
        try HostCommand.succeed("truncate", ["-s", "200M", path])
        try HostCommand.succeed("sfdisk", ["-q", path], stdin: physicalVolume == nil ? "label: gpt\n,40M,L\n,,L\n" : "label: gpt\n,40M,L\n,100M,L\n,,L\n")
        let table = try HostCommand.succeed("sfdisk", ["--json", path]).json
        let partitions = (table?["partitiontable"]?["partitions"]?.array ?? []).compactMap { part -> (Int, Int)? in
            guard let start = part["start"]?.int, let size = part["size"]?.int else { return nil }
            return (start * 512, size * 512)
        }
        try #require(partitions.count == (physicalVolume == nil ? 2 : 3), "\(String(describing: table))")
        if let physicalVolume {
            try HostCommand.succeed("dd", ["if=\(physicalVolume)", "of=\(path)", "bs=1M", "seek=\(partitions[2].0 >> 20)", "conv=notrunc,sparse", "status=none"])
        }
        for (index, (uuid, source)) in [(bootUUID, boot), (rootUUID, template.path)].enumerated() {
            try HostCommand.succeed("mkfs.ext4", ["-q", "-F", "-U", uuid, "-d", source, "-E", "offset=\(partitions[index].0)", path,
                                                  "\(partitions[index].1 / 1024)k"])
        }
        return Image(directory: directory, path: path, bootUUID: bootUUID, rootUUID: rootUUID, partitions: partitions)
    }

    @Test("an image holding a planted journal whose undo runs a host program: run --image and rollback --image refuse it (exit 4), nothing runs")
    func plantedJournalInAnImage() throws {
        let marker = try Scratch.makeDirectory(prefix: "planted") + "/x"
        defer { try? FileManager.default.removeItem(atPath: (marker as NSString).deletingLastPathComponent) }
        let image = try Self.makeImage { template in
            try JournalBoundaryTests.plant(template, undo: #"{"runCommand":{"program":"/bin/sh","arguments":["-c","id > \#(marker)"],"chrootIntoRoot":false}}"#)
        }
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let run = try SanitizeClone.run(["run", "--image", image.path, "--json", "--hostname", "img-01"])
        let message = try SanitizeClone.expectError(run, exitCode: 4)
        #expect(message.contains("did not write") && message.contains("prune --discard-foreign"), "\(message)")
        let rollback = try SanitizeClone.run(["rollback", "--image", image.path, "--last", "--json"])
        try SanitizeClone.expectError(rollback, exitCode: 4)
        #expect(!FileManager.default.fileExists(atPath: marker), "no program ran on the host")
        #expect(try image.rootFile("/etc/hostname") == "golden\n" && image.uuid(ofPartition: 1) == image.rootUUID, "the image is as it was")
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a partition whose /etc/fstab is an absolute symlink (to the host's) is not taken for the root: it is looked up inside the partition")
    func fstabSymlinkIsResolvedInsideThePartition() throws {
        let image = try Self.makeImage(prepareBoot: { boot in
            try FileManager.default.createDirectory(atPath: boot + "/etc", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: boot + "/etc/fstab", withDestinationPath: "/etc/fstab")
        })
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let plan = try SanitizeClone.json(["run", "--image", image.path, "--dry-run", "--json", "--hostname", "img-01"])
        let hostname = plan.task("hostname")?["changes"]?.array?.first { $0["path"]?.string == "/etc/hostname" }
        #expect(hostname?["old"]?.string == "golden", "the root partition (the second) was planned, not /boot: \(plan)")
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a dry run changes no byte of the image and leaves nothing attached")
    func dryRun() throws {
        let image = try Self.makeImage()
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let before = try HostCommand.succeed("sha256sum", [image.path]).stdout
        let plan = try SanitizeClone.json(["run", "--image", image.path, "--dry-run", "--json", "--hostname", "img-01"])
        #expect(plan["result"]?.string == "planned" && plan.status(of: "fs-uuids") == "planned", "\(plan)")
        #expect(try HostCommand.succeed("sha256sum", [image.path]).stdout == before)
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("run: every identity, both filesystems' UUIDs and their references; rollback --image gives them back")
    func runThenRollback() throws {
        let image = try Self.makeImage()
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let run = try SanitizeClone.json(["run", "--image", image.path, "--json", "--hostname", "img-01"])
        #expect(run["result"]?.string == "committed", "\(run)")
        for task in ["machine-id", "hostname", "ssh-host-keys", "fs-uuids"] { #expect(run.status(of: task) == "applied", "\(task): \(run)") }
        #expect(try image.attachmentsAfterTeardown().isEmpty, "nothing left attached")
        #expect(!FileManager.default.fileExists(atPath: image.path + ".sanitize-clone-pending"))
        let newBoot = try #require(try image.uuid(ofPartition: 0)), newRoot = try #require(try image.uuid(ofPartition: 1))
        #expect(newBoot != image.bootUUID && newRoot != image.rootUUID)
        #expect(try image.rootFile("/etc/fstab") == "UUID=\(newRoot) / ext4 errors=remount-ro 0 1\nUUID=\(newBoot) /boot ext4 defaults 0 2\n")
        #expect(try image.rootFile("/etc/hostname") == "img-01\n")

        let rollback = try SanitizeClone.json(["rollback", "--image", image.path, "--last", "--json"])
        #expect(rollback["result"]?.string == "rolled-back", "\(rollback)")
        #expect(try image.uuid(ofPartition: 0) == image.bootUUID)
        #expect(try image.uuid(ofPartition: 1) == image.rootUUID)
        #expect(try image.rootFile("/etc/fstab") == "UUID=\(image.rootUUID) / ext4 errors=remount-ro 0 1\nUUID=\(image.bootUUID) /boot ext4 defaults 0 2\n")
        #expect(try image.rootFile("/etc/hostname") == "golden\n")
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a run killed inside the image is recovered by rollback --image; a pending UUID change stops the next run (exit 4)",
          arguments: ["fs-uuids:change-1", "hostname:change-2", "fs-uuids:after-apply"])
    func crashRecovered(_ point: String) throws {
        let image = try Self.makeImage()
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let crashed = try SanitizeClone.run(["run", "--image", image.path, "--hostname", "img-01"], failpoint: point + ":crash")
        try #require(crashed.wasKilled, "\(crashed)")
        #expect(try image.attachmentsAfterTeardown().isEmpty, "the kernel detached the loop devices when the killed process's descriptors closed")
        let rollback = try SanitizeClone.run(["rollback", "--image", image.path, "--last"])
        #expect(rollback.exitCode == 0, "\(rollback)")
        #expect(try image.uuid(ofPartition: 1) == image.rootUUID)
        #expect(try image.rootFile("/etc/hostname") == "golden\n")

        try "/dev/loop9 ext4 \(image.rootUUID) 0b7e5cc4-6a0e-4c8c-8d25-3f3a3e0d9d11\n".write(toFile: image.path + ".sanitize-clone-pending", atomically: true, encoding: .utf8)
        let refused = try SanitizeClone.run(["run", "--image", image.path, "--json"])
        let message = try SanitizeClone.expectError(refused, exitCode: 4)
        #expect(message.contains("rollback --image"), "\(message)")
    }

    @Test("--image and --root together, a missing image and a qcow2 image are refused with one line (exit 2)")
    func refusals() throws {
        let both = try SanitizeClone.run(["run", "--image", "/nonexistent.raw", "--root", "/tmp"])
        #expect(both.exitCode == 2 && both.stderr.contains("either --root or --image"), "\(both)")
        let missing = try SanitizeClone.run(["run", "--image", "/nonexistent.raw", "--json"])
        #expect(try SanitizeClone.expectError(missing, exitCode: 2).contains("/nonexistent.raw"))
        let directory = try Scratch.makeDirectory(prefix: "qcow")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data([0x51, 0x46, 0x49, 0xfb] + [UInt8](repeating: 0, count: 4092)).write(to: URL(fileURLWithPath: directory + "/disk.qcow2"))
        let qcow = try SanitizeClone.run(["run", "--image", directory + "/disk.qcow2", "--json"])
        #expect(try SanitizeClone.expectError(qcow, exitCode: 2).contains("qemu-img convert"))
    }

    @Test("an image's volume group whose name a VG of the host carries is renamed with its references; rollback --image renames it back",
          .enabled(if: StorageTools.available("lvm")))
    func volumeGroupNameCollision() throws {
        try LoopDevice.with(size: 64 << 20) { hostDisk in
            try LVMFixture(hostDisk).makeVolumeGroup("vgimage", logicalVolumes: false)
            let image = try LoopDevice.with(size: 56 << 20) { template in
                try LVMFixture(template).makeVolumeGroup("vgimage", logicalVolumes: false)
                return try Self.makeImage(physicalVolume: template.image, fstabLVM: "/dev/mapper/vgimage-srv")
            }
            defer { try? FileManager.default.removeItem(atPath: image.directory) }
            let before = try image.withPartition(2) { try #require(try LVMPhysicalVolume.read($0)) }
            let hostBefore = try LVMPhysicalVolume.read(hostDisk.path)

            let run = try SanitizeClone.json(["run", "--image", image.path, "--json", "--hostname", "img-02"])
            #expect(run["result"]?.string == "committed", "\(run)")
            let notes = run.task("fs-uuids")?["notes"]?.array?.compactMap(\.string) ?? []
            #expect(notes.contains { $0.contains("becomes vgimage1") }, "\(notes)")
            let after = try image.withPartition(2) { try #require(try LVMPhysicalVolume.read($0)) }
            #expect(after.vgName == "vgimage1" && after.pvUUID != before.pvUUID && after.vgUUID != before.vgUUID, "\(after)")
            #expect(try image.rootFile("/etc/fstab")?.contains("/dev/mapper/vgimage1-srv /srv ext4") == true)
            #expect(try LVMPhysicalVolume.read(hostDisk.path) == hostBefore, "the host's volume group is never touched")
            #expect(try image.attachmentsAfterTeardown().isEmpty)

            let rollback = try SanitizeClone.json(["rollback", "--image", image.path, "--last", "--json"])
            #expect(rollback["result"]?.string == "rolled-back", "\(rollback)")
            let back = try image.withPartition(2) { try #require(try LVMPhysicalVolume.read($0)) }
            #expect(back.vgName == before.vgName && back.pvUUID == before.pvUUID && back.vgUUID == before.vgUUID, "\(back)")
            #expect(try image.rootFile("/etc/fstab")?.contains("/dev/mapper/vgimage-srv /srv ext4") == true)
            #expect(try image.attachmentsAfterTeardown().isEmpty)
        }
    }

    @Test("verify --image: a sealed template's image fails, the same image after run --image passes, fstab UUIDs checked against its partitions; nothing changes or stays attached")
    func verifyImage() throws {
        let image = try Self.makeImage(sealed: true)
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let before = try HostCommand.succeed("sha256sum", [image.path]).stdout
        let sealed = try SanitizeClone.run(["verify", "--image", image.path, "--json"])
        #expect(sealed.exitCode == 1, "a sealed template is no sanitized clone: \(sealed)")
        #expect(try HostCommand.succeed("sha256sum", [image.path]).stdout == before, "verify changes nothing")
        #expect(try image.attachmentsAfterTeardown().isEmpty)

        try SanitizeClone.json(["run", "--image", image.path, "--json", "--hostname", "img-03"])
        let verified = try SanitizeClone.run(["verify", "--image", image.path, "--json"])
        #expect(verified.exitCode == 0, "\(verified)")
        let checks = verified.json?["checks"]?.array ?? []
        let fstab = checks.filter { $0["check"]?.string?.hasPrefix("fstab UUID ") == true }
        #expect(fstab.count == 2 && fstab.allSatisfy { $0["passed"]?.bool == true && $0["detail"]?.string?.hasPrefix("/dev/loop") == true },
                "both fstab UUIDs name a partition of the image: \(fstab)")
        #expect(!fstab.contains { $0["check"]?.string?.contains(image.rootUUID) == true }, "the new UUIDs, not the template's")
        #expect(try image.attachmentsAfterTeardown().isEmpty)

        let both = try SanitizeClone.run(["verify", "--image", image.path, "--root", "/tmp"])
        #expect(both.exitCode == 2 && both.stderr.contains("either --root or --image"), "\(both)")
    }
}
