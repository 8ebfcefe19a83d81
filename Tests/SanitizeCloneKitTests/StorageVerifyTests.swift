import Foundation
import Testing
@testable import SanitizeCloneKit

/// `seal` records the template's storage identities and `verify` compares each one a clone still
/// has — filesystem and swap UUIDs (fs-uuids), the GPT disk GUID and partition GUIDs
/// (partition-table-ids) — as a run on the clone would decide: failed where the run should have
/// changed it (naming the device or mount point, the identity and the fix), kept (⚠, with the
/// reason) where this guest or its configuration keeps it by design, pending where the initramfs
/// sets it at the next boot; and passes once a run has changed them. Loop devices of the test's
/// own sparse files only.
@Suite("verify: storage identities", .requiresRoot, .serialized,
       .enabled(if: StorageTools.available("mkfs.ext4", "mkswap", "tune2fs", "swaplabel", "sfdisk")))
struct StorageVerifyTests {
    /// The verify checks that failed, by name, with their details.
    static func failed(_ json: JSONValue?) -> [String: String] {
        Dictionary((json?["checks"]?.array ?? []).filter { $0["passed"]?.bool == false }
            .compactMap { check in check["check"]?.string.map { ($0, check["detail"]?.string ?? "") } }, uniquingKeysWith: { first, _ in first })
    }

    /// The verify checks kept by design, by name, with their reasons.
    static func kept(_ json: JSONValue?) -> [String: String] {
        Dictionary((json?["checks"]?.array ?? []).filter { $0["kept"]?.bool == true }
            .compactMap { check in check["check"]?.string.map { ($0, check["reason"]?.string ?? "") } }, uniquingKeysWith: { first, _ in first })
    }

    /// The storage checks of a verify answer (fs-uuids' and partition-table-ids').
    static func storageChecks(_ json: JSONValue?) -> [JSONValue] {
        (json?["checks"]?.array ?? []).filter { check in
            let name = check["check"]?.string ?? ""
            return name.contains("UUID") || name.contains("GUID") || name.contains("disk identifier") || name.contains("in view")
        }
    }

    @Test("a sealed root whose filesystems keep their UUIDs fails verify, one line per identity naming the device and the fix; after run it passes")
    func sealedRootFailsThenPasses() throws {
        try LoopDevice.with(size: 64 << 20) { rootDisk in
            try rootDisk.format("mkfs.ext4", ["-q", "-F"])
            try LoopDevice.with(size: 16 << 20) { swap in
                try swap.format("mkswap", ["-q"])
                let rootUUID = try #require(try rootDisk.blkid("UUID")), swapUUID = try #require(try swap.blkid("UUID"))
                let root = try FixtureRoot.debianLike()
                defer { root.remove() }
                try root.write("/etc/fstab", "UUID=\(rootUUID) / ext4 errors=remount-ro 0 1\nUUID=\(swapUUID) none swap sw 0 0\n")
                let devices = ["--device", rootDisk.path, "--device", swap.path]

                try SanitizeClone.json(["seal", "--root", root.path, "--json"] + devices)
                let record = try #require(RecordedIdentity.load(from: try RootDirectory(path: root.path)))
                let volumes = record.template.storage?.volumes ?? []
                #expect(Set(volumes.map(\.uuid)) == [rootUUID, swapUUID], "seal records both UUIDs: \(volumes)")
                #expect(volumes.first { $0.uuid == rootUUID }?.place == "/" && volumes.first { $0.uuid == swapUUID }?.type == "swap")

                let sealed = try SanitizeClone.run(["verify", "--root", root.path, "--json"] + devices)
                #expect(sealed.exitCode == 1, "\(sealed)")
                let failures = Self.failed(sealed.json)
                let rootFailure = try #require(failures["filesystem UUID of / differs from the template's"], "\(failures)")
                #expect(rootFailure.contains(rootDisk.path) && rootFailure.contains(rootUUID) && rootFailure.contains("sanitize-clone run --root"), "\(rootFailure)")
                let swapFailure = try #require(failures["swap UUID differs from the template's"], "\(failures)")
                #expect(swapFailure.contains(swap.path) && swapFailure.contains(swapUUID) && swapFailure.contains("--device \(swap.path)"), "\(swapFailure)")
                // Without the devices the fstab names only the template's UUIDs: still a failure, never a pass.
                let blind = try SanitizeClone.run(["verify", "--root", root.path, "--json"])
                #expect(Self.failed(blind.json)["filesystem UUID of / differs from the template's"]?.contains("--device") == true, "\(blind)")

                try InProcess.json(["run", "--root", root.path, "--json"] + devices)
                #expect(try rootDisk.blkid("UUID") != rootUUID && swap.blkid("UUID") != swapUUID)
                let verified = try SanitizeClone.run(["verify", "--root", root.path, "--json"] + devices)
                let storage = Self.storageChecks(verified.json)
                #expect(storage.count == 2 && storage.allSatisfy { $0["passed"]?.bool == true }, "every storage check passes after the run: \(storage)")
                #expect(verified.exitCode == 0, "\(verified)")
            }
        }
    }

    @Test("a LUKS volume: seal records its volume key's fingerprint; a run gives it a new UUID, says the key stays (plan note), and verify keeps the key as a warning (--strict fails) naming cryptsetup reencrypt",
          .enabled(if: StorageTools.available("cryptsetup")))
    func sharedLUKSVolumeKey() throws {
        try LoopDevice.with(size: 32 << 20) { disk in
            let key = disk.directory + "/key"
            try "not a secret".write(toFile: key, atomically: true, encoding: .utf8)
            try HostCommand.succeed("cryptsetup", ["luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
                                                   "--pbkdf-force-iterations", "1000", "--key-file", key, disk.path])
            let uuid = try #require(try disk.blkid("UUID"))
            let fingerprint = try #require(try LUKSVolumeKey.fingerprint(of: disk.path))
            let root = try FixtureRoot.debianLike()
            defer { root.remove() }
            try root.write("/etc/crypttab", "data UUID=\(uuid) none luks\n")
            let devices = ["--device", disk.path]
            try SanitizeClone.json(["seal", "--root", root.path, "--json"] + devices)
            let record = try #require(RecordedIdentity.load(from: try RootDirectory(path: root.path)))
            #expect(record.template.storage?.volumes.first?.volumeKey == fingerprint, "seal records the fingerprint")

            let plan = try InProcess.json(["plan", "--root", root.path, "--json"] + devices)
            let notes = plan.task("fs-uuids")?["notes"]?.array?.compactMap(\.string) ?? []
            #expect(notes.contains { $0.contains("keeps the template's volume key") && $0.contains("cryptsetup reencrypt /dev/disk/by-uuid/") }, "\(notes)")
            try InProcess.json(["run", "--root", root.path, "--json"] + devices)
            let now = try #require(try disk.blkid("UUID"))
            #expect(now != uuid)
            #expect(try LUKSVolumeKey.fingerprint(of: disk.path) == fingerprint, "a new UUID leaves the key's digest as it was")

            let verified = try SanitizeClone.run(["verify", "--root", root.path, "--json"] + devices)
            #expect(verified.exitCode == 0, "a kept key is a warning: \(verified)")
            let reason = try #require(Self.kept(verified.json)["LUKS volume key of data differs from the template's"], "\(verified)")
            #expect(reason.contains("cryptsetup reencrypt /dev/disk/by-uuid/\(now)"), "\(reason)")
            #expect(Self.failed(verified.json)["LUKS UUID of data differs from the template's"] == nil, "\(verified)")
            let strict = try SanitizeClone.run(["verify", "--root", root.path, "--json", "--strict"] + devices)
            #expect(strict.exitCode == 1, "\(strict)")

            // Another volume (as after re-encryption: a new key) has another fingerprint.
            try HostCommand.succeed("cryptsetup", ["luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
                                                   "--pbkdf-force-iterations", "1000", "--key-file", key, disk.path])
            #expect(try LUKSVolumeKey.fingerprint(of: disk.path) != fingerprint)
            let fresh = try SanitizeClone.run(["verify", "--root", root.path, "--json"] + devices)
            #expect((fresh.json?["checks"]?.array ?? []).contains { $0["check"]?.string == "LUKS volume key of data differs from the template's" && $0["passed"]?.bool == true && $0["kept"]?.bool != true },
                    "\(fresh)")
        }
    }

    @Test("LUKS1's and LUKS2's dumps give the digest lines, nothing else; a dump without them none")
    func volumeKeyDigestLines() {
        let luks2 = "LUKS header information\nVersion: 2\nUUID: 1\nKeyslots:\n  0: luks2\n\tSalt: aa\nDigests:\n  0: pbkdf2\n\tSalt: 01 02\n\t      03\n\tDigest: 04\n"
        #expect(LUKSVolumeKey.digestLines(luks2) == ["Digests:", "  0: pbkdf2", "\tSalt: 01 02", "\t      03", "\tDigest: 04"])
        let luks1 = "Version: 1\nUUID: 2\nMK bits: 512\nMK digest: 0a 0b\nMK salt: 0c 0d\n         0e 0f\nMK iterations: 1000\nKey Slot 0: ENABLED\n"
        #expect(LUKSVolumeKey.digestLines(luks1) == ["MK digest: 0a 0b", "MK salt: 0c 0d", "         0e 0f"])
        #expect(LUKSVolumeKey.digestLines("Version: 2\nUUID: 3\n") == nil)
    }

    @Test("a running clone's mounted root keeps the template's UUID while ChangeMountedFilesystems=no: kept with the reason; =yes with nothing pending fails; pending once scheduled; the same on a dracut guest")
    func runningCloneMountedRoot() throws {
        try LoopDevice.with(size: 64 << 20) { rootDisk in
            try rootDisk.format("mkfs.ext4", ["-q", "-F"])
            let rootUUID = try #require(try rootDisk.blkid("UUID"))
            let root = try FixtureRoot.debianLike()
            defer { root.remove() }
            for tool in ["/usr/sbin/update-initramfs", "/sbin/tune2fs"] { try root.write(tool, "#!/bin/sh\n", mode: 0o755) }
            try root.write("/etc/fstab", "UUID=\(rootUUID) / ext4 errors=remount-ro 0 1\n")
            try SanitizeClone.json(["seal", "--root", root.path, "--device", rootDisk.path, "--json"])
            // The fixture stands for the running clone, whose root filesystem is mounted.
            let point = try rootDisk.mount()
            let directory = try RootDirectory(path: root.path)
            let name = "filesystem UUID of / differs from the template's"
            func rootCheck() throws -> CloneCheck {
                try #require(try CloneVerification().checks(root: directory, named: [rootDisk.path], runningClone: true).first { $0.name == name })
            }

            let kept = try rootCheck()
            #expect(kept.state == .kept && kept.passed && !kept.passed(strict: true), "\(kept)")
            let reason = try #require(kept.reason)
            #expect(reason.contains("mounted on \(point)") && reason.contains("ChangeMountedFilesystems=no")
                    && reason.contains("ChangeMountedFilesystems=yes") && reason.contains("run --image"), "\(reason)")
            #expect(kept.detail.contains(rootDisk.path) && kept.detail.contains(rootUUID), "\(kept.detail)")

            try root.configure("[Storage]\nChangeMountedFilesystems=yes\n")
            let failed = try rootCheck()
            #expect(failed.state == .failed && failed.detail.contains("no new UUID is pending") && failed.detail.contains("sanitize-clone run"), "\(failed)")

            try root.write(NextBootUUIDs.pendingFile, NextBootUUIDs.text([.init(type: "ext4", old: rootUUID, new: UUID().uuidString.lowercased())]))
            #expect(try rootCheck().state == .pending)
            try root.delete(NextBootUUIDs.pendingFile)

            // A dracut guest takes the next-boot path too (DracutNextBootModule): failed while nothing
            // is pending, pending once scheduled.
            try root.delete("/usr/sbin/update-initramfs")
            try root.write("/usr/bin/dracut", "#!/bin/sh\n", mode: 0o755)
            let dracut = try rootCheck()
            #expect(dracut.state == .failed && dracut.detail.contains("no new UUID is pending"), "\(dracut)")
            try root.write(NextBootUUIDs.pendingFile, NextBootUUIDs.text([.init(type: "ext4", old: rootUUID, new: UUID().uuidString.lowercased())]))
            #expect(try rootCheck().state == .pending)
            try root.delete(NextBootUUIDs.pendingFile)
            try rootDisk.unmount(point)
        }
    }

    @Test("a filesystem the run keeps on purpose (GRUB's core.img embeds its UUID) is kept (⚠) after run: verify exits 0, --strict exits 1")
    func keptByDesignAndStrict() throws {
        try LoopDevice.with(size: 64 << 20) { rootDisk in
            try rootDisk.format("mkfs.ext4", ["-q", "-F"])
            try LoopDevice.with(size: 16 << 20) { swap in
                try swap.format("mkswap", ["-q"])
                let rootUUID = try #require(try rootDisk.blkid("UUID")), swapUUID = try #require(try swap.blkid("UUID"))
                let root = try FixtureRoot.debianLike()
                defer { root.remove() }
                try root.write("/etc/fstab", "UUID=\(rootUUID) / ext4 errors=remount-ro 0 1\nUUID=\(swapUUID) none swap sw 0 0\n")
                try root.write("/boot/grub/i386-pc/core.img", "\u{7f}core search.fs_uuid \(rootUUID) root\0")
                let devices = ["--device", rootDisk.path, "--device", swap.path]
                try SanitizeClone.json(["seal", "--root", root.path, "--json"] + devices)
                try InProcess.json(["run", "--root", root.path, "--json"] + devices)
                #expect(try rootDisk.blkid("UUID") == rootUUID && swap.blkid("UUID") != swapUUID, "the run keeps the embedded UUID")

                let verified = try SanitizeClone.run(["verify", "--root", root.path, "--json"] + devices)
                #expect(verified.exitCode == 0, "\(verified)")
                #expect(verified.json?["kept"]?.int == 1 && verified.json?["result"]?.string == "verified", "\(verified)")
                let reason = try #require(Self.kept(verified.json)["filesystem UUID of / differs from the template's"], "\(verified)")
                #expect(reason.contains("core.img") && reason.contains("grub-install"), "\(reason)")
                let text = try SanitizeClone.run(["verify", "--root", root.path] + devices)
                #expect(text.exitCode == 0 && text.stdout.contains("⚠ filesystem UUID of / differs from the template's: kept: "), "\(text)")

                let strict = try SanitizeClone.run(["verify", "--root", root.path, "--json", "--strict"] + devices)
                #expect(strict.exitCode == 1, "\(strict)")
                #expect(Self.failed(strict.json).keys.contains("filesystem UUID of / differs from the template's"), "\(strict)")
                #expect(Self.failed(strict.json)["swap UUID differs from the template's"] == nil, "\(strict)")
            }
        }
    }

    @Test("a record written before storage identities were kept is still read, and verify compares no storage with it")
    func oldRecordReadable() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write(RecordedIdentity.path, """
            {"machine": {"macs": []}, "recordedAt": 1, "sealed": false,
             "template": {"filesystemUUIDs": ["0b1e1f8e-5c3a-4d2e-9f10-2a3b4c5d6e7f"], "hostname": "golden", "macs": [],
                          "machineID": "\(FixtureRoot.templateMachineID)", "sshFingerprints": []}}
            """, mode: 0o600)
        let record = try #require(try RecordedIdentity.load(from: try RootDirectory(path: root.path)))
        #expect(record.template.storage == nil)
        let checks = try CloneVerification().checks(root: try RootDirectory(path: root.path))
        #expect(!checks.contains { $0.name.contains("differs from the template's") && ($0.name.contains("UUID of") || $0.name.contains("GUID")) })
    }

    @Test("verify --image: a sealed image's filesystem UUIDs, GPT disk GUID and partition GUIDs fail, named; after run --image all pass")
    func imageMode() throws {
        let image = try ImageModeTests.makeImage()
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        // Seal the image's root as an administrator would with its partitions attached by offset.
        try image.withPartitionWritable(1) { rootDevice in
            try image.withPartitionWritable(0) { bootDevice in
                let point = image.directory + "/seal"
                try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
                try HostCommand.succeed("mount", [rootDevice, point])
                defer { _ = try? HostCommand.run("umount", [point]) }
                try SanitizeClone.json(["seal", "--root", point, "--device", bootDevice, "--json"])
                // A --root's partition table changes only with run --image: kept, saying so.
                let asRoot = try SanitizeClone.run(["verify", "--root", point, "--device", bootDevice, "--json"])
                let kept = Self.kept(asRoot.json)
                #expect(kept.keys.contains { $0.hasPrefix("GPT disk GUID of ") } && kept.values.allSatisfy { $0.contains("run --image") }, "\(kept)")
                #expect(Self.failed(asRoot.json).keys.allSatisfy { !$0.contains("GUID") }, "\(Self.failed(asRoot.json))")
            }
        }
        // The offset attachments go once nothing holds them (a concurrent test's blkid may, a moment).
        #expect(try image.attachmentsAfterTeardown().isEmpty)
        let table = try #require(try PartitionTableIdentity.read(image: image.path))
        let sealed = try SanitizeClone.run(["verify", "--image", image.path, "--json"])
        #expect(sealed.exitCode == 1, "\(sealed)")
        let failures = Self.failed(sealed.json)
        #expect(failures["filesystem UUID of / differs from the template's"]?.contains(image.rootUUID) == true, "\(failures)")
        #expect(failures["filesystem UUID of /boot differs from the template's"]?.contains("run --image \(image.path)") == true, "\(failures)")
        let disk = try #require(failures.first { $0.key.hasPrefix("GPT disk GUID of ") }, "\(failures)")
        #expect(disk.value.contains(table.diskID), "\(disk)")
        for partition in table.partitions {
            let failure = failures.first { $0.key.hasPrefix("GUID of partition \(partition.number) of ") }
            #expect(failure?.value.contains(partition.uuid ?? "?") == true, "partition \(partition.number): \(failures)")
        }
        #expect(Self.kept(sealed.json).isEmpty, "nothing in an image is kept before run --image: \(Self.kept(sealed.json))")
        #expect(try image.attachmentsAfterTeardown().isEmpty)

        try SanitizeClone.json(["run", "--image", image.path, "--json"])
        let verified = try SanitizeClone.run(["verify", "--image", image.path, "--json", "--strict"])
        let storage = Self.storageChecks(verified.json)
        #expect(storage.count >= 5 && storage.allSatisfy { $0["state"]?.string == "passed" && $0["passed"]?.bool == true }, "\(storage)")
        #expect(verified.exitCode == 0, "\(verified)")
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }
}

/// What `fs-uuids` says where it cannot make a change: the path it names exists on the guest.
@Suite("fs-uuids notes name a path that exists on the guest", .requiresFileOwnership)
struct StorageNoteTests {
    /// A Fedora-like root: dracut installed, no initramfs-tools, every UUID tool present.
    static func dracutLike() throws -> FixtureRoot {
        let root = try FixtureRoot.debianLike()
        for tool in ["/usr/bin/dracut", "/sbin/tune2fs", "/usr/sbin/xfs_admin", "/sbin/swaplabel"] {
            try root.write(tool, "#!/bin/sh\n", mode: 0o755)
        }
        return root
    }

    @Test("on a dracut guest a mounted ext4, XFS or swap takes the next-boot path once ChangeMountedFilesystems=yes; btrfs names run --image / --root")
    func dracutMountedNote() throws {
        let root = try Self.dracutLike()
        defer { root.remove() }
        let directory = try RootDirectory(path: root.path)
        for type in ["ext4", "xfs", "swap"] {
            let off = try #require(try FilesystemUUIDsTask.mountedFilesystemNote(place: "/etc/fstab:1 (UUID=x on /)", device: "/dev/vda1", type: type,
                                                                                 use: "mounted on /", in: directory, changeMounted: false))
            #expect(off.contains("ChangeMountedFilesystems=yes") && !off.contains("update-initramfs"), "\(off)")
            #expect(try FilesystemUUIDsTask.mountedFilesystemNote(place: "p", device: "/dev/vda1", type: type, use: "mounted on /", in: directory,
                                                                  changeMounted: true) == nil, "\(type)")
        }
        try root.write("/usr/bin/btrfstune", "#!/bin/sh\n", mode: 0o755)
        let btrfs = try #require(try FilesystemUUIDsTask.mountedFilesystemNote(place: "p", device: "/dev/vda1", type: "btrfs", use: "mounted on /",
                                                                               in: directory, changeMounted: true))
        #expect(btrfs.contains("dracut") && btrfs.contains("run --image") && btrfs.contains("--root") && !btrfs.contains("ChangeMountedFilesystems"), "\(btrfs)")
        #expect(try InitramfsComponent.rebuildNote(changed: ["/etc/crypttab"], in: directory, mayRun: true) == nil)
        let rebuild = try #require(try InitramfsComponent.rebuildNote(changed: ["/etc/crypttab"], in: directory, mayRun: false))
        #expect(rebuild.contains("dracut --force --regenerate-all") && !rebuild.contains("update-initramfs") && rebuild.contains("/etc/crypttab"), "\(rebuild)")
    }

    @Test("on an initramfs-tools guest the note says how to turn on the next-boot path, and none is needed once it is on")
    func initramfsToolsNote() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        for tool in ["/usr/sbin/update-initramfs", "/sbin/tune2fs"] { try root.write(tool, "#!/bin/sh\n", mode: 0o755) }
        let directory = try RootDirectory(path: root.path)
        let off = try FilesystemUUIDsTask.mountedFilesystemNote(place: "p", device: "/dev/vda1", type: "ext4", use: "mounted on /", in: directory, changeMounted: false)
        #expect(off?.contains("ChangeMountedFilesystems=yes") == true, "\(off ?? "")")
        #expect(try FilesystemUUIDsTask.mountedFilesystemNote(place: "p", device: "/dev/vda1", type: "ext4", use: "mounted on /", in: directory, changeMounted: true) == nil)
        #expect(try InitramfsComponent.rebuildNote(changed: ["/etc/crypttab"], in: directory, mayRun: true) == nil)
    }

    @Test("a running clone's active PV takes the next-boot path once ChangeMountedFilesystems=yes and the clone has lvm2; an open LUKS volume keeps the offline fix")
    func activeVolumeGroupNote() throws {
        let root = try Self.dracutLike()
        defer { root.remove() }
        let directory = try RootDirectory(path: root.path)
        let lvm = StorageIdentityUndo.lvmType
        let missing = try #require(try FilesystemUUIDsTask.keptOnRunningClone(type: lvm, use: "active (rhel-root)", in: directory, changeMounted: true))
        #expect(missing.contains("/sbin/lvm (install lvm2 in it)") && missing.contains("run --image"), "\(missing)")
        try root.write("/usr/sbin/lvm", "#!/bin/sh\n", mode: 0o755)
        let off = try #require(try FilesystemUUIDsTask.keptOnRunningClone(type: lvm, use: "active (rhel-root)", in: directory, changeMounted: false))
        #expect(off.contains("ChangeMountedFilesystems=yes") && off.contains("PV and VG UUIDs"), "\(off)")
        #expect(try FilesystemUUIDsTask.keptOnRunningClone(type: lvm, use: "active (rhel-root)", in: directory, changeMounted: true) == nil)
        let luks = try #require(try FilesystemUUIDsTask.keptOnRunningClone(type: "crypto_LUKS", use: "open (root)", in: directory, changeMounted: true))
        #expect(luks.contains("open LUKS volume") && luks.contains("run --image"), "\(luks)")
    }
}

extension ImageModeTests.Image {
    /// Partition `index` attached read-write by offset for `body` (as an administrator attaches
    /// an image's partition on a kernel without partition-table parsers), flushed and detached after.
    func withPartitionWritable<T>(_ index: Int, _ body: (String) throws -> T) throws -> T {
        let part = partitions[index]
        let device = try HostCommand.succeed("losetup", ["--find", "--show", "--offset", String(part.offset),
                                                         "--sizelimit", String(part.size), path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer {
            _ = try? HostCommand.run("blockdev", ["--flushbufs", device])
            _ = try? HostCommand.run("losetup", ["-d", device])
        }
        return try body(device)
    }
}
