import Foundation
@testable import SanitizeCloneKit
import Testing

/// `run --image` attaches a raw disk image's partitions to loop devices (this kernel parses no
/// partition table: the table is read in userspace) and mounts the guest's root where the host
/// does not see it. `.serialized`: loop devices, the cleanup registry and the syscall failure
/// injection are process-global. Every test removes its images and any loop device or mount still
/// backed by them, even when it fails.
@Suite("attaching a disk image and mounting its root privately", .serialized, .requiresRoot,
       .enabled(if: ["sfdisk", "losetup", "blkid", "mkfs.ext4", "partx"].allSatisfy(HostCommand.isAvailable),
                "needs sfdisk, losetup, blkid, partx (apt-get install fdisk mount util-linux) and mkfs.ext4 (e2fsprogs)"))
struct DiskImageTests {
    @Test("each GPT partition is attached at its offset and size, with sfdisk's type and blkid's PARTUUID")
    func gptPartitions() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = try images.gptImage()

        let attached = try AttachedDiskImage(image: image)
        defer { attached.detach() }
        let table = try #require(try JSONValue(parsing: HostCommand.succeed("sfdisk", ["--json", image]).stdout)["partitiontable"])
        let listed = try #require(table["partitions"]?.array)
        try #require(attached.partitions.count == 2)
        for (partition, entry) in zip(attached.partitions, listed) {
            #expect(partition.offset == UInt64(try #require(entry["start"]?.int)) * 512)
            #expect(partition.size == UInt64(try #require(entry["size"]?.int)) * 512)
            #expect(partition.typeCode == entry["type"]?.string)
            #expect(partition.typeCode == "0FC63DAF-8483-4772-8E79-3D69D8477DE4")
            #expect(partition.partUUID == entry["uuid"]?.string?.lowercased())
            try expectLoop(partition.device, shows: image, offset: partition.offset, size: partition.size)
        }
        #expect(attached.partitions.map(\.number) == [1, 2])
        #expect(attached.partitions.map(\.partUUID) == (try partxUUIDs(image)))
        #expect(try blkid(attached.partitions[0].device, "UUID") == ImageDirectory.bootUUID)
        #expect(try blkid(attached.partitions[1].device, "UUID") == ImageDirectory.rootUUID)
        #expect(attached.partition(partUUID: attached.partitions[1].partUUID!.uppercased()) == attached.partitions[1])
    }

    @Test("MBR partitions get the disk identifier and the number in hex as PARTUUID, and type 83")
    func mbrPartitions() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = try images.mbrImage()

        let attached = try AttachedDiskImage(image: image)
        defer { attached.detach() }
        #expect(attached.partitions.map(\.number) == [1, 2])
        #expect(attached.partitions.map(\.offset) == [1 << 20, 17 << 20])
        #expect(attached.partitions.map(\.typeCode) == ["83", "83"])
        #expect(attached.partitions.map(\.partUUID) == ["5eed1e55-01", "5eed1e55-02"])
        #expect(attached.partitions.map(\.partUUID) == (try partxUUIDs(image)))
        for partition in attached.partitions {
            try expectLoop(partition.device, shows: image, offset: partition.offset, size: partition.size)
        }
        #expect(try blkid(attached.partitions[1].device, "UUID") == ImageDirectory.rootUUID)
    }

    @Test("an image without a partition table is one filesystem, attached whole")
    func bareFilesystem() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = try images.bareImage()

        let attached = try AttachedDiskImage(image: image)
        defer { attached.detach() }
        let whole = try #require(attached.partitions.first)
        #expect(attached.partitions.count == 1)
        #expect(whole.number == nil && whole.typeCode == nil && whole.partUUID == nil)
        #expect(whole.offset == 0 && whole.size == 32 << 20)
        #expect(try blkid(whole.device, "UUID") == ImageDirectory.rootUUID)
    }

    @Test("the root is mounted on a new directory under /run/sanitize-clone, /boot below it, and both go away")
    func mountRootAndBoot() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let attached = try AttachedDiskImage(image: try images.gptImage())
        defer { attached.detach() }

        let root = try PrivateMount(device: attached.partitions[1].device)
        #expect(root.path.hasPrefix("/run/sanitize-clone/mnt-\(getpid())-"))
        #expect(root.filesystemType == "ext4")
        #expect(try String(contentsOfFile: root.path + "/etc/hostname", encoding: .utf8) == "template\n")
        try root.mount(device: attached.partitions[0].device, at: "/boot")
        #expect(try String(contentsOfFile: root.path + "/boot/vmlinuz", encoding: .utf8) == "kernel\n")
        #expect(mountPoints(under: root.path) == [root.path, root.path + "/boot"])

        try root.unmount()
        try root.unmount()
        #expect(mountPoints(under: ourMountPoints).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root.path))
        attached.detach()
        attached.detach()
        #expect(try devicesBacked(by: attached.image).isEmpty)
    }

    @Test("a busy filesystem is not cut off: unmount names who to ask, and succeeds once it is free")
    func busyUnmount() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let attached = try AttachedDiskImage(image: try images.gptImage())
        defer { attached.detach() }
        let root = try PrivateMount(device: attached.partitions[1].device)
        let file = open(root.path + "/etc/hostname", O_RDONLY | O_CLOEXEC)
        try #require(file >= 0)

        let error = try #require(throws: InputError.self) { try root.unmount() }
        #expect(error.description.contains("fuser -vm \(root.path)"), "\(error)")
        #expect(mountPoints(under: root.path) == [root.path])
        close(file)
        try root.unmount()
        #expect(mountPoints(under: ourMountPoints).isEmpty)
    }

    @Test("a guest's absolute /boot symlink leads inside its root, never to the host's directory")
    func bootSymlinkStaysInside() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let hostDirectory = images.path + "/host-only"
        try FileManager.default.createDirectory(atPath: hostDirectory, withIntermediateDirectories: true)
        let image = try images.gptImage(rootSymlinks: ["boot": hostDirectory, "efi": "/../../realefi"], rootDirectories: ["realefi"])
        let attached = try AttachedDiskImage(image: image)
        defer { attached.detach() }
        let root = try PrivateMount(device: attached.partitions[1].device)
        defer { try? root.unmount() }

        let error = try #require(throws: InputError.self) { try root.mount(device: attached.partitions[0].device, at: "/boot") }
        #expect(error.description.contains("/boot") && !error.description.contains("\n"), "\(error)")
        #expect(mountPoints(under: hostDirectory).isEmpty)

        try root.mount(device: attached.partitions[0].device, at: "/efi")
        #expect(mountPoints(under: root.path) == [root.path, root.path + "/realefi"])
    }

    @Test("a read-only attachment gives read-only devices and a read-only mount")
    func readOnly() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = try images.gptImage()
        let before = try HostCommand.sha256sum(image)
        let attached = try AttachedDiskImage(image: image, readOnly: true)
        defer { attached.detach() }
        for partition in attached.partitions {
            let name = partition.device.replacingOccurrences(of: "/dev/", with: "")
            #expect(try String(contentsOfFile: "/sys/block/\(name)/ro", encoding: .utf8) == "1\n")
        }
        let root = try PrivateMount(device: attached.partitions[1].device, readOnly: true)
        #expect(!FileManager.default.createFile(atPath: root.path + "/etc/new", contents: Data()))
        try root.unmount()
        attached.detach()
        #expect(try HostCommand.sha256sum(image) == before)
    }

    @Test("an image a loop device already shows is refused, naming the device and how to release it")
    func alreadyAttached() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = try images.gptImage()
        let other = try HostCommand.succeed("losetup", ["--find", "--show", "--read-only", image]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let error = try #require(throws: InputError.self) { try AttachedDiskImage(image: image) }
        #expect(error.description.contains("already attached to \(other)") && error.description.contains("losetup -d \(other)"), "\(error)")
        #expect(!error.description.contains("\n"))
        #expect(try devicesBacked(by: image) == [other])
    }

    @Test("an image a running VM holds is refused read-write, and may still be looked at read-only")
    func lockedByVM() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = try images.gptImage()
        // qemu holds shared fcntl locks on bytes of its images; one taken here conflicts the same way.
        let vm = open(image, O_RDONLY | O_CLOEXEC)
        try #require(vm >= 0)
        defer { close(vm) }
        try #require(try setLock(vm, F_RDLCK, start: 100, length: 1))

        let error = try #require(throws: InputError.self) { try AttachedDiskImage(image: image) }
        #expect(error.description.contains("locked") && error.description.contains("shut the VM down"), "\(error)")
        #expect(try devicesBacked(by: image).isEmpty)
        let attached = try AttachedDiskImage(image: image, readOnly: true)
        #expect(attached.partitions.count == 2)
        attached.detach()
    }

    @Test("while attached read-write the image is locked as qemu checks, so no VM starts on it; the lock ends with the last device")
    func imageLockedWhileAttached() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = try images.gptImage()
        let attached = try AttachedDiskImage(image: image)
        let root = try PrivateMount(device: attached.partitions[1].device)
        let vm = open(image, O_RDWR | O_CLOEXEC)
        try #require(vm >= 0)
        defer { close(vm) }

        #expect(try !setLock(vm, F_RDLCK, start: 100, length: 1))
        attached.detach()
        #expect(try !setLock(vm, F_RDLCK, start: 100, length: 1), "a device still mounted keeps the lock")
        try root.unmount()
        #expect(try devicesBacked(by: image).isEmpty)
        #expect(try setLock(vm, F_RDLCK, start: 100, length: 1))
    }

    @Test("a qcow2 image is refused in one line that says to convert it with qemu-img")
    func qcow2Refused() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = images.path + "/template.qcow2"
        var header = Data([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3])
        header.append(Data(count: 1 << 20))
        try header.write(to: URL(fileURLWithPath: image))

        let error = try #require(throws: InputError.self) { try AttachedDiskImage(image: image) }
        #expect(error.description == "\(image) is a qcow2 image, not a raw disk (convert it first: qemu-img convert -O raw \(image) \(images.path)/template.raw, then pass the .raw file)")
        #expect(try devicesBacked(by: image).isEmpty)
    }

    @Test("a truncated copy is refused: an MBR partition past the end, a GPT that no longer fits",
          arguments: ["mbr", "gpt"])
    func truncatedRefused(_ label: String) throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = label == "mbr" ? try images.mbrImage() : try images.gptImage()
        try HostCommand.succeed("truncate", ["-s", "40M", image])

        let error = try #require(throws: InputError.self) { try AttachedDiskImage(image: image) }
        #expect(error.description.contains("truncated") && !error.description.contains("\n"), "\(error)")
        if label == "mbr" {
            #expect(error.description.contains("partition 2 ends at byte \(64 << 20) but the image has \(40 << 20) bytes"), "\(error)")
        }
        #expect(try devicesBacked(by: image).isEmpty)
    }

    @Test("a path that is missing, a directory or empty is refused with what to give instead")
    func notAnImage() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let empty = images.path + "/empty.raw"
        try #require(FileManager.default.createFile(atPath: empty, contents: Data()))
        let cases = [
            (images.path + "/missing.raw", "does not exist"),
            (images.path, "is not a regular file"),
            (empty, "is empty"),
        ]
        for (path, reason) in cases {
            let error = try #require(throws: InputError.self) { try AttachedDiskImage(image: path) }
            #expect(error.description.hasPrefix("\(path) \(reason)"), "\(error)")
        }
    }

    @Test("an attach that fails midway detaches the partitions it had attached")
    func failedAttachRollsBack() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = try images.gptImage()

        Syscall.injectFailure(.ioctl, onCall: 2, errno: EBUSY)
        defer { Syscall.clearInjectedFailure(.ioctl) }
        let error = try #require(throws: SystemError.self) { try AttachedDiskImage(image: image) }
        #expect(error.code == EBUSY && error.description.contains(image), "\(error)")
        #expect(try devicesBacked(by: image).isEmpty)
    }

    @Test("the signal-time cleanup unmounts and detaches everything registered, and later detach and unmount stay harmless")
    func cleanupRegistry() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let attached = try AttachedDiskImage(image: try images.gptImage())
        let root = try PrivateMount(device: attached.partitions[1].device)
        try root.mount(device: attached.partitions[0].device, at: "/boot")
        try #require(try devicesBacked(by: attached.image).count == 2)

        DeviceCleanup.releaseAll()
        #expect(mountPoints(under: ourMountPoints).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root.path))
        #expect(try devicesBacked(by: attached.image).isEmpty)
        try root.unmount()
        attached.detach()
    }

    @Test("SIGTERM to a process holding an attachment and a mount leaves neither behind")
    func sigtermCleansUp() throws {
        let images = try ImageDirectory()
        defer { images.remove() }
        let image = try images.gptImage()
        let ready = images.path + "/ready"

        // The child is this test binary running only `holdUntilKilled`.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["--testing-library", "swift-testing", "--filter", "holdUntilKilled"]
        child.environment = ProcessInfo.processInfo.environment.merging(
            [Self.holdImageVariable: image, Self.readyVariable: ready]) { $1 }
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() } }

        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: ready) && child.isRunning && Date() < deadline { usleep(50_000) }
        let mountPoint = try #require(try? String(contentsOfFile: ready, encoding: .utf8), "the child never attached the image")
        #expect(mountPoints(under: mountPoint) == [mountPoint, mountPoint + "/boot"])
        #expect(try devicesBacked(by: image).count == 2)

        kill(child.processIdentifier, SIGTERM)
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal && child.terminationStatus == SIGTERM)
        #expect(mountPoints(under: mountPoint).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: mountPoint))
        #expect(try devicesBacked(by: image).isEmpty)
    }

    static let holdImageVariable = "SANITIZE_CLONE_TEST_HOLD_IMAGE"
    static let readyVariable = "SANITIZE_CLONE_TEST_READY"

    @Test("(the child of the SIGTERM test: attaches, mounts, then waits to be killed)",
          .enabled(if: ProcessInfo.processInfo.environment[holdImageVariable] != nil, "runs only as the SIGTERM test's child"))
    func holdUntilKilled() throws {
        let environment = ProcessInfo.processInfo.environment
        let attached = try AttachedDiskImage(image: try #require(environment[Self.holdImageVariable]))
        let root = try PrivateMount(device: attached.partitions[1].device)
        try root.mount(device: attached.partitions[0].device, at: "/boot")
        try root.path.write(toFile: try #require(environment[Self.readyVariable]), atomically: true, encoding: .utf8)
        sleep(120)
        withExtendedLifetime((attached, root)) {}
    }
}

/// How sfdisk's JSON becomes the partitions to attach, without any device (no root needed).
@Suite("reading sfdisk's partition table")
struct DiskImagePartitionTableTests {
    /// What `sfdisk --json` prints for an MBR disk with three primaries, an extended partition and
    /// two logical ones, preceded by a warning on the merged standard error.
    static let logicalPartitions = """
        GPT PMBR size mismatch (131071 != 81919) will be corrected by write.
        {
           "partitiontable": {
              "label": "dos",
              "id": "0x000012ab",
              "device": "disk1",
              "unit": "sectors",
              "sectorsize": 512,
              "partitions": [
                 {"node": "disk1p1", "start": 2048, "size": 16384, "type": "83"},
                 {"node": "disk1p2", "start": 18432, "size": 16384, "type": "83"},
                 {"node": "disk1p3", "start": 34816, "size": 16384, "type": "83", "bootable": true},
                 {"node": "disk1p4", "start": 51200, "size": 79872, "type": "5"},
                 {"node": "disk1p5", "start": 53248, "size": 20480, "type": "83"},
                 {"node": "disk1p6", "start": 75776, "size": 55296, "type": "8e"}
              ]
           }
        }
        """

    private func table(_ output: String) throws -> PartitionLayout.Dump.Table {
        try JSONDecoder().decode(PartitionLayout.Dump.self, from: Data(PartitionLayout.jsonDocument(in: output).utf8)).partitiontable
    }

    @Test("logical partitions keep their numbers (5, 6) and PARTUUIDs; the extended container is skipped")
    func logicalPartitions() throws {
        let entries = try PartitionLayout.entries(of: table(Self.logicalPartitions), image: "disk1", size: 64 << 20)
        #expect(entries.map(\.number) == [1, 2, 3, 5, 6])
        #expect(entries.map(\.partUUID) == ["000012ab-01", "000012ab-02", "000012ab-03", "000012ab-05", "000012ab-06"])
        #expect(entries.map(\.typeCode) == ["83", "83", "83", "83", "8e"])
        #expect(entries.last == PartitionLayout.Entry(number: 6, offset: 75776 * 512, size: 55296 * 512, typeCode: "8e", partUUID: "000012ab-06"))
    }

    @Test("the partition number is written in hex in an MBR PARTUUID, as blkid and the kernel write it")
    func hexNumber() {
        #expect(PartitionLayout.partUUID(label: "dos", diskID: "0xC3CEBE12", number: 10, uuid: nil) == "c3cebe12-0a")
        #expect(PartitionLayout.partUUID(label: "dos", diskID: "0x00000000", number: 1, uuid: nil) == nil)
        #expect(PartitionLayout.partUUID(label: "gpt", diskID: "4C6785EF-FE50-104C-B6FE-6D5CEF74507D", number: 1,
                                         uuid: "6A913004-0A9C-8341-BCE2-952858975412") == "6a913004-0a9c-8341-bce2-952858975412")
    }

    @Test("a protective MBR without its GPT, and sectors beyond 64-bit bytes, are refused in one line")
    func refusedTables() throws {
        let protective = """
            {"partitiontable": {"label": "dos", "id": "0x00000000", "device": "gpt.raw", "unit": "sectors", "sectorsize": 512,
             "partitions": [{"node": "gpt.raw1", "start": 1, "size": 81919, "type": "ee"}]}}
            """
        let error = try #require(throws: InputError.self) { try PartitionLayout.entries(of: table(protective), image: "gpt.raw", size: 40 << 20) }
        #expect(error.description.hasPrefix("gpt.raw has a GPT that sfdisk cannot read") && error.description.contains("truncated"))

        let hostile = """
            {"partitiontable": {"label": "gpt", "device": "x.raw", "sectorsize": 512,
             "partitions": [{"node": "x.raw1", "start": 18014398509481984, "size": 2048, "type": "L"}]}}
            """
        let overflow = try #require(throws: InputError.self) { try PartitionLayout.entries(of: table(hostile), image: "x.raw", size: 1 << 30) }
        #expect(overflow.description.contains("partition 1") && !overflow.description.contains("\n"))
    }

    @Test("qemu's other formats are told from raw by their first bytes", arguments: [
        ([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3], "qcow2"), (Array("KDMV".utf8), "vmdk"), (Array("vhdxfile".utf8), "vhdx"),
        (Array("conectix".utf8), "vpc (VHD)"), (Array("QED\0".utf8), "qed"),
    ] as [([UInt8], String)])
    func formats(_ magic: [UInt8], _ name: String) {
        #expect(DiskImageFormat.nonRaw(header: magic + [UInt8](repeating: 0, count: 504)) == name)
        #expect(DiskImageFormat.nonRaw(header: [UInt8](repeating: 0, count: 512)) == nil)
    }
}

// MARK: - Helpers

/// A scratch directory of disk images built with truncate, sfdisk and mkfs.ext4 (its `-E offset`
/// writes a filesystem into a partition without a loop device of the test's own).
private struct ImageDirectory {
    static let bootUUID = "0b0b0b0b-1111-4222-8333-444455556666"
    static let rootUUID = "7007a1a1-1111-4222-8333-444455556666"

    let path: String

    init() throws { path = try Scratch.makeDirectory(prefix: "disk-image") }

    /// A 64 MiB GPT image: a 16 MiB ext4 /boot at 1 MiB, an ext4 root in the rest.
    func gptImage(rootSymlinks: [String: String] = [:], rootDirectories: [String] = []) throws -> String {
        let image = try partitioned("gpt.raw", table: "label: gpt\nsize=16MiB, type=L, name=boot\ntype=L, name=root\n")
        try makeExt4(in: image, partition: 1, uuid: Self.bootUUID, files: ["vmlinuz": "kernel\n"])
        try makeExt4(in: image, partition: 2, uuid: Self.rootUUID, files: ["etc/hostname": "template\n"],
                     directories: (["boot"] + rootDirectories).filter { rootSymlinks[$0] == nil }, symlinks: rootSymlinks)
        return image
    }

    /// A 64 MiB MBR image with disk identifier 0x5eed1e55: 16 MiB at 1 MiB, the rest at 17 MiB.
    func mbrImage() throws -> String {
        let image = try partitioned("mbr.raw", table: "label: dos\nlabel-id: 0x5eed1e55\nsize=16MiB, type=83\ntype=83\n")
        try makeExt4(in: image, partition: 1, uuid: Self.bootUUID, files: ["vmlinuz": "kernel\n"])
        try makeExt4(in: image, partition: 2, uuid: Self.rootUUID, files: ["etc/hostname": "template\n"])
        return image
    }

    /// A 32 MiB ext4 filesystem with no partition table.
    func bareImage() throws -> String {
        let image = path + "/bare.raw"
        try HostCommand.succeed("truncate", ["-s", "32M", image])
        try HostCommand.succeed("mkfs.ext4", ["-q", "-F", "-U", Self.rootUUID, image])
        return image
    }

    private func partitioned(_ name: String, table: String) throws -> String {
        let image = path + "/" + name
        try HostCommand.succeed("truncate", ["-s", "64M", image])
        let result = try HostCommand.run("sfdisk", ["-q", image], stdin: table)
        guard result.exitCode == 0 else { throw FixtureError("sfdisk failed: \(result)") }
        return image
    }

    /// Writes an ext4 filesystem holding `files` into partition `number` of `image`.
    private func makeExt4(in image: String, partition number: Int, uuid: String, files: [String: String],
                          directories: [String] = [], symlinks: [String: String] = [:]) throws {
        let table = try JSONValue(parsing: HostCommand.succeed("sfdisk", ["--json", image]).stdout)
        let entry = try #require(table["partitiontable"]?["partitions"]?[number - 1])
        let start = try #require(entry["start"]?.int), sectors = try #require(entry["size"]?.int)
        let contents = path + "/contents-\(number)"
        try? FileManager.default.removeItem(atPath: contents)
        for directory in directories {
            try FileManager.default.createDirectory(atPath: contents + "/" + directory, withIntermediateDirectories: true)
        }
        for (file, text) in files {
            let url = URL(fileURLWithPath: contents + "/" + file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: false, encoding: .utf8)
        }
        for (link, target) in symlinks {
            try FileManager.default.createSymbolicLink(atPath: contents + "/" + link, withDestinationPath: target)
        }
        try HostCommand.succeed("mkfs.ext4", ["-q", "-F", "-U", uuid, "-E", "offset=\(start * 512)", "-d", contents,
                                              image, "\(sectors / 2)k"])
    }

    /// Removes the images, after unmounting and detaching whatever a failed test left backed by them.
    func remove() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names {
            for device in (try? devicesBacked(by: path + "/" + name)) ?? [] {
                for mountPoint in mountPoints(from: device) { _ = try? HostCommand.run("umount", ["-l", mountPoint]) }
                _ = try? HostCommand.run("losetup", ["-d", device])
            }
        }
        for mountPoint in mountPoints(under: ourMountPoints).reversed() {
            _ = try? HostCommand.run("umount", ["-l", mountPoint])
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The prefix of the mount points this process makes.
private let ourMountPoints = PrivateMount.parentDirectory + "/mnt-\(getpid())-"

/// The loop devices `losetup -j` lists for `image`.
private func devicesBacked(by image: String) throws -> [String] {
    try HostCommand.succeed("losetup", ["-j", image]).stdout.split(separator: "\n").compactMap { line in
        line.split(separator: ":").first.map(String.init)
    }
}

/// The mount points of this process's namespace at or below `prefix`, in mount order.
private func mountPoints(under prefix: String) -> [String] {
    mountTable().filter { $0.mountPoint.hasPrefix(prefix) }.map(\.mountPoint)
}

/// Where `device` is mounted.
private func mountPoints(from device: String) -> [String] {
    mountTable().filter { $0.source == device }.map(\.mountPoint)
}

private func mountTable() -> [(mountPoint: String, source: String)] {
    let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ").map(String.init)
        guard let separator = fields.firstIndex(of: "-"), separator + 2 < fields.count else { return nil }
        return (fields[4].replacingOccurrences(of: "\\040", with: " "), fields[separator + 2])
    }
}

/// Takes an OFD lock (as qemu does) on `length` bytes from `start`; false when another holder's conflicts.
private func setLock(_ fd: Int32, _ type: Int32, start: Int, length: Int) throws -> Bool {
    var lock = flock()
    lock.l_type = Int16(type)
    lock.l_whence = Int16(SEEK_SET)
    lock.l_start = start
    lock.l_len = length
    let setOpenFileDescriptionLock: Int32 = 37  // F_OFD_SETLK, hidden from Swift without _GNU_SOURCE
    if fcntl(fd, setOpenFileDescriptionLock, &lock) == 0 { return true }
    guard errno == EAGAIN || errno == EACCES else { throw FixtureError("fcntl(F_OFD_SETLK): \(String(cString: strerror(errno)))") }
    return false
}

/// blkid's low-level probe of one value on `device`.
private func blkid(_ device: String, _ tag: String) throws -> String {
    try HostCommand.succeed("blkid", ["-p", "-s", tag, "-o", "value", device]).stdout
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The PARTUUIDs libblkid gives the partitions of `image` (what blkid shows for /dev/sdXN).
private func partxUUIDs(_ image: String) throws -> [String?] {
    try HostCommand.succeed("partx", ["-g", "-o", "UUID", image]).stdout.split(separator: "\n").map {
        let value = $0.trimmingCharacters(in: .whitespaces)
        return value.isEmpty ? nil : value
    }
}

/// Checks with losetup that `device` shows `size` bytes of `image` from `offset`.
private func expectLoop(_ device: String, shows image: String, offset: UInt64, size: UInt64,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
    let row = try HostCommand.succeed("losetup", ["-n", "-O", "OFFSET,SIZELIMIT,BACK-FILE", device]).stdout
        .split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    #expect(row == [String(offset), String(size), image + "\n"] || row == [String(offset), String(size), image],
            "\(device): \(row)", sourceLocation: sourceLocation)
}
