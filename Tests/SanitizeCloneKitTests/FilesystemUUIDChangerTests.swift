import Foundation
@testable import SanitizeCloneKit
import Testing

/// Storage identity: a clone's filesystems get new UUIDs, and undo gives the old ones back exactly.
@Suite("Filesystem UUIDs: each type's own format and tool, refused on devices the host uses")
struct FilesystemUUIDChangerTests {
    @Test("new UUIDs come in each type's own format")
    func newUUIDFormats() throws {
        let volumeID = try FilesystemUUIDChanger.newUUID(for: "vfat")
        #expect(volumeID.wholeMatch(of: /[0-9A-F]{4}-[0-9A-F]{4}/) != nil, "\(volumeID)")
        for type in ["ext2", "ext3", "ext4", "xfs", "btrfs", "swap", "crypto_LUKS"] {
            let uuid = try FilesystemUUIDChanger.newUUID(for: type)
            #expect(uuid.wholeMatch(of: /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/) != nil, "\(type): \(uuid)")
        }
        #expect(try FilesystemUUIDChanger.newUUID(for: "ext4") != FilesystemUUIDChanger.newUUID(for: "ext4"))
        #expect(try FilesystemUUIDChanger.newUUID(for: "vfat") != FilesystemUUIDChanger.newUUID(for: "vfat"))
    }

    @Test("only the types with a UUID tool are supported; any other is refused naming the supported ones")
    func supportedTypes() throws {
        for type in ["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "swap", "crypto_LUKS"] {
            #expect(FilesystemUUIDChanger.supports(type), "\(type)")
        }
        for type in ["squashfs", "LVM2_member", "ntfs", "exfat", "iso9660", ""] {
            #expect(!FilesystemUUIDChanger.supports(type), "\(type)")
        }
        let error = try #require(throws: InputError.self) { try FilesystemUUIDChanger.newUUID(for: "squashfs") }
        #expect(error.description.contains("squashfs") && error.description.contains("ext4, xfs, btrfs, vfat, swap, crypto_LUKS"), "\(error)")
    }

    @Test("a malformed UUID is refused before any device is looked at")
    func malformedUUID() throws {
        let cases = [("vfat", "1A2B3C4D"), ("vfat", "1A2B-3C4G"), ("ext4", "random"), ("ext4", "1234"),
                     ("xfs", "generate"), ("swap", "0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1"), ("crypto_LUKS", "ABCD-1234")]
        for (type, uuid) in cases {
            let error = try #require(throws: InputError.self, "\(type) \(uuid)") {
                try FilesystemUUIDChanger.setUUID(uuid, on: "/dev/does-not-exist", type: type)
            }
            #expect(error.description.contains("is not a \(type) UUID"), "\(error)")
        }
    }

    @Test("a path that is no block device is refused, saying what to give instead")
    func notABlockDevice() throws {
        let directory = try Scratch.makeDirectory(prefix: "not-a-device")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/disk.img"
        #expect(FileManager.default.createFile(atPath: file, contents: Data(count: 4096)))
        let error = try #require(throws: InputError.self) { try HostDeviceUse.reason(file) }
        #expect(error.description == "\(file) is not a block device (give a block device such as /dev/vdb1; attach an image file with `losetup --find --show FILE` first)")
        let missing = try #require(throws: InputError.self) { try BlockDeviceIdentity.probe(directory + "/absent") }
        #expect(missing.description.contains("does not exist"), "\(missing)")
    }

    @Test("blkid's export format is read with its escapes undone, and nothing but KEY=value lines")
    func exportFormat() {
        let values = BlockDeviceIdentity.parseExport("""
            DEVNAME=/dev/loop3
            LABEL=my\\ data\\ \\"disk\\"
            UUID=2FC6-E065
            blkid: some warning = ignored
            TYPE=vfat
            UUID=ignored-second-value
            """)
        #expect(values["LABEL"] == "my data \"disk\"")
        #expect(values["UUID"] == "2FC6-E065")
        #expect(values["TYPE"] == "vfat")
        #expect(values.count == 4)
    }

    @Test("a tool's output becomes one line, without version banners")
    func oneLineReason() {
        let tune2fs = "tune2fs 1.47.0 (5-Feb-2023)\n\nThis operation requires a freshly checked filesystem.\n\nPlease run e2fsck -f on the filesystem.\n\n"
        #expect(FilesystemUUIDError.oneLineReason(tune2fs) == "This operation requires a freshly checked filesystem. Please run e2fsck -f on the filesystem.")
        let xfsAdmin = """
            ERROR: The filesystem has valuable metadata changes in a log which needs to
            be replayed.  Mount the filesystem to replay the log, and unmount it before
            re-running xfs_admin.  If you are unable to mount the filesystem, then use
            the xfs_repair -L option to destroy the log and attempt a repair.
            Note that destroying the log may cause corruption -- please attempt a mount
            of the filesystem before doing this.
            """
        let reason = FilesystemUUIDError.oneLineReason(xfsAdmin)
        #expect(reason.hasPrefix("ERROR: The filesystem has valuable metadata changes in a log which needs to be replayed. Mount the filesystem"))
        #expect(reason.count <= 242 && !reason.contains("\n"), "\(reason)")
    }
}

/// The same, on real filesystems made on loop devices: probe, set a new UUID, check the
/// filesystem, set the old UUID back, and find it exactly as blkid showed it before.
@Suite("Filesystem UUIDs on loop devices", .requiresRoot)
struct FilesystemUUIDChangerLoopTests {
    // MARK: ext2/3/4

    @Test("ext4 with metadata_csum: checksums rewritten, checks clean, old UUID back, no feature added",
          .enabled(if: StorageTools.available("mkfs.ext4", "tune2fs", "e2fsck", "dumpe2fs")))
    func ext4WithChecksums() throws {
        try LoopDevice.with { loop in
            try loop.format("mkfs.ext4", ["-q", "-O", "metadata_csum,^metadata_csum_seed"])
            try expectRoundTrip(loop, type: "ext4", check: ["e2fsck", "-fn"], state: { try extFeatures(loop) })
            #expect(try !extFeatures(loop).contains("metadata_csum_seed"))
        }
    }

    @Test("ext4 with metadata_csum_seed: only the UUID changes, and the seed feature stays",
          .enabled(if: StorageTools.available("mkfs.ext4", "tune2fs", "e2fsck", "dumpe2fs")))
    func ext4WithChecksumSeed() throws {
        try LoopDevice.with { loop in
            try loop.format("mkfs.ext4", ["-q", "-O", "metadata_csum,metadata_csum_seed"])
            // Mounted since its last check: tune2fs needs no fsck for a seeded filesystem.
            try HostCommand.succeed("tune2fs", ["-T", "20200101", loop.path])
            try loop.unmount(loop.mount())
            let printed = try expectRoundTrip(loop, type: "ext4", check: ["e2fsck", "-fn"], state: { try extFeatures(loop) })
            #expect(!printed.contains("e2fsck"), "\(printed)")
            #expect(try extFeatures(loop).contains("metadata_csum_seed"))
        }
    }

    @Test("ext2 and ext3 (no metadata checksums) round-trip", arguments: ["ext2", "ext3"])
    func olderExt(_ type: String) throws {
        try #require(StorageTools.available("mkfs.\(type)", "tune2fs", "e2fsck", "dumpe2fs"))
        try LoopDevice.with { loop in
            try loop.format("mkfs.\(type)", ["-q"])
            try expectRoundTrip(loop, type: type, check: ["e2fsck", "-fn"], state: { try extFeatures(loop) })
        }
    }

    @Test("a metadata_csum ext4 mounted since its last check gets e2fsck -f -p first (1 and 8 GiB)",
          .enabled(if: StorageTools.available("mkfs.ext4", "tune2fs", "e2fsck", "dumpe2fs")),
          arguments: [Int64(1) << 30, Int64(8) << 30])
    func ext4MountedSinceCheck(size: Int64) throws {
        try LoopDevice.with(size: size) { loop in
            try loop.format("mkfs.ext4", ["-q", "-O", "metadata_csum,^metadata_csum_seed"])
            // Checked long before the mount below, not in the same second as mkfs.
            try HostCommand.succeed("tune2fs", ["-T", "20200101", loop.path])
            let point = try loop.mount()
            try loop.writeFiles(50, into: point)
            try loop.unmount(point)
            let old = try #require(try loop.blkid("UUID"))
            let new = try FilesystemUUIDChanger.newUUID(for: "ext4")
            let printed = try FilesystemUUIDChanger.setUUID(new, on: loop.path, type: "ext4")
            #expect(printed.contains("e2fsck -f -p") && printed.contains("tune2fs -U"), "\(printed)")
            #expect(try loop.blkid("UUID") == new)
            try expectClean(loop, ["e2fsck", "-fn"])
            try FilesystemUUIDChanger.setUUID(old, on: loop.path, type: "ext4")
            #expect(try loop.blkid("UUID") == old)
            try expectClean(loop, ["e2fsck", "-fn"])
            let point2 = try loop.mount()
            #expect(try HostCommand.succeed("cat", ["\(point2)/file49"]).stdout == "file 49\n")
        }
    }

    @Test("an ext4 not cleanly unmounted is checked first, even with metadata_csum_seed",
          .enabled(if: StorageTools.available("mkfs.ext4", "tune2fs", "e2fsck", "debugfs")))
    func ext4NotClean() throws {
        try LoopDevice.with(size: 256 << 20) { loop in
            try loop.format("mkfs.ext4", ["-q", "-O", "metadata_csum,metadata_csum_seed"])
            try HostCommand.succeed("debugfs", ["-w", "-R", "ssv state 0", loop.path])
            let printed = try FilesystemUUIDChanger.setUUID(try FilesystemUUIDChanger.newUUID(for: "ext4"), on: loop.path, type: "ext4")
            #expect(printed.contains("e2fsck -f -p"), "\(printed)")
            try expectClean(loop, ["e2fsck", "-fn"])
        }
    }

    @Test("an ext4 that e2fsck -p will not repair is refused, saying to run e2fsck by hand",
          .enabled(if: StorageTools.available("mkfs.ext4", "tune2fs", "e2fsck", "debugfs")))
    func ext4BeyondPreen() throws {
        try LoopDevice.with(size: 256 << 20) { loop in
            try loop.format("mkfs.ext4", ["-q"])
            try HostCommand.succeed("debugfs", ["-w", "-R", "clri <2>", loop.path])
            try HostCommand.succeed("debugfs", ["-w", "-R", "ssv state 0", loop.path])
            let old = try loop.blkid("UUID")
            let error = try #require(throws: FilesystemUUIDError.self) {
                try FilesystemUUIDChanger.setUUID(try FilesystemUUIDChanger.newUUID(for: "ext4"), on: loop.path, type: "ext4")
            }
            #expect(error.description.hasPrefix("Failed to change the UUID of \(loop.path) (ext4) with e2fsck -f -p: \(loop.path): Root inode is not a directory."), "\(error)")
            #expect(error.description.contains("UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY."), "\(error)")
            #expect(error.description.hasSuffix("(repair it by hand with `e2fsck -f \(loop.path)`, then retry)"), "\(error)")
            #expect(!error.description.contains("\n") && error.toolOutput.contains("\n"))
            #expect(try loop.blkid("UUID") == old)
        }
    }

    @Test("an ext4 with stable_inodes is refused with tune2fs's own reason, in one line",
          .enabled(if: StorageTools.available("mkfs.ext4", "tune2fs", "e2fsck")))
    func ext4StableInodes() throws {
        try LoopDevice.with(size: 256 << 20) { loop in
            try loop.format("mkfs.ext4", ["-q", "-O", "stable_inodes"])
            let error = try #require(throws: FilesystemUUIDError.self) {
                try FilesystemUUIDChanger.setUUID(try FilesystemUUIDChanger.newUUID(for: "ext4"), on: loop.path, type: "ext4")
            }
            #expect(error.description == "Failed to change the UUID of \(loop.path) (ext4) with tune2fs: Cannot change the UUID of this filesystem because it has the stable_inodes feature flag. (its UUID is fixed by the stable_inodes feature (fscrypt): leave this filesystem out)")
        }
    }

    // MARK: xfs, btrfs

    @Test("xfs: META_UUID while changed, gone again with the old UUID",
          .enabled(if: StorageTools.available("mkfs.xfs", "xfs_admin", "xfs_repair", "xfs_db")))
    func xfs() throws {
        try LoopDevice.with { loop in
            try loop.format("mkfs.xfs", ["-q"])
            let features = { try HostCommand.succeed("xfs_db", ["-r", "-c", "version", loop.path]).stdout }
            try expectRoundTrip(loop, type: "xfs", check: ["xfs_repair", "-n"], state: features, whileChanged: {
                #expect(try features().contains("META_UUID"))
                try loop.unmount(loop.mount())
            })
            #expect(try !features().contains("META_UUID"))
        }
    }

    @Test("xfs with a dirty log is refused, saying to mount and unmount it; after that it changes",
          .enabled(if: StorageTools.available("mkfs.xfs", "xfs_admin", "xfs_io", "xfs_repair", "xfs_db")))
    func xfsDirtyLog() throws {
        try LoopDevice.with { loop in
            try loop.format("mkfs.xfs", ["-q"])
            let point = try loop.mount()
            try loop.writeFiles(20, into: point)
            // Flush the log, then shut down: the log holds the changes and no unmount record,
            // so it needs replaying after the unmount.
            try HostCommand.succeed("xfs_io", ["-x", "-c", "shutdown -f", point])
            try loop.unmount(point)
            let old = try #require(try loop.blkid("UUID"))
            let new = try FilesystemUUIDChanger.newUUID(for: "xfs")
            let error = try #require(throws: FilesystemUUIDError.self) {
                try FilesystemUUIDChanger.setUUID(new, on: loop.path, type: "xfs")
            }
            #expect(error.description.hasPrefix("Failed to change the UUID of \(loop.path) (xfs) with xfs_admin: ERROR: The filesystem has valuable metadata changes in a log which needs to be replayed."), "\(error)")
            #expect(error.description.contains("mount and unmount \(loop.path) to replay its log") && error.description.contains("xfs_repair -L"), "\(error)")
            #expect(!error.description.contains("\n"))
            #expect(try loop.blkid("UUID") == old)

            try loop.unmount(loop.mount())
            try FilesystemUUIDChanger.setUUID(new, on: loop.path, type: "xfs")
            #expect(try loop.blkid("UUID") == new)
            try FilesystemUUIDChanger.setUUID(old, on: loop.path, type: "xfs")
            #expect(try loop.blkid("UUID") == old)
            try expectClean(loop, ["xfs_repair", "-n"])
        }
    }

    @Test("btrfs: metadata_uuid while changed; the original fsid back clears the flag",
          .enabled(if: StorageTools.available("mkfs.btrfs", "btrfstune", "btrfs")))
    func btrfs() throws {
        try LoopDevice.with { loop in
            try loop.format("mkfs.btrfs", ["-q"])
            // The fsid, the metadata UUID and whether the METADATA_UUID flag is set. (Not all
            // incompat flags: the kernel adds BIG_METADATA on the mount below.)
            let superblock = {
                let dump = try HostCommand.succeed("btrfs", ["inspect-internal", "dump-super", loop.path]).stdout
                return dump.split(separator: "\n").filter { $0.hasPrefix("metadata_uuid") || $0.hasPrefix("fsid") }
                    .joined(separator: "\n") + "\nMETADATA_UUID flag: \(dump.contains("METADATA_UUID"))"
            }
            try expectRoundTrip(loop, type: "btrfs", check: ["btrfs", "check", "--readonly"], state: superblock, whileChanged: {
                #expect(try HostCommand.succeed("btrfs", ["inspect-internal", "dump-super", loop.path]).stdout.contains("METADATA_UUID"))
                try loop.unmount(loop.mount())
            })
        }
    }

    // MARK: vfat, swap, LUKS

    @Test("vfat: the volume id as XXXX-XXXX", arguments: ["12", "16", "32"])
    func vfat(_ fatSize: String) throws {
        try #require(StorageTools.available("mkfs.vfat", "fatlabel", "fsck.vfat"))
        try LoopDevice.with(size: fatSize == "12" ? 16 << 20 : 256 << 20) { loop in
            try loop.format("mkfs.vfat", ["-F", fatSize])
            try expectRoundTrip(loop, type: "vfat", check: ["fsck.vfat", "-n"])
        }
    }

    @Test("swap", .enabled(if: StorageTools.available("mkswap", "swaplabel")))
    func swap() throws {
        try LoopDevice.with(size: 64 << 20) { loop in
            try loop.format("mkswap")
            try expectRoundTrip(loop, type: "swap", check: nil, state: { try loop.blkid("TYPE") ?? "" })
        }
    }

    @Test("crypto_LUKS: the header's UUID, never opened; the key still unlocks it", arguments: ["luks2", "luks1"])
    func luks(_ version: String) throws {
        try #require(StorageTools.available("cryptsetup"))
        try LoopDevice.with(size: 64 << 20) { loop in
            let key = loop.directory + "/key"
            try Data((0..<32).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: key))
            try HostCommand.succeed("cryptsetup", ["luksFormat", "--type", version, "--pbkdf", "pbkdf2",
                                                   "--pbkdf-force-iterations", "1000", "--batch-mode", loop.path, key])
            try expectRoundTrip(loop, type: "crypto_LUKS", check: ["cryptsetup", "open", "--test-passphrase", "--key-file", key],
                                state: { try loop.blkid("VERSION") ?? "" })
        }
    }

    // MARK: Refusals

    @Test("a mounted ext4 is refused in one line saying where it is mounted, and left as it was",
          .enabled(if: StorageTools.available("mkfs.ext4", "tune2fs")))
    func mountedExt4() throws {
        try LoopDevice.with { loop in
            try loop.format("mkfs.ext4", ["-q"])
            let point = try loop.mount()
            let old = try loop.blkid("UUID")
            let new = try FilesystemUUIDChanger.newUUID(for: "ext4")
            let error = try #require(throws: FilesystemUUIDError.self) {
                try FilesystemUUIDChanger.setUUID(new, on: loop.path, type: "ext4")
            }
            #expect(error.description == "Refusing to change the UUID of \(loop.path) (ext4): it is mounted on \(point) (unmount it, swapoff it or stop what holds it, then retry)")
            #expect(error.device == loop.path)
            #expect(try loop.blkid("UUID") == old)
        }
    }

    @Test("a mount counts through any path to the device: a symlink, and a bind mount left behind",
          .enabled(if: StorageTools.available("mkfs.ext4")))
    func mountThroughOtherPaths() throws {
        try LoopDevice.with { loop in
            try loop.format("mkfs.ext4", ["-q"])
            #expect(try HostDeviceUse.reason(loop.path) == nil)
            let link = loop.directory + "/disk-link"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: loop.path)
            let point = try loop.mount(link)
            #expect(try HostDeviceUse.reason(loop.path) == "mounted on \(point)")
            #expect(try HostDeviceUse.reason(link) == "mounted on \(point)")
            let bind = try loop.mount(point, options: ["--bind"])
            try loop.unmount(point)
            #expect(try HostDeviceUse.reason(loop.path) == "mounted on \(bind)")
            try loop.unmount(bind)
            #expect(try HostDeviceUse.reason(loop.path) == nil)
        }
    }

    @Test("a btrfs mount counts, though mountinfo lists it under an anonymous 0:N device",
          .enabled(if: StorageTools.available("mkfs.btrfs", "btrfstune")))
    func mountedBtrfs() throws {
        try LoopDevice.with { loop in
            try loop.format("mkfs.btrfs", ["-q"])
            let point = try loop.mount()
            #expect(try HostDeviceUse.reason(loop.path) == "mounted on \(point)")
            let error = try #require(throws: FilesystemUUIDError.self) {
                try FilesystemUUIDChanger.setUUID(try FilesystemUUIDChanger.newUUID(for: "btrfs"), on: loop.path, type: "btrfs")
            }
            #expect(error.description.contains("it is mounted on \(point)"), "\(error)")
        }
    }

    @Test("a whole disk is in use while one of its partitions is mounted",
          .enabled(if: StorageTools.available("sfdisk", "partx", "mkfs.ext4")))
    func mountedPartition() throws {
        try LoopDevice.with(size: 128 << 20, partitions: true) { loop in
            let table = try HostCommand.run("sfdisk", ["-q", loop.path], stdin: "label: gpt\n,64M\n,\n")
            #expect(table.exitCode == 0, "\(table)")
            // Add the partitions with BLKPG: the kernel's own re-read after sfdisk does not
            // always create the nodes in a container.
            _ = try HostCommand.run("partx", ["-a", loop.path])
            let partition = loop.path + "p1"
            try #require(FileManager.default.fileExists(atPath: partition), "the kernel made no \(partition)")
            try HostCommand.succeed("mkfs.ext4", ["-q", partition])
            let identity = try #require(try BlockDeviceIdentity.probe(partition))
            #expect(identity.type == "ext4" && identity.uuid != nil && identity.partUUID != nil, "\(identity)")
            let point = try loop.mount(partition)
            let name = String(partition.dropFirst("/dev/".count))
            #expect(try HostDeviceUse.reason(loop.path) == "in use through its partition \(name), which is mounted on \(point)")
            #expect(try HostDeviceUse.reason(partition) == "mounted on \(point)")
            #expect(try HostDeviceUse.reason(loop.path + "p2") == nil)
            try loop.unmount(point)
            #expect(try HostDeviceUse.reason(loop.path) == nil)
        }
    }

    @Test("a squashfs is refused as a type without a UUID tool", .enabled(if: StorageTools.available("mksquashfs")))
    func squashfs() throws {
        try LoopDevice.with(prepare: { image in
            let source = (image as NSString).deletingLastPathComponent + "/content"
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: false)
            try Data("hello\n".utf8).write(to: URL(fileURLWithPath: source + "/hello"))
            try HostCommand.succeed("mksquashfs", [source, image, "-noappend", "-no-progress"])
        }) { loop in
            let identity = try #require(try BlockDeviceIdentity.probe(loop.path))
            #expect(identity.type == "squashfs")
            let error = try #require(throws: InputError.self) {
                try FilesystemUUIDChanger.setUUID("0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b", on: loop.path, type: identity.type)
            }
            #expect(error.description == "Cannot change the UUID of a squashfs filesystem on \(loop.path): only ext2, ext3, ext4, xfs, btrfs, vfat, swap, crypto_LUKS are supported (leave this device out)")
        }
    }

    @Test("an empty device has no identity, and is refused whatever type is claimed for it")
    func emptyDevice() throws {
        try LoopDevice.with(size: 16 << 20) { loop in
            #expect(try BlockDeviceIdentity.probe(loop.path) == nil)
            #expect(try !FilesystemUUIDChanger.has("0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b", device: loop.path))
            let untyped = try #require(throws: InputError.self) {
                try FilesystemUUIDChanger.setUUID("0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b", on: loop.path, type: "")
            }
            #expect(untyped.description.hasPrefix("Cannot change the UUID of a device without a filesystem signature on \(loop.path)"), "\(untyped)")
            let claimed = try #require(throws: InputError.self) {
                try FilesystemUUIDChanger.setUUID("0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b", on: loop.path, type: "ext4")
            }
            #expect(claimed.description.contains("carries no filesystem signature"), "\(claimed)")
        }
    }

    @Test("a device holding another type than the caller says is refused", .enabled(if: StorageTools.available("mkswap")))
    func typeMismatch() throws {
        try LoopDevice.with(size: 16 << 20) { loop in
            try loop.format("mkswap")
            let error = try #require(throws: InputError.self) {
                try FilesystemUUIDChanger.setUUID("0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b", on: loop.path, type: "ext4")
            }
            #expect(error.description == "\(loop.path) holds swap, not ext4: probe it again before changing its UUID")
        }
    }
}

// MARK: - Helpers

/// Probes, sets a new UUID and checks it is there and the filesystem checks clean, runs
/// `whileChanged`, then sets the old UUID back and checks blkid shows it exactly, the filesystem
/// still checks clean, and `state` (features, flags) is as it was. Returns what the first change printed.
@discardableResult
private func expectRoundTrip(_ loop: LoopDevice, type: String, check: [String]?,
                             state: (() throws -> String)? = nil,
                             whileChanged: (() throws -> Void)? = nil,
                             sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let before = try #require(try BlockDeviceIdentity.probe(loop.path), sourceLocation: sourceLocation)
    #expect(before.type == type, sourceLocation: sourceLocation)
    let old = try #require(before.uuid, sourceLocation: sourceLocation)
    #expect(try loop.blkid("UUID") == old, sourceLocation: sourceLocation)
    let stateBefore = try state?()

    let new = try FilesystemUUIDChanger.newUUID(for: type)
    let printed = try FilesystemUUIDChanger.setUUID(new, on: loop.path, type: type)
    #expect(try loop.blkid("UUID") == new, sourceLocation: sourceLocation)
    #expect(try FilesystemUUIDChanger.has(new, device: loop.path), sourceLocation: sourceLocation)
    #expect(try !FilesystemUUIDChanger.has(old, device: loop.path), sourceLocation: sourceLocation)
    if let check { try expectClean(loop, check, sourceLocation: sourceLocation) }
    try whileChanged?()

    try FilesystemUUIDChanger.setUUID(old, on: loop.path, type: type)
    #expect(try loop.blkid("UUID") == old, sourceLocation: sourceLocation)
    #expect(try FilesystemUUIDChanger.has(old, device: loop.path), sourceLocation: sourceLocation)
    if let check { try expectClean(loop, check, sourceLocation: sourceLocation) }
    #expect(try state?() == stateBefore, sourceLocation: sourceLocation)
    // Undoing twice is harmless: nothing runs when the UUID is already there.
    #expect(try FilesystemUUIDChanger.setUUID(old, on: loop.path, type: type) == "", sourceLocation: sourceLocation)
    return printed
}

/// Runs a read-only checker (`e2fsck -fn`, `xfs_repair -n`…) on the device; it must exit 0.
private func expectClean(_ loop: LoopDevice, _ check: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let result = try HostCommand.run(check[0], Array(check.dropFirst()) + [loop.path])
    #expect(result.exitCode == 0, "\(result)", sourceLocation: sourceLocation)
}

/// The "Filesystem features:" line of `dumpe2fs -h`.
private func extFeatures(_ loop: LoopDevice) throws -> String {
    let header = try HostCommand.succeed("dumpe2fs", ["-h", loop.path]).stdout
    return header.split(separator: "\n").first { $0.hasPrefix("Filesystem features:") }.map(String.init) ?? ""
}
