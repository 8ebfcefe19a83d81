import Foundation
import SanitizeCloneKit
import Testing

/// Issue 12: on a host whose kernel has no vfat, the ESP cannot be mounted, yet the ext4 root gets
/// its new UUID and the ESP's grub.cfg and BLS entry follow, read and written through mtools
/// (`FATVolume`), journaled as `fat-file` undos. Every result is read from the image file or
/// device through a fresh attachment the test makes.
@Suite("ESP files through mtools", .requiresRoot, .serialized,
       .enabled(if: StorageTools.available("sfdisk", "mkfs.vfat", "mkfs.ext4", "mcopy", "mmd", "mtype", "blkid")))
struct ESPThroughMtoolsTests {
    static let espSerial = "ABCD-1234"
    /// A binary that must never be touched (a unified kernel image's place), with a NUL byte.
    static let binary: [UInt8] = [0x4d, 0x5a, 0x00, 0x01] + Array("not a UUID".utf8) + [0xff, 0x00]

    /// The ESP's files as made: path inside the volume → bytes.
    static func espFiles(rootUUID: String) -> [String: [UInt8]] {
        [
            "/EFI/debian/grub.cfg": Array("search.fs_uuid \(rootUUID) root hd0,gpt2\nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n".utf8),
            "/loader/entries/debian.conf": Array("title Debian\nlinux /vmlinuz\noptions root=UUID=\(rootUUID.uppercased()) ro quiet\n".utf8),
            "/loader/loader.conf": Array("default debian.conf\ntimeout 3\n".utf8),
            "/EFI/Linux/debian.efi": binary,
        ]
    }

    /// Puts `files` on the FAT filesystem on `device` with mmd and mcopy.
    static func putFiles(_ files: [String: [UInt8]], on device: String, scratch: String) throws {
        let environment = ["MTOOLS_SKIP_CHECK": "1"]
        var made = Set<String>()
        for (path, bytes) in files.sorted(by: { $0.key < $1.key }) {
            var directory = ""
            for part in path.split(separator: "/").dropLast() {
                directory += "/" + part
                if made.insert(directory).inserted { try HostCommand.succeed("mmd", ["-i", device, "::" + directory], environment: environment) }
            }
            let local = scratch + "/put"
            try Data(bytes).write(to: URL(fileURLWithPath: local))
            try HostCommand.succeed("mcopy", ["-o", "-i", device, local, "::" + path], environment: environment)
        }
    }

    /// The bytes of `path` on the FAT filesystem on `device` (mcopy out), nil when absent.
    static func fileBytes(_ path: String, on device: String, scratch: String) throws -> [UInt8]? {
        let local = scratch + "/got"
        try? FileManager.default.removeItem(atPath: local)
        let result = try HostCommand.run("mcopy", ["-n", "-i", device, "::" + path, local], environment: ["MTOOLS_SKIP_CHECK": "1"])
        guard result.exitCode == 0 else { return nil }
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: local)))
    }

    /// A GPT image: an ESP (serial ABCD-1234) on /boot/efi and an ext4 root holding the template,
    /// both named by UUID in fstab; the ESP's grub.cfg and BLS entry name the root's UUID.
    struct Image {
        let directory: String
        let path: String
        let rootUUID: String
        let esp: (offset: Int, size: Int)
        let root: (offset: Int, size: Int)

        func withPartition<T>(_ part: (offset: Int, size: Int), readOnly: Bool = true, _ body: (String) throws -> T) throws -> T {
            let device = try HostCommand.succeed("losetup", ["--find", "--show"] + (readOnly ? ["--read-only"] : [])
                                                 + ["--offset", String(part.offset), "--sizelimit", String(part.size), path])
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            defer {
                _ = try? HostCommand.run("blockdev", ["--flushbufs", device])
                _ = try? HostCommand.run("losetup", ["-d", device])
                _ = try? attachmentsAfterTeardown()
            }
            return try body(device)
        }

        /// Every ESP file as the image file holds it now, through a fresh read-only attachment.
        func espNow() throws -> [String: [UInt8]] {
            try withPartition(esp) { device in
                var files: [String: [UInt8]] = [:]
                for path in ESPThroughMtoolsTests.espFiles(rootUUID: rootUUID).keys {
                    files[path] = try ESPThroughMtoolsTests.fileBytes(path, on: device, scratch: directory)
                }
                return files
            }
        }

        func rootUUIDNow() throws -> String {
            try withPartition(root) { device in
                try HostCommand.succeed("blkid", ["-p", "-s", "UUID", "-o", "value", device]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }

        func attachmentsAfterTeardown() throws -> String { try LoopDevice.attachments(backedBy: path) }
    }

    static func makeImage() throws -> Image {
        let directory = try Scratch.makeDirectory(prefix: "esp-mtools")
        let path = directory + "/disk.raw"
        let rootUUID = UUID().uuidString.lowercased()
        try HostCommand.succeed("truncate", ["-s", "84M", path])
        try HostCommand.succeed("sfdisk", ["-q", path], stdin: "label: gpt\n,33M,U\n,48M,L\n")
        let entries = try HostCommand.succeed("sfdisk", ["--json", path]).json?["partitiontable"]?["partitions"]?.array ?? []
        try #require(entries.count == 2)
        let places = entries.map { ((($0["start"]?.int ?? 0) * 512), (($0["size"]?.int ?? 0) * 512)) }
        let image = Image(directory: directory, path: path, rootUUID: rootUUID, esp: places[0], root: places[1])

        let template = try FixtureRoot.debianLike()
        defer { template.remove() }
        try template.write("/etc/fstab", "UUID=\(rootUUID) / ext4 errors=remount-ro 0 1\nUUID=\(espSerial) /boot/efi vfat umask=0077 0 1\n")
        try template.makeDirectory("/boot/efi")
        _ = try image.withPartition(image.esp, readOnly: false) { device in
            try HostCommand.succeed("mkfs.vfat", ["-i", espSerial.replacingOccurrences(of: "-", with: ""), device])
            try putFiles(espFiles(rootUUID: rootUUID), on: device, scratch: directory)
        }
        _ = try image.withPartition(image.root, readOnly: false) { device in
            try HostCommand.succeed("mkfs.ext4", ["-q", "-F", "-U", rootUUID, "-d", template.path, device])
        }
        #expect(try image.espNow() == espFiles(rootUUID: rootUUID), "the ESP as made")
        return image
    }

    /// Checks the ESP followed `newRoot` and nothing else changed on it.
    static func expectFollowed(_ files: [String: [UInt8]], old: String, new newRoot: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let grub = String(decoding: files["/EFI/debian/grub.cfg"] ?? [], as: UTF8.self)
        let entry = String(decoding: files["/loader/entries/debian.conf"] ?? [], as: UTF8.self)
        #expect(grub == "search.fs_uuid \(newRoot) root hd0,gpt2\nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n", "\(grub)", sourceLocation: sourceLocation)
        #expect(entry == "title Debian\nlinux /vmlinuz\noptions root=UUID=\(newRoot.uppercased()) ro quiet\n", "in its own case: \(entry)", sourceLocation: sourceLocation)
        #expect(files["/EFI/Linux/debian.efi"] == binary, "a binary is never touched", sourceLocation: sourceLocation)
        #expect(files["/loader/loader.conf"] == Array("default debian.conf\ntimeout 3\n".utf8), sourceLocation: sourceLocation)
    }

    @Test("run --image: the ext4 root gets a new UUID, the ESP's grub.cfg and BLS entry follow through mtools; rollback --image gives them back byte for byte")
    func imageRunThenRollback() throws {
        let image = try Self.makeImage()
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let original = try image.espNow()
        let run = try SanitizeClone.json(["run", "--image", image.path, "--json", "--hostname", "img-01"])
        #expect(run["result"]?.string == "committed" && run.status(of: "fs-uuids") == "applied", "\(run)")
        let newRoot = try image.rootUUIDNow()
        #expect(newRoot != image.rootUUID && newRoot.count == 36)
        Self.expectFollowed(try image.espNow(), old: image.rootUUID, new: newRoot)
        #expect(try image.attachmentsAfterTeardown().isEmpty)

        let rollback = try SanitizeClone.json(["rollback", "--image", image.path, "--last", "--json"])
        #expect(rollback["result"]?.string == "rolled-back", "\(rollback)")
        #expect(try image.rootUUIDNow() == image.rootUUID)
        #expect(try image.espNow() == original, "byte for byte")
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a dry run shows the ESP's diff of references and changes no byte of the image")
    func dryRun() throws {
        let image = try Self.makeImage()
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let before = try HostCommand.sha256sum(image.path)
        let plan = try SanitizeClone.json(["run", "--image", image.path, "--dry-run", "--json", "--only", "fs-uuids"])
        let changes = plan.task("fs-uuids")?["changes"]?.array ?? []
        let fat = changes.filter { $0["action"]?.string == "write-fat" }
        #expect(fat.compactMap { $0["path"]?.string }.sorted() == ["/boot/efi/EFI/debian/grub.cfg", "/boot/efi/loader/entries/debian.conf"], "\(plan)")
        let text = try SanitizeClone.run(["run", "--image", image.path, "--dry-run", "--only", "fs-uuids"])
        #expect(text.exitCode == 0, "\(text)")
        let diff = text.stdout
        #expect(diff.contains("-search.fs_uuid \(image.rootUUID) root") && diff.contains("+search.fs_uuid "), "\(diff)")
        #expect(diff.contains("-options root=UUID=\(image.rootUUID.uppercased()) ro"), "\(diff)")
        #expect(!diff.contains("set prefix") && !diff.contains("timeout") && !diff.contains("title Debian"),
                "nothing from the ESP but the lines that change: \(diff)")
        #expect(try HostCommand.sha256sum(image.path) == before)
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a run --image killed at each change of fs-uuids is recovered by rollback --image: the ESP's files are byte-identical")
    func crashAtEachChange() throws {
        let probe = try Self.makeImage()
        let plan = try SanitizeClone.json(["run", "--image", probe.path, "--dry-run", "--json", "--only", "fs-uuids"])
        try? FileManager.default.removeItem(atPath: probe.directory)
        let count = plan.task("fs-uuids")?["changes"]?.array?.count ?? 0
        try #require(count >= 4, "set-uuid ×2, fstab, two ESP files: \(plan)")
        for change in 1...count {
            let image = try Self.makeImage()
            defer { try? FileManager.default.removeItem(atPath: image.directory) }
            let original = try image.espNow()
            let crashed = try SanitizeClone.run(["run", "--image", image.path, "--only", "fs-uuids"], failpoint: "fs-uuids:change-\(change):crash")
            try #require(crashed.wasKilled, "change-\(change): \(crashed)")
            #expect(try image.attachmentsAfterTeardown().isEmpty)
            let rollback = try SanitizeClone.run(["rollback", "--image", image.path, "--last"])
            #expect(rollback.exitCode == 0, "change-\(change): \(rollback)")
            #expect(try image.espNow() == original, "change-\(change): the ESP's files are as they were")
            #expect(try image.rootUUIDNow() == image.rootUUID, "change-\(change)")
        }
    }

    /// A stand-in for mcopy on PATH: the real one, except on the `fail`-th write onto a volume
    /// (`-o`), where it either fails (exit 1) or writes half the file and kills the run (SIGKILL,
    /// a crash in the middle of mtools' in-place write).
    static func mcopyStandIn(in directory: String, on call: Int, crashMidWrite: Bool) throws -> [String: String] {
        let bin = directory + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let real = try HostCommand.succeed("sh", ["-c", "command -v mcopy"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let failing = crashMidWrite
            ? "n=$#; eval last=\\${$n}; eval src=\\${$((n - 1))}; head -c 20 \"$src\" > \(directory)/half; \(real) -o -i \"$3\" \(directory)/half \"$last\"; kill -9 $PPID; exit 1"
            : "echo 'mcopy: injected failure' >&2; exit 1"
        try """
        #!/bin/sh
        if [ "$1" = "-o" ]; then
            n=$(cat \(directory)/writes 2>/dev/null || echo 0); n=$((n + 1)); echo $n > \(directory)/writes
            if [ $n -eq \(call) ]; then \(failing); fi
        fi
        exec \(real) "$@"

        """.write(toFile: bin + "/mcopy", atomically: true, encoding: .utf8)
        try HostCommand.succeed("chmod", ["755", bin + "/mcopy"])
        return ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin")]
    }

    @Test("mcopy failing on the second ESP file fails fs-uuids (exit 1): the first file is written back, the root keeps its UUID")
    func failingMcopyRollsBack() throws {
        let image = try Self.makeImage()
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let original = try image.espNow()
        let environment = try Self.mcopyStandIn(in: image.directory, on: 2, crashMidWrite: false)
        let run = try SanitizeClone.run(["run", "--image", image.path, "--json", "--only", "fs-uuids"], environment: environment)
        #expect(run.exitCode == 1 && run.json?["result"]?.string == "rolled-back", "\(run)")
        let error = run.json?.task("fs-uuids")?["error"]?.string ?? ""
        #expect(error.contains("Failed to write /loader/entries/debian.conf on the FAT volume /dev/loop") && error.contains("injected failure")
                && error.contains("fsck.vfat -n"), "one line naming the volume and the fix: \(error)")
        #expect(try image.espNow() == original)
        #expect(try image.rootUUIDNow() == image.rootUUID)
        #expect(try image.attachmentsAfterTeardown().isEmpty)
    }

    @Test("a run killed while mcopy writes an ESP file in place (half written) is recovered by rollback --image: byte-identical")
    func crashInTheMiddleOfAWrite() throws {
        let image = try Self.makeImage()
        defer { try? FileManager.default.removeItem(atPath: image.directory) }
        let original = try image.espNow()
        let environment = try Self.mcopyStandIn(in: image.directory, on: 1, crashMidWrite: true)
        let crashed = try SanitizeClone.run(["run", "--image", image.path, "--only", "fs-uuids"], environment: environment)
        try #require(crashed.wasKilled, "\(crashed)")
        let torn = try image.espNow()["/EFI/debian/grub.cfg"] ?? []
        #expect(torn.count == 20, "the stand-in left the file cut short: \(torn.count) bytes")
        let rollback = try SanitizeClone.run(["rollback", "--image", image.path, "--last"])
        #expect(rollback.exitCode == 0, "\(rollback)")
        #expect(try image.espNow() == original)
        #expect(try image.rootUUIDNow() == image.rootUUID)
    }

    /// `--root` with the root's ext4 and its ESP on loop devices the command line names.
    static func withRootAndESP<T>(_ body: (FixtureRoot, LoopDevice, LoopDevice, String) throws -> T) throws -> T {
        try LoopDevice.with(size: 64 << 20) { disk in
            try disk.format("mkfs.ext4", ["-q", "-F"])
            return try LoopDevice.with(size: 40 << 20) { esp in
                try esp.format("mkfs.vfat", ["-i", espSerial.replacingOccurrences(of: "-", with: "")])
                let rootUUID = try #require(try disk.blkid("UUID"))
                try putFiles(espFiles(rootUUID: rootUUID), on: esp.path, scratch: esp.directory)
                let root = try FixtureRoot.debianLike()
                defer { root.remove() }
                try root.write("/etc/fstab", "UUID=\(rootUUID) / ext4 errors=remount-ro 0 1\nUUID=\(espSerial) /boot/efi vfat umask=0077 0 1\n")
                try root.makeDirectory("/boot/efi")
                return try body(root, disk, esp, rootUUID)
            }
        }
    }

    @Test("run --root with the ESP named by --device: the root's UUID changes, the ESP's files follow; rollback gives them back byte for byte")
    func rootModeThenRollback() throws {
        try Self.withRootAndESP { root, disk, esp, rootUUID in
            let original = try Self.espNow(esp)
            let devices = ["--device", disk.path, "--device", esp.path]
            let run = try SanitizeClone.json(["run", "--root", root.path, "--json", "--only", "fs-uuids"] + devices)
            #expect(run["result"]?.string == "committed", "\(run)")
            let newRoot = try #require(try disk.blkid("UUID"))
            #expect(newRoot != rootUUID)
            Self.expectFollowed(try Self.espNow(esp), old: rootUUID, new: newRoot)
            #expect(root.read("/etc/fstab")?.contains("UUID=\(newRoot) /") == true)

            let rollback = try SanitizeClone.run(["rollback", "--root", root.path, "--last"] + devices)
            #expect(rollback.exitCode == 0, "\(rollback)")
            #expect(try disk.blkid("UUID") == rootUUID)
            #expect(try disk.blkid("UUID") == rootUUID && (try esp.blkid("UUID")) == Self.espSerial)
            #expect(try Self.espNow(esp) == original, "byte for byte")
        }
    }

    @Test("run --root without the ESP in its scope: the root keeps its UUID and the plan says why")
    func rootModeWithoutTheESP() throws {
        try Self.withRootAndESP { root, disk, _, rootUUID in
            let plan = try SanitizeClone.json(["plan", "--root", root.path, "--json", "--only", "fs-uuids", "--device", disk.path])
            let notes = (plan.task("fs-uuids")?["notes"]?.array ?? []).compactMap(\.string)
            #expect(notes.contains { $0.contains("/boot/efi (vfat) is not mounted and cannot be read here") && $0.contains("--device") && $0.contains("keeps its UUID") },
                    "\(plan)")
            #expect(try disk.blkid("UUID") == rootUUID)
        }
    }

    @Test("run --root killed after the ESP write, then rollback: the ESP's files are byte-identical")
    func rootModeCrashRecovered() throws {
        try Self.withRootAndESP { root, disk, esp, rootUUID in
            let original = try Self.espNow(esp)
            let devices = ["--device", disk.path, "--device", esp.path]
            let plan = try SanitizeClone.json(["plan", "--root", root.path, "--json", "--only", "fs-uuids"] + devices)
            let changes = plan.task("fs-uuids")?["changes"]?.array ?? []
            let firstFAT = try #require(changes.firstIndex { $0["action"]?.string == "write-fat" }, "\(plan)") + 1
            let crashed = try SanitizeClone.run(["run", "--root", root.path, "--only", "fs-uuids"] + devices,
                                                failpoint: "fs-uuids:change-\(firstFAT):crash")
            try #require(crashed.wasKilled, "\(crashed)")
            #expect(try Self.espNow(esp) != original, "the crash came after the first ESP file was written")
            let rollback = try SanitizeClone.run(["rollback", "--root", root.path, "--last"] + devices)
            #expect(rollback.exitCode == 0, "\(rollback)")
            #expect(try Self.espNow(esp) == original)
            #expect(try disk.blkid("UUID") == rootUUID)
        }
    }

    static func espNow(_ esp: LoopDevice) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for path in espFiles(rootUUID: "").keys { files[path] = try fileBytes(path, on: esp.path, scratch: esp.directory) }
        return files
    }
}

/// Paths inside a FAT volume and `fat-file` undo records are untrusted input (a guest's ESP, a
/// journal): both are validated before mtools sees them.
@Suite("FAT volume paths and fat-file undo values")
struct FATVolumeValidationTests {
    @Test("paths with '..', a drive letter, a backslash, a wildcard, a control character or no leading slash are refused")
    func hostilePaths() {
        for path in ["/EFI/../../etc/shadow", "a:/x", "/EFI/debian/grub.cfg:", "/EFI\\x", "/EFI/*", "/EFI/?", "relative/grub.cfg",
                     "/", "", "/EFI//grub.cfg", "/EFI/./grub.cfg", "/EFI/\u{1}x", "/loader/entries/\"x\".conf"] {
            #expect(throws: InputError.self, "\(path)") { try FATVolume.validatedPath(path) }
        }
        #expect((try? FATVolume.validatedPath("/EFI/debian/grub.cfg")) == "/EFI/debian/grub.cfg")
    }

    @Test("a fat-file undo naming a device, a host path, a program or a malformed serial or backup is refused")
    func undoValues() {
        let sha = String(repeating: "a", count: 64)
        let good = ["vfat", "ABCD-1234", "1234-ABCD", "/EFI/debian/grub.cfg", "files", "0", "10", sha]
        #expect(throws: Never.self) { try FATFileUndo().validate(good) }
        var bad: [[String]] = []
        for (index, value) in [(0, "ext4"), (1, "/dev/sda1"), (2, "ABCD1234"), (3, "/dev/sda1@@0"), (3, "../etc/shadow"), (3, "C:/x"),
                               (4, "secrets"), (4, "../../../etc"), (5, "-1"), (6, "x"), (7, "ZZ"), (7, "sh -c reboot")] {
            var values = good
            values[index] = value
            bad.append(values)
        }
        bad.append(Array(good.dropLast()))
        bad.append(good + ["/bin/sh"])
        for values in bad {
            #expect(throws: InputError.self, "\(values)") { try FATFileUndo().validate(values) }
        }
    }
}
