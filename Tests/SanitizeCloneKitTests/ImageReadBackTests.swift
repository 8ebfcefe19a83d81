import Foundation
import SanitizeCloneKit
import Testing

/// `run --image` counts a new identity only once the image file holds it (issue 12: the ESP's new
/// serial stayed in a loop device's page cache and was dropped at detach, while fstab named it).
/// Every result is read from the image file through a fresh read-only attachment the test makes,
/// never through a device the run used.
@Suite("Image changes read back from the image file", .requiresRoot, .serialized,
       .enabled(if: StorageTools.available("sfdisk", "mkfs.vfat", "mkswap", "mkfs.ext4", "fatlabel", "blockdev")))
struct ImageReadBackTests {
    /// One partition of the test's image: where it lies, what is on it, where the fstab mounts it.
    struct Part {
        let name: String
        let type: String
        let sizeMiB: Int
        var offset = 0, size = 0
        var uuid = ""
    }

    /// A GPT image: an ESP (vfat, serial ABCD-1234) on /boot/efi, swap, an ext4 root (the fixture
    /// template), and with `allTypes` an ext4 /boot, ext4 /home, XFS /srv, btrfs /data and a LUKS
    /// volume in crypttab. The fstab and crypttab name each by UUID.
    struct Image {
        let directory: String
        let path: String
        var parts: [Part]

        func part(_ name: String) -> Part { parts.first { $0.name == name }! }

        /// blkid -p's UUID of a partition, through a read-only loop device the test attaches
        /// now at the partition's offset and detaches again.
        func uuidReadBack(_ name: String) throws -> String {
            try withPartition(name) { device in
                try HostCommand.succeed("blkid", ["-p", "-s", "UUID", "-o", "value", device]).stdout
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }

        /// A file of the root filesystem, read through a read-only mount of a fresh attachment.
        func rootFile(_ inside: String) throws -> String? {
            try withPartition("root") { device in
                let point = directory + "/look"
                try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
                try HostCommand.succeed("mount", ["-o", "ro", device, point])
                defer { _ = try? HostCommand.run("umount", [point]) }
                return try? String(contentsOfFile: point + inside, encoding: .utf8)
            }
        }

        func withPartition<T>(_ name: String, readOnly: Bool = true, _ body: (String) throws -> T) throws -> T {
            let part = part(name)
            let device = try HostCommand.succeed("losetup", ["--find", "--show"] + (readOnly ? ["--read-only"] : [])
                                                 + ["--offset", String(part.offset), "--sizelimit", String(part.size), path])
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            defer {
                // Flushed and dropped before the detach: what the test wrote must reach the file.
                _ = try? HostCommand.run("blockdev", ["--flushbufs", device])
                _ = try? HostCommand.run("losetup", ["-d", device])
                // Another process probing every device (another suite's blkid) may hold it a
                // moment longer; the next run would find the image attached.
                _ = try? attachmentsAfterTeardown()
            }
            return try body(device)
        }

        /// Loop devices backed by the image, once the run's are gone (waits up to 10 s).
        func attachmentsAfterTeardown() throws -> String { try LoopDevice.attachments(backedBy: path) }

        var fstab: String {
            let line = { (name: String, point: String, type: String, options: String) in
                "UUID=\(part(name).uuid) \(point) \(type) \(options)\n"
            }
            var text = line("root", "/", "ext4", "errors=remount-ro 0 1")
            if parts.contains(where: { $0.name == "boot" }) { text += line("boot", "/boot", "ext4", "defaults 0 2") }
            text += line("esp", "/boot/efi", "vfat", "umask=0077 0 1") + line("swap", "none", "swap", "sw 0 0")
            for (name, point, type) in [("home", "/home", "ext4"), ("srv", "/srv", "xfs"), ("data", "/data", "btrfs")]
            where parts.contains(where: { $0.name == name }) {
                text += line(name, point, type, "defaults 0 2")
            }
            return text
        }

        var crypttab: String? {
            parts.contains { $0.name == "luks" } ? "secret UUID=\(part("luks").uuid) none luks\n" : nil
        }
    }

    static let espSerial = "ABCD-1234"

    static func makeImage(allTypes: Bool) throws -> Image {
        var parts = [Part(name: "esp", type: "vfat", sizeMiB: 33), Part(name: "swap", type: "swap", sizeMiB: 16)]
        if allTypes { parts.append(Part(name: "boot", type: "ext4", sizeMiB: 24)) }
        parts.append(Part(name: "root", type: "ext4", sizeMiB: 48))
        if allTypes {
            parts += [Part(name: "home", type: "ext4", sizeMiB: 16), Part(name: "srv", type: "xfs", sizeMiB: 300),
                      Part(name: "data", type: "btrfs", sizeMiB: 128), Part(name: "luks", type: "crypto_LUKS", sizeMiB: 32)]
        }
        for index in parts.indices { parts[index].uuid = index == 0 ? espSerial : UUID().uuidString.lowercased() }

        let directory = try Scratch.makeDirectory(prefix: "readback")
        let path = directory + "/disk.raw"
        try HostCommand.succeed("truncate", ["-s", "\(parts.reduce(2) { $0 + $1.sizeMiB })M", path])
        try HostCommand.succeed("sfdisk", ["-q", path], stdin: "label: gpt\n" + parts.map { ",\($0.sizeMiB)M,L\n" }.joined())
        let table = try HostCommand.succeed("sfdisk", ["--json", path]).json
        let entries = table?["partitiontable"]?["partitions"]?.array ?? []
        try #require(entries.count == parts.count, "\(String(describing: table))")
        for (index, entry) in entries.enumerated() {
            parts[index].offset = (entry["start"]?.int ?? 0) * 512
            parts[index].size = (entry["size"]?.int ?? 0) * 512
        }
        var image = Image(directory: directory, path: path, parts: parts)

        let template = try FixtureRoot.debianLike()
        defer { template.remove() }
        try template.write("/etc/fstab", image.fstab)
        if let crypttab = image.crypttab { try template.write("/etc/crypttab", crypttab) }
        for point in ["/boot", "/boot/efi", "/home", "/srv", "/data"] { try template.makeDirectory(point) }
        let key = directory + "/key"
        try "not a secret".write(toFile: key, atomically: true, encoding: .utf8)
        for part in parts {
            try image.withPartition(part.name, readOnly: false) { device in
                switch part.name {
                case "esp": try HostCommand.succeed("mkfs.vfat", ["-i", part.uuid.replacingOccurrences(of: "-", with: ""), device])
                case "swap": try HostCommand.succeed("mkswap", ["-U", part.uuid, device])
                case "root": try HostCommand.succeed("mkfs.ext4", ["-q", "-F", "-U", part.uuid, "-d", template.path, device])
                case "boot":
                    // An empty /boot/efi below it, where the ESP would be mounted.
                    let boot = directory + "/bootfs"
                    try FileManager.default.createDirectory(atPath: boot + "/efi", withIntermediateDirectories: true)
                    try HostCommand.succeed("mkfs.ext4", ["-q", "-F", "-U", part.uuid, "-d", boot, device])
                case "home": try HostCommand.succeed("mkfs.ext4", ["-q", "-F", "-U", part.uuid, device])
                case "srv": try HostCommand.succeed("mkfs.xfs", ["-q", "-f", "-m", "uuid=\(part.uuid)", device])
                case "data": try HostCommand.succeed("mkfs.btrfs", ["-q", "-f", "-U", part.uuid, device])
                default:
                    try HostCommand.succeed("cryptsetup", ["luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
                                                           "--pbkdf-force-iterations", "1000", "--uuid", part.uuid, "--key-file", key, device])
                }
            }
        }
        image.parts = parts
        for part in parts { try #require(try image.uuidReadBack(part.name) == part.uuid, "\(part.name) as made") }
        return image
    }

    @Test("run --image: the ESP's new serial, swap's, ext4's (in place and once unmounted), XFS's, btrfs's and LUKS's UUIDs are in the image file, as fstab and crypttab name them; rollback --image gives every old one back",
          .enabled(if: StorageTools.available("mkfs.xfs", "xfs_admin", "mkfs.btrfs", "btrfstune", "cryptsetup")))
    func everyTypeReadsBack() throws {
        let image = try Self.makeImage(allTypes: true)
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let run = try SanitizeClone.json(["run", "--image", image.path, "--json", "--hostname", "img-01"])
        #expect(run["result"]?.string == "committed" && run.status(of: "fs-uuids") == "applied", "\(run)")
        #expect(try image.attachmentsAfterTeardown().isEmpty, "nothing left attached")
        #expect(!FileManager.default.fileExists(atPath: image.path + ".sanitize-clone-pending"))

        let fstab = try #require(try image.rootFile("/etc/fstab"))
        let crypttab = try #require(try image.rootFile("/etc/crypttab"))
        for part in image.parts {
            // /boot too: the ESP (no vfat driver here) is read through mtools, and holds no stub
            // grub.cfg naming it.
            let now = try image.uuidReadBack(part.name)
            #expect(now != part.uuid && !now.isEmpty, "\(part.name) (\(part.type)) has a new UUID in the image file: \(now)")
            let references = part.name == "luks" ? crypttab : fstab
            #expect(references.contains("UUID=\(now) "), "\(part.name): the configuration names what the image holds: \(references)")
            #expect(!references.contains("UUID=\(part.uuid) "), "\(part.name): no reference to the old UUID is left")
        }

        let rollback = try SanitizeClone.json(["rollback", "--image", image.path, "--last", "--json"])
        #expect(rollback["result"]?.string == "rolled-back", "\(rollback)")
        for part in image.parts { #expect(try image.uuidReadBack(part.name) == part.uuid, "\(part.name) set back") }
        #expect(try image.rootFile("/etc/fstab") == image.fstab)
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("detaching an image flushes a write still in a loop device's page cache (LOOP_CLR_FD by its only opener would drop it)")
    func detachFlushes() throws {
        let directory = try Scratch.makeDirectory(prefix: "flush")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/disk.raw"
        try HostCommand.succeed("truncate", ["-s", "8M", path])
        let attached = try AttachedDiskImage(image: path)
        let device = try #require(attached.partitions.first?.device)
        // Written as fatlabel writes: through the device's page cache, closed without fsync.
        let handle = try #require(FileHandle(forUpdatingAtPath: device))
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0x5A, count: 512))
        try handle.close()
        #expect(attached.detach().isEmpty, "every flush succeeded")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes[4096..<4608].allSatisfy { $0 == 0x5A }, "the image file holds the write")
        #expect(try HostCommand.run("losetup", ["-j", path]).stdout.isEmpty)
    }

    @Test("issue 12's image (ESP, swap, ext4 root): the ESP's new serial is in the image file, as fstab names it")
    func espSerialReadsBack() throws {
        let image = try Self.makeImage(allTypes: false)
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        for attempt in 1...3 {
            let run = try SanitizeClone.json(["run", "--image", image.path, "--json", "--hostname", "img-0\(attempt)"])
            #expect(run["result"]?.string == "committed", "\(run)")
            let serial = try image.uuidReadBack("esp")
            #expect(serial != Self.espSerial && serial.count == 9, "attempt \(attempt): \(serial)")
            let fstab = try #require(try image.rootFile("/etc/fstab"))
            #expect(fstab.contains("UUID=\(serial) /boot/efi vfat"), "attempt \(attempt): \(fstab)")
            #expect(try image.uuidReadBack("swap") != image.part("swap").uuid)
            _ = try SanitizeClone.json(["rollback", "--image", image.path, "--last", "--json"])
            #expect(try image.uuidReadBack("esp") == Self.espSerial, "attempt \(attempt): set back")
        }
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a new identity the image file does not hold once the run's devices are detached fails the run (exit 1), naming the partition, and rolls everything back")
    func mismatchRollsBack() throws {
        let image = try Self.makeImage(allTypes: false)
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        // A fatlabel that writes the new serial where blkid -p on the run's device reads it (that
        // device's page cache, synced) and then puts the old boot sector back into the image file
        // behind it: the two disagree, as after a write the detach dropped.
        let bin = image.directory + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let fatlabel = try HostCommand.succeed("sh", ["-c", "command -v fatlabel"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try """
        #!/bin/sh
        device=$2
        backing=$(losetup --noheadings --raw --output BACK-FILE "$device")
        offset=$(losetup --noheadings --raw --output OFFSET "$device")
        saved=$(mktemp)
        dd if="$backing" of="$saved" bs=512 skip=$((offset / 512)) count=1 status=none
        \(fatlabel) "$@" || exit
        sync "$device"
        dd if="$saved" of="$backing" bs=512 seek=$((offset / 512)) count=1 conv=notrunc,fsync status=none
        rm -f "$saved"

        """.write(toFile: bin + "/fatlabel", atomically: true, encoding: .utf8)
        try HostCommand.succeed("chmod", ["755", bin + "/fatlabel"])

        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        let run = try SanitizeClone.run(["run", "--image", image.path, "--json", "--hostname", "img-01"], environment: ["PATH": bin + ":" + path])
        let message = try SanitizeClone.expectError(run, exitCode: 1)
        #expect(message.contains("partition 1 (") && message.contains("vfat") && message.contains("holds vfat with UUID \(Self.espSerial)")
                && message.contains("rolled back"), "\(message)")
        #expect(try image.attachmentsAfterTeardown().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: image.path + ".sanitize-clone-pending"))
        #expect(try image.uuidReadBack("esp") == Self.espSerial)
        #expect(try image.uuidReadBack("swap") == image.part("swap").uuid, "the swap partition's UUID was set back too")
        #expect(try image.rootFile("/etc/fstab") == image.fstab)
        #expect(try image.rootFile("/etc/hostname") == "golden\n")
    }

    @Test("a run rolled back after fs-uuids changed the image's partitions sets their UUIDs back: undo finds them by the UUIDs they have now",
          arguments: ["fs-uuids:after-apply:error"])
    func failedRunSetsUUIDsBack(_ failpoint: String) throws {
        let image = try Self.makeImage(allTypes: false)
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let run = try SanitizeClone.run(["run", "--image", image.path, "--json", "--hostname", "img-01"], failpoint: failpoint)
        #expect(run.exitCode == 1 && run.json?["result"]?.string == "rolled-back", "\(run)")
        #expect(try image.uuidReadBack("esp") == Self.espSerial)
        #expect(try image.uuidReadBack("swap") == image.part("swap").uuid)
        #expect(try image.rootFile("/etc/fstab") == image.fstab)
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a flush that fails after fatlabel fails the task (exit 1), naming the device, and the serial is set back")
    func failedFlushAfterTheTool() throws {
        let image = try Self.makeImage(allTypes: false)
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let run = try SanitizeClone.run(["run", "--image", image.path, "--json", "--hostname", "img-01"],
                                        environment: ["SANITIZE_CLONE_FAULT": "fsync|flush the device|fs-uuids|1|EIO"])
        #expect(run.exitCode == 1 && run.json?["result"]?.string == "rolled-back", "\(run)")
        let error = run.json?.task("fs-uuids")?["error"]?.string ?? ""
        #expect(error.contains("Failed to flush /dev/loop") && error.contains("(vfat) after fatlabel"), "\(error)")
        #expect(try image.uuidReadBack("esp") == Self.espSerial)
        #expect(try image.rootFile("/etc/fstab") == image.fstab)
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }
}
