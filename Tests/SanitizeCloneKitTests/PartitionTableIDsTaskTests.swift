import Foundation
import Testing
@testable import SanitizeCloneKit

/// `partition-table-ids` on real image files with the real sfdisk and mtools: the GPT disk GUID
/// and partition GUIDs (or the MBR disk identifier) change, every `PARTUUID=` reference follows,
/// the ESP keeps its GUID unless it holds the fallback loader, and a rollback gives the table back
/// byte for byte.
///
/// Most cases run the engine in-process on a fixture root with the image as the run's `--image`
/// file and no partition attached: sfdisk and mdir read and write the file itself, so no loop
/// device is needed. The last case runs the binary's `run --image` on a whole image (root only).
@Suite("Partition table identifiers and PARTUUID= references", .serialized,
       .enabled(if: StorageTools.available("sfdisk", "mkfs.vfat", "mmd", "mcopy", "mdir")))
struct PartitionTableIDsTaskTests {
    /// A raw disk image made with sfdisk in a scratch directory.
    struct TableImage {
        let directory: String
        let path: String

        /// The table as sfdisk reads it now.
        func table() throws -> PartitionTableIdentity { try #require(try PartitionTableIdentity.read(image: path)) }

        /// The PARTUUID of partition `number` as blkid spells it.
        func partUUID(_ number: Int) throws -> String {
            let table = try table()
            return try #require(table.partitions.first { $0.number == number }.flatMap { table.partUUID(of: $0) })
        }

        func sha256() throws -> String { try #require(try HostCommand.sha256sum(path)) }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// A 64 MiB image with the sfdisk `script`; with `esp`, partition 1 (at 1 MiB, 8 MiB) gets a
    /// FAT filesystem holding those files (paths inside the ESP).
    static func makeImage(_ script: String, esp: [String]? = nil) throws -> TableImage {
        let directory = try Scratch.makeDirectory(prefix: "partition-table")
        let path = directory + "/disk.raw"
        try HostCommand.succeed("truncate", ["-s", "64M", path])
        try HostCommand.succeed("sfdisk", ["-q", path], stdin: script)
        if let esp {
            let fat = directory + "/esp.fat"
            try HostCommand.succeed("mkfs.vfat", ["-C", fat, "8192"])
            let loader = directory + "/loader.efi"
            try "MZ not really a loader\n".write(toFile: loader, atomically: true, encoding: .utf8)
            for file in esp {
                var parent = ""
                for component in file.split(separator: "/").dropLast() {
                    parent += "/" + component
                    _ = try HostCommand.run("mmd", ["-D", "s", "-i", fat, "::" + parent])  // exists already: fine
                }
                try HostCommand.succeed("mcopy", ["-i", fat, loader, "::" + file])
            }
            try HostCommand.succeed("dd", ["if=\(fat)", "of=\(path)", "bs=1M", "seek=1", "conv=notrunc", "status=none"])
        }
        return TableImage(directory: directory, path: path)
    }

    static let gptScript = "label: gpt\n,8M,U\n,16M,L\n,,L\n"

    /// A root whose fstab, GRUB configuration, BLS entry and kernel command line name the image's
    /// partitions 1 (ESP), 2 (/boot) and 3 (/) by PARTUUID; the kernel command line in upper case.
    static func root(naming image: TableImage) throws -> FixtureRoot {
        let esp = try image.partUUID(1), boot = try image.partUUID(2), root = try image.partUUID(3)
        let fixture = try FixtureRoot.debianLike()
        try fixture.write("/etc/fstab", """
            PARTUUID=\(root) / ext4 errors=remount-ro 0 1
            PARTUUID=\(boot) /boot ext4 defaults 0 2
            PARTUUID=\(esp) /boot/efi vfat umask=0077 0 1
            """ + "\n")
        try fixture.write("/boot/grub/grub.cfg", "linux /vmlinuz root=PARTUUID=\(root) ro quiet\n", mode: 0o444)
        try fixture.write("/boot/loader/entries/debian.conf", "title Debian\noptions root=PARTUUID=\(root) ro\n")
        try fixture.write("/etc/kernel/cmdline", "root=PARTUUID=\(root.uppercased()) ro\n")
        return fixture
    }

    /// Runs (or plans) only this task in-process, with `image` as the run's disk image.
    static func run(_ image: TableImage, root: FixtureRoot, dryRun: Bool = false, failpoint: String? = nil) throws -> JSONValue {
        var options = RunOptions()
        options.only = ["partition-table-ids"]
        options.image = image.path
        options.blockDevices = []
        options.dryRun = dryRun
        if let failpoint { options.failpoint = try Failpoint(parsing: failpoint) }
        let report = try InProcess.engine.run(rootPath: root.path, options: options)
        return try JSONValue(parsing: report.json.serialized())
    }

    static func rollback(_ image: TableImage, root: FixtureRoot) throws -> JSONValue {
        let report = try InProcess.engine.rollback(rootPath: root.path, target: .last, force: false,
                                                   binding: RunEngine.RootBinding(image: image.path, blockDevices: []))
        return try JSONValue(parsing: report.json.serialized())
    }

    static func notes(_ report: JSONValue) -> [String] {
        report.task("partition-table-ids")?["notes"]?.array?.compactMap(\.string) ?? []
    }

    @Test("with --root the plan says the partition table changes only with --image, and nothing is planned")
    func rootModeOnlyNotes() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/etc/fstab", "PARTUUID=0b7e5cc4-6a0e-4c8c-8d25-3f3a3e0d9d11 / ext4 defaults 0 1\n")
        let before = try root.signature()
        let plan = try InProcess.json(["plan", "--root", root.path, "--json", "--only", "partition-table-ids"])
        #expect(plan.status(of: "partition-table-ids") == "skipped", "\(plan)")
        #expect(plan.task("partition-table-ids")?["reason"]?.string?.contains("only with --image") == true, "\(plan)")
        #expect(Self.notes(plan).contains { $0.contains("a --root") && $0.contains("run --image") }, "\(plan)")
        try expectUnchanged(root, since: before, "a plan")
    }

    @Test("GPT: new disk GUID and partition GUIDs, every PARTUUID= follows in its own case; the ESP without the fallback loader keeps its GUID; rollback gives the table back byte for byte")
    func gptRunThenRollback() throws {
        let image = try Self.makeImage(Self.gptScript, esp: ["/EFI/debian/grubx64.efi"])
        defer { image.remove() }
        let root = try Self.root(naming: image)
        defer { root.remove() }
        let old = try image.table(), oldBoot = try image.partUUID(2), oldRoot = try image.partUUID(3), oldESP = try image.partUUID(1)
        let imageBefore = try image.sha256(), rootBefore = try root.signature()

        let run = try Self.run(image, root: root)
        #expect(run["result"]?.string == "committed", "\(run)")
        let new = try image.table()
        #expect(new.label == "gpt" && !PartitionTableIdentity.same(new.diskID, old.diskID))
        let newBoot = try image.partUUID(2), newRoot = try image.partUUID(3)
        #expect(newBoot != oldBoot && newRoot != oldRoot && newBoot != newRoot)
        #expect(try image.partUUID(1) == oldESP, "the ESP keeps its GUID")
        #expect(Self.notes(run).contains { $0.contains("partition 1 (the EFI system partition) keeps its GUID") && $0.contains("no removable-media fallback loader") },
                "\(Self.notes(run))")
        #expect(root.read("/etc/fstab") == "PARTUUID=\(newRoot) / ext4 errors=remount-ro 0 1\nPARTUUID=\(newBoot) /boot ext4 defaults 0 2\nPARTUUID=\(oldESP) /boot/efi vfat umask=0077 0 1\n")
        #expect(root.read("/boot/grub/grub.cfg") == "linux /vmlinuz root=PARTUUID=\(newRoot) ro quiet\n")
        #expect(root.mode("/boot/grub/grub.cfg") == 0o444)
        #expect(root.read("/boot/loader/entries/debian.conf") == "title Debian\noptions root=PARTUUID=\(newRoot) ro\n")
        #expect(root.read("/etc/kernel/cmdline") == "root=PARTUUID=\(newRoot.uppercased()) ro\n")
        // The table stays valid (both GPT copies, their CRCs), and the partitions where they were.
        #expect(try HostCommand.run("sfdisk", ["--verify", image.path]).exitCode == 0)
        #expect(new.partitions.map(\.offset) == old.partitions.map(\.offset) && new.partitions.map(\.type) == old.partitions.map(\.type))

        let rollback = try Self.rollback(image, root: root)
        #expect(rollback["result"]?.string == "rolled-back", "\(rollback)")
        #expect(try image.sha256() == imageBefore, "the image's table is byte for byte what it was")
        try expectUnchanged(root, since: rootBefore, "run then rollback")
    }

    @Test("an ESP holding \\EFI\\BOOT\\BOOTX64.EFI (any case) gets a new GUID, and its PARTUUID= follows; the plan says why")
    func espWithFallbackLoader() throws {
        let image = try Self.makeImage(Self.gptScript, esp: ["/efi/boot/bootx64.efi"])
        defer { image.remove() }
        let root = try Self.root(naming: image)
        defer { root.remove() }
        let oldESP = try image.partUUID(1)
        let run = try Self.run(image, root: root)
        #expect(run["result"]?.string == "committed", "\(run)")
        let newESP = try image.partUUID(1)
        #expect(newESP != oldESP)
        #expect(Self.notes(run).contains { $0.contains("gets a new GUID") && $0.contains("BOOTX64.EFI") }, "\(Self.notes(run))")
        #expect(root.read("/etc/fstab")?.contains("PARTUUID=\(newESP) /boot/efi vfat") == true)
    }

    @Test("an ESP mdir cannot read (no FAT on it) keeps its GUID, and the plan says it is unknown")
    func unreadableESP() throws {
        let image = try Self.makeImage(Self.gptScript)
        defer { image.remove() }
        let root = try Self.root(naming: image)
        defer { root.remove() }
        let plan = try Self.run(image, root: root, dryRun: true)
        let changed = plan.task("partition-table-ids")?["changes"]?.array?.compactMap { $0["path"]?.string } ?? []
        #expect(changed.contains(image.path + " partition 3") && !changed.contains(image.path + " partition 1"), "\(changed)")
        #expect(Self.notes(plan).contains { $0.contains("keeps its GUID") && $0.contains("unknown") }, "\(Self.notes(plan))")
    }

    @Test("MBR: a new disk identifier, PARTUUID=<id>-NN references follow; rollback gives it back")
    func mbrRunThenRollback() throws {
        let image = try Self.makeImage("label: dos\nlabel-id: 0x1a2b3c4d\n,16M,83\n,,83\n")
        defer { image.remove() }
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/etc/fstab", "PARTUUID=1a2b3c4d-02 / ext4 defaults 0 1\nPARTUUID=1a2b3c4d-01 /boot ext4 defaults 0 2\n")
        try root.write("/boot/grub/grub.cfg", "linux /vmlinuz root=PARTUUID=1a2b3c4d-02 ro\n")
        let imageBefore = try image.sha256(), rootBefore = try root.signature()

        let run = try Self.run(image, root: root)
        #expect(run["result"]?.string == "committed", "\(run)")
        let id = try image.table().diskID
        #expect(id != "0x1a2b3c4d" && id.count == 10, "\(id)")
        let digits = String(id.dropFirst(2))
        #expect(root.read("/etc/fstab") == "PARTUUID=\(digits)-02 / ext4 defaults 0 1\nPARTUUID=\(digits)-01 /boot ext4 defaults 0 2\n")
        #expect(root.read("/boot/grub/grub.cfg") == "linux /vmlinuz root=PARTUUID=\(digits)-02 ro\n")

        let rollback = try Self.rollback(image, root: root)
        #expect(rollback["result"]?.string == "rolled-back", "\(rollback)")
        #expect(try image.sha256() == imageBefore)
        try expectUnchanged(root, since: rootBefore, "run then rollback")
    }

    @Test("MBR with an EFI system partition and no fallback loader keeps its disk identifier (it names the ESP too)")
    func mbrWithESPKeepsItsIdentifier() throws {
        let image = try Self.makeImage("label: dos\nlabel-id: 0x1a2b3c4d\n,8M,ef\n,,83\n", esp: ["/EFI/debian/grubx64.efi"])
        defer { image.remove() }
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/etc/fstab", "PARTUUID=1a2b3c4d-02 / ext4 defaults 0 1\n")
        let before = try image.sha256()
        let run = try Self.run(image, root: root)
        #expect(run.status(of: "partition-table-ids") == "skipped", "\(run)")
        #expect(Self.notes(run).contains { $0.contains("keeps the disk identifier 0x1a2b3c4d") }, "\(Self.notes(run))")
        #expect(try image.sha256() == before)
    }

    @Test("a dry run plans every change and writes no byte of the image or the root")
    func dryRun() throws {
        let image = try Self.makeImage(Self.gptScript, esp: ["/EFI/BOOT/BOOTX64.EFI"])
        defer { image.remove() }
        let root = try Self.root(naming: image)
        defer { root.remove() }
        let imageBefore = try image.sha256(), rootBefore = try root.signature()
        let plan = try Self.run(image, root: root, dryRun: true)
        #expect(plan["result"]?.string == "planned" && plan.status(of: "partition-table-ids") == "planned", "\(plan)")
        let changes = plan.task("partition-table-ids")?["changes"]?.array ?? []
        // disk GUID, three partition GUIDs, four reference files
        #expect(changes.count == 8, "\(changes)")
        #expect(changes.first?["action"]?.string == "set-disk-guid")
        #expect(try image.sha256() == imageBefore)
        try expectUnchanged(root, since: rootBefore, "a dry run")
    }

    @Test("a failure after the table changed is rolled back: the table and the files are as they were")
    func failureRollsBack() throws {
        let image = try Self.makeImage(Self.gptScript, esp: ["/EFI/BOOT/BOOTX64.EFI"])
        defer { image.remove() }
        let root = try Self.root(naming: image)
        defer { root.remove() }
        let imageBefore = try image.sha256(), rootBefore = try root.signature()
        for point in ["change-2", "change-5", "after-apply"] {
            let run = try Self.run(image, root: root, failpoint: "partition-table-ids:\(point):error")
            #expect(run["result"]?.string == "rolled-back", "\(point): \(run)")
            #expect(try image.sha256() == imageBefore, "\(point)")
            try expectUnchanged(root, since: rootBefore, "a failure at \(point)")
        }
    }

    @Test("a journal's undo values are validated: a device, a program or a malformed identifier is refused")
    func undoValuesAreValidated() throws {
        let kind = PartitionTableIdentityUndo()
        try kind.validate(["gpt-partition-guid", "0F6E2B9C-3D1A-4C5E-9B7A-2E4D6F8A0C1B", "9b7a2e4d-3d1a-4c5e-9b7a-0f6e2b9c0c1b"])
        try kind.validate(["mbr-disk-id", "0x1a2b3c4d", "0x00000000"])
        for values in [["gpt-disk-guid", "/dev/sda", "0F6E2B9C-3D1A-4C5E-9B7A-2E4D6F8A0C1B"],
                       ["run", "/bin/sh", "-c"],
                       ["mbr-disk-id", "0x1a2b3c4d", "1a2b3c4d"],
                       ["gpt-partition-guid", "0F6E2B9C-3D1A-4C5E-9B7A-2E4D6F8A0C1B"],
                       ["mbr-disk-id", "0x1a2b3c4d; reboot", "0x00000000"]] {
            #expect(throws: InputError.self, "\(values)") { try kind.validate(values) }
        }
    }

    /// A whole GPT image for `run --image`: ext4 /boot (partition 1) and root (2), the fstab naming
    /// both by PARTUUID and /boot/grub/grub.cfg booting `root=PARTUUID=`.
    struct BootableImage {
        let image: TableImage
        let looking: ImageModeTests.Image
        let oldBoot: String, oldRoot: String

        var fstab: String { "PARTUUID=\(oldRoot) / ext4 errors=remount-ro 0 1\nPARTUUID=\(oldBoot) /boot ext4 defaults 0 2\n" }

        /// /boot/grub/grub.cfg, read through a read-only mount of partition 1 the test makes.
        func grubConfiguration() throws -> String? {
            try looking.withPartition(0) { device -> String? in
                let point = image.directory + "/look-boot"
                try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
                try HostCommand.succeed("mount", ["-o", "ro", device, point])
                defer { _ = try? HostCommand.run("umount", [point]) }
                return try? String(contentsOfFile: point + "/grub/grub.cfg", encoding: .utf8)
            }
        }
    }

    static func makeBootableImage() throws -> BootableImage {
        let directory = try Scratch.makeDirectory(prefix: "image-gpt")
        let path = directory + "/disk.raw"
        try HostCommand.succeed("truncate", ["-s", "200M", path])
        try HostCommand.succeed("sfdisk", ["-q", path], stdin: "label: gpt\n,40M,L\n,,L\n")
        let image = TableImage(directory: directory, path: path)
        let oldBoot = try image.partUUID(1), oldRoot = try image.partUUID(2)
        let template = try FixtureRoot.debianLike()
        defer { template.remove() }
        try template.write("/etc/fstab", "PARTUUID=\(oldRoot) / ext4 errors=remount-ro 0 1\nPARTUUID=\(oldBoot) /boot ext4 defaults 0 2\n")
        try template.makeDirectory("/boot")
        let boot = directory + "/boot"
        try FileManager.default.createDirectory(atPath: boot + "/grub", withIntermediateDirectories: true)
        try "linux /vmlinuz root=PARTUUID=\(oldRoot) ro\n".write(toFile: boot + "/grub/grub.cfg", atomically: true, encoding: .utf8)
        let bootUUID = UUID().uuidString.lowercased(), rootUUID = UUID().uuidString.lowercased()
        let dump = try HostCommand.succeed("sfdisk", ["--json", path]).json
        let partitions = (dump?["partitiontable"]?["partitions"]?.array ?? []).compactMap { part -> (offset: Int, size: Int)? in
            guard let start = part["start"]?.int, let size = part["size"]?.int else { return nil }
            return (start * 512, size * 512)
        }
        try #require(partitions.count == 2)
        for (index, (uuid, source)) in [(bootUUID, boot), (rootUUID, template.path)].enumerated() {
            try HostCommand.succeed("mkfs.ext4", ["-q", "-F", "-U", uuid, "-d", source, "-E", "offset=\(partitions[index].offset)", path,
                                                  "\(partitions[index].size / 1024)k"])
        }
        let looking = ImageModeTests.Image(directory: directory, path: path, bootUUID: bootUUID, rootUUID: rootUUID, partitions: partitions)
        return BootableImage(image: image, looking: looking, oldBoot: oldBoot, oldRoot: oldRoot)
    }

    @Test("run --image: a PARTUUID= root and /boot in fstab and grub.cfg follow the new GUIDs; rollback --image restores the table bytes",
          .requiresRoot, .enabled(if: StorageTools.available("mkfs.ext4", "losetup", "mount")))
    func imageRunThenRollback() throws {
        let made = try Self.makeBootableImage()
        defer { made.image.remove() }
        let path = made.image.path
        let before = try Self.tableRegions(path)

        let run = try SanitizeClone.json(["run", "--image", path, "--json", "--hostname", "img-gpt"])
        #expect(run["result"]?.string == "committed", "\(run)")
        #expect(run.status(of: "partition-table-ids") == "applied", "\(run)")
        let newBoot = try made.image.partUUID(1), newRoot = try made.image.partUUID(2)
        #expect(newBoot != made.oldBoot && newRoot != made.oldRoot)
        #expect(try made.looking.rootFile("/etc/fstab") == "PARTUUID=\(newRoot) / ext4 errors=remount-ro 0 1\nPARTUUID=\(newBoot) /boot ext4 defaults 0 2\n")
        #expect(try made.grubConfiguration() == "linux /vmlinuz root=PARTUUID=\(newRoot) ro\n", "the /boot the fstab names by PARTUUID was mounted and rewritten")
        #expect(try made.looking.attachmentsAfterTeardown().isEmpty)

        let rollback = try SanitizeClone.json(["rollback", "--image", path, "--last", "--json"])
        #expect(rollback["result"]?.string == "rolled-back", "\(rollback)")
        #expect(try Self.tableRegions(path) == before, "the primary and backup GPT are byte for byte what they were")
        #expect(try made.looking.rootFile("/etc/fstab") == made.fstab)
        #expect(try made.grubConfiguration() == "linux /vmlinuz root=PARTUUID=\(made.oldRoot) ro\n")
        #expect(try made.looking.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a run --image killed after /boot's GUID changed but before the fstab followed is rolled back: /boot is still found",
          .requiresRoot, .enabled(if: StorageTools.available("mkfs.ext4", "losetup", "mount")),
          arguments: ["partition-table-ids:change-2", "partition-table-ids:change-4"])
    func imageRunCrashRecovered(_ point: String) throws {
        let made = try Self.makeBootableImage()
        defer { made.image.remove() }
        let path = made.image.path
        let before = try Self.tableRegions(path)
        let crashed = try SanitizeClone.run(["run", "--image", path, "--hostname", "img-gpt"], failpoint: point + ":crash")
        try #require(crashed.wasKilled, "\(crashed)")
        #expect(try made.image.partUUID(1) != made.oldBoot, "the table changed before the kill")
        #expect(try made.looking.attachmentsAfterTeardown().isEmpty)
        let rollback = try SanitizeClone.run(["rollback", "--image", path, "--last"])
        #expect(rollback.exitCode == 0, "\(rollback)")
        #expect(try Self.tableRegions(path) == before)
        #expect(try made.looking.rootFile("/etc/fstab") == made.fstab)
        #expect(try made.grubConfiguration() == "linux /vmlinuz root=PARTUUID=\(made.oldRoot) ro\n")
    }

    /// The protective MBR, the primary GPT (header and entries: sectors 0–33) and the backup
    /// (the last 33 sectors) of a 512-byte-sector image.
    static func tableRegions(_ path: String) throws -> [UInt8] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        return Array(bytes[0..<(34 * 512)]) + Array(bytes[(bytes.count - 33 * 512)...])
    }
}
