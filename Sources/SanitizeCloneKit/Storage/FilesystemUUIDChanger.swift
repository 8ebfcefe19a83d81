#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Sets a filesystem's UUID with the tool made for its type, on an unmounted device.
///
/// What each tool does, as found with e2fsprogs 1.47.0, xfsprogs 6.1.0, btrfs-progs 6.2,
/// dosfstools 4.2, util-linux 2.38.1 and cryptsetup 2.6.1 (Debian 12) on loop devices:
///
/// - **ext2/ext3/ext4**: `tune2fs -U`. With `metadata_csum` but without `metadata_csum_seed`
///   every checksum is seeded from the UUID, so tune2fs rewrites them all; it then refuses
///   ("This operation requires a freshly checked filesystem. Please run e2fsck -f", printed on
///   *stdout*, exit 1) unless the superblock is clean and was checked after its last mount.
///   We read those superblock fields and run `e2fsck -f -p` first only then (and whenever the
///   journal needs recovery or the filesystem is not clean, since a later journal replay would
///   write the old superblock back). With `metadata_csum_seed` only the UUID changes. The
///   checksum seed feature is never added: older kernels and bootloaders (GRUB before 2.12)
///   cannot read it. tune2fs refuses filesystems with `stable_inodes` (fscrypt). Undo is
///   `tune2fs -U OLD`, which restores the exact old UUID; features stay as they were.
///   Timings (sparse loop files, page cache warm): 1 GiB with 200 files: fsck 0.02 s, tune2fs
///   0.01 s; 8 GiB: 0.06 s + 0.02 s; 64 GiB: 0.17 s + 0.01 s; 1 or 8 GiB holding 20,000 files and
///   200 MiB: 0.1 s + 0.04–0.07 s. Only metadata in use is rewritten (flex_bg, uninit groups), so
///   the device size barely matters; with the seed, tune2fs takes no measurable time.
/// - **xfs**: `xfs_admin -U` (xfs_db) clears the log and rewrites every superblock. On a V5
///   (crc) filesystem it sets the `META_UUID` incompat feature and keeps the original UUID in
///   `sb_meta_uuid` (metadata blocks keep carrying it); setting the original UUID back clears the
///   feature again. A V4 filesystem (crc=0) just gets the new UUID. A dirty log is refused with
///   a message ("…a log which needs to be replayed…") but **exit status 0**, so success is only
///   ever judged by probing again.
/// - **btrfs**: `btrfstune -M UUID` (metadata_uuid, btrfs-progs ≥ 5.0, kernel ≥ 5.0) only
///   rewrites the superblocks and sets the `METADATA_UUID` incompat flag; `btrfstune -M` with the
///   filesystem's metadata UUID (the original fsid) clears the flag again, so undo gives back the
///   old fsid exactly (a filesystem that had the flag before keeps it, with its metadata UUID).
///   The kernel mounts the changed filesystem without a rescan. Without `-M` the tools fall back
///   to `btrfstune -f -U UUID`, which rewrites every tree block (it prompts "are your sure?
///   [y/N]" without `-f`, and refuses while the `METADATA_UUID` flag is set). A multi-device
///   filesystem needs all its devices present.
/// - **vfat**: `fatlabel -i DEVICE XXXXXXXX` sets the 32-bit volume id (also in the FAT32
///   backup boot sector); blkid shows it as `XXXX-XXXX` in upper case. It does not take the dash.
///   It writes through the device's page cache and never syncs: see `flush(_:type:tool:)`.
/// - **swap**: `swaplabel -U UUID DEVICE`. It exits 0 even when it rejects the UUID
///   ("failed to parse UUID"), another reason to probe again.
/// - **crypto_LUKS**: `cryptsetup luksUUID --uuid UUID DEVICE` rewrites the header (both LUKS2
///   copies, or the LUKS1 header) without opening the device or asking for a key.
///
/// Every tool runs with stdin from /dev/null and `-f`/`--batch-mode` where it would prompt.
public enum FilesystemUUIDChanger {
    /// The blkid types whose UUID we know how to change.
    static let supportedTypes = ["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "swap", "crypto_LUKS"]

    /// True when `type` (a blkid TYPE) is one whose UUID `setUUID` can change.
    public static func supports(_ type: String) -> Bool {
        supportedTypes.contains(type)
    }

    /// A new random UUID in the type's own format: the vfat volume id as `XXXX-XXXX` in
    /// upper-case hex, a lowercase version 4 UUID (8-4-4-4-12) for every other type.
    ///
    /// Throws `InputError` for a type `supports(_:)` rejects, `SystemError` when getrandom fails.
    public static func newUUID(for type: String) throws -> String {
        try requireSupported(type, device: nil)
        guard type == "vfat" else { return try RandomBytes.uuid() }
        var bytes = try RandomBytes.generate(4)
        while bytes == [0, 0, 0, 0] { bytes = try RandomBytes.generate(4) }
        let hex = Hex.encode(bytes).uppercased()
        return "\(hex.prefix(4))-\(hex.suffix(4))"
    }

    /// Sets `uuid` (in the format `newUUID(for:)` returns, or the old one when undoing) on
    /// `device`, whose blkid type must be `type`, and returns what the tools printed.
    ///
    /// Nothing is run when the device already has `uuid` (the result is then empty). The device
    /// is probed again afterwards and the change counts only when blkid shows the new UUID.
    /// Throws `InputError` for an unsupported type, a malformed UUID, a device that is no block
    /// device or holds another type; `FilesystemUUIDError` (one line: device, the tool's own
    /// reason, what to do) when the host uses the device or the tool fails; `MissingProgramError`.
    /// Side effect: rewrites the filesystem's metadata; ext may first be repaired by `e2fsck -p`.
    @discardableResult
    public static func setUUID(_ uuid: String, on device: String, type: String) throws -> String {
        try requireSupported(type, device: device)
        try requireWellFormed(uuid, type: type)
        if let reason = try HostDeviceUse.reason(device) {
            throw FilesystemUUIDError(
                device: device,
                summary: "Refusing to change the UUID of \(device) (\(type)): it is \(reason) (unmount it, swapoff it or stop what holds it, then retry)")
        }
        guard let before = try BlockDeviceIdentity.probe(device) else {
            throw InputError("\(device) carries no filesystem signature any more (blkid -p finds none): probe it again before changing its UUID")
        }
        guard before.type == type else {
            throw InputError("\(device) holds \(before.type.isEmpty ? "no filesystem" : before.type), not \(type): probe it again before changing its UUID")
        }
        if let current = before.uuid, sameUUID(current, uuid) { return "" }

        var transcript: [ProgramOutput] = []
        let tool: String
        switch type {
        case "ext2", "ext3", "ext4":
            tool = "tune2fs"
            try setExtUUID(uuid, on: device, type: type, transcript: &transcript)
        case "xfs":
            tool = "xfs_admin"
            let result = try Program.find("xfs_admin", package: "xfsprogs").run(["-U", uuid, device])
            transcript.append(result)
            // xfs_admin exits 0 here; its message is wrapped at "needs to / be replayed".
            if FilesystemUUIDError.oneLineReason(result.output).contains("needs to be replayed") {
                throw failure(device, type, tool, result.output,
                              advice: "mount and unmount \(device) to replay its log, or as a last resort run `xfs_repair -L \(device)`, which discards the log; then retry")
            }
            try check(result, device, type, tool, advice: "check it with `xfs_repair -n \(device)`, then retry")
        case "btrfs":
            tool = "btrfstune"
            let btrfstune = try Program.find("btrfstune", package: "btrfs-progs")
            let help = try btrfstune.run(["--help"])
            let arguments = help.output.contains("-M UUID") ? ["-M", uuid, device] : ["-f", "-U", uuid, device]
            let result = try btrfstune.run(arguments)
            transcript.append(result)
            try check(result, device, type, tool,
                      advice: "check it with `btrfs check --readonly \(device)` and attach every device of a multi-device filesystem, then retry")
        case "vfat":
            tool = "fatlabel"
            let volumeID = uuid.filter { $0 != "-" }.uppercased()
            let result = try Program.find("fatlabel", package: "dosfstools").run(["-i", device, volumeID])
            transcript.append(result)
            try check(result, device, type, tool, advice: "check it with `fsck.vfat -n \(device)`, then retry")
        case "swap":
            tool = "swaplabel"
            let result = try Program.find("swaplabel", package: "util-linux").run(["-U", uuid, device])
            transcript.append(result)
            try check(result, device, type, tool, advice: "recreate the swap area with `mkswap -U \(uuid) \(device)` if its header is damaged")
        default: // crypto_LUKS, the last of `supportedTypes`
            tool = "cryptsetup"
            let result = try Program.find("cryptsetup", package: "cryptsetup-bin")
                .run(["luksUUID", "--batch-mode", "--uuid", uuid, device])
            transcript.append(result)
            try check(result, device, type, tool, advice: "inspect the header with `cryptsetup luksDump \(device)`, then retry")
        }

        let printed = render(transcript)
        try flush(device, type: type, tool: tool)
        let after = try BlockDeviceIdentity.probe(device)
        guard let now = after?.uuid, sameUUID(now, uuid) else {
            let shown = after.map { "\($0.type) with UUID \($0.uuid ?? "none")" } ?? "no signature"
            throw FilesystemUUIDError(
                device: device, toolOutput: printed,
                summary: "Failed to change the UUID of \(device) (\(type)) with \(tool): it reported success but blkid -p now shows \(shown)\(reasonSuffix(printed)) (check the filesystem before using it, then retry)")
        }
        return printed
    }

    /// True when blkid -p shows `uuid` on `device` now (hex digits compared without regard to
    /// case), so an undo can tell it has nothing left to do. False when the device has no signature.
    ///
    /// Throws like `BlockDeviceIdentity.probe(_:)`.
    public static func has(_ uuid: String, device: String) throws -> Bool {
        guard let current = try BlockDeviceIdentity.probe(device)?.uuid else { return false }
        return sameUUID(current, uuid)
    }

    /// fsync(2) of the device: what the tool wrote reaches the disk (the image file behind a loop
    /// device) before the change counts. `fatlabel` writes through the device's page cache and
    /// never syncs; left there, the write is lost when a loop device is detached by its only
    /// opener (`losetup -d` included), and on a real disk until the kernel's writeback.
    /// Throws `FilesystemUUIDError` when the flush fails.
    private static func flush(_ device: String, type: String, tool: String) throws {
        do throws(SystemError) {
            let fd = try System.open(device, O_RDONLY, operation: "open (to flush)")
            defer { System.close(fd) }
            try System.fsync(fd, operation: "flush the device", path: device)
        } catch {
            throw FilesystemUUIDError(
                device: device,
                summary: "Failed to flush \(device) (\(type)) after \(tool) changed its UUID: \(error.reason) (the new UUID may not be on the disk; check the device's health, then retry)")
        }
    }

    // MARK: - ext2/3/4

    /// `e2fsck -f -p` when tune2fs would refuse or the filesystem is not clean, then `tune2fs -U`.
    private static func setExtUUID(_ uuid: String, on device: String, type: String, transcript: inout [ProgramOutput]) throws {
        let superblock = try ExtSuperblock(reading: device)
        if superblock.needsCheckBeforeUUIDChange {
            let result = try Program.find("e2fsck", package: "e2fsprogs").run(["-f", "-p", device])
            transcript.append(result)
            // e2fsck -p: 0 clean, 1 errors fixed, 2 fixed and reboot (only for a mounted root);
            // 4 and above: problems it will not fix without a human.
            guard result.exitCode < 4 else {
                throw failure(device, type, "e2fsck -f -p", result.output,
                              advice: "repair it by hand with `e2fsck -f \(device)`, then retry")
            }
        }
        let result = try Program.find("tune2fs", package: "e2fsprogs").run(["-U", uuid, device])
        transcript.append(result)
        let advice = result.output.contains("stable_inodes")
            ? "its UUID is fixed by the stable_inodes feature (fscrypt): leave this filesystem out"
            : "check it with `e2fsck -f \(device)`, then retry"
        try check(result, device, type, "tune2fs", advice: advice)
    }

    // MARK: - Checks and messages

    private static func requireSupported(_ type: String, device: String?) throws {
        guard !supports(type) else { return }
        let what = type.isEmpty ? "a device without a filesystem signature" : "a \(type) filesystem"
        let on = device.map { " on \($0)" } ?? ""
        throw InputError("Cannot change the UUID of \(what)\(on): only \(supportedTypes.joined(separator: ", ")) are supported (leave this device out)")
    }

    /// `XXXX-XXXX` for vfat, 8-4-4-4-12 for the others; hex digits of either case.
    static func requireWellFormed(_ uuid: String, type: String) throws {
        let groups = type == "vfat" ? [4, 4] : [8, 4, 4, 4, 12]
        let parts = uuid.split(separator: "-", omittingEmptySubsequences: false)
        let wellFormed = parts.count == groups.count
            && zip(parts, groups).allSatisfy { part, length in part.count == length && part.allSatisfy(\.isASCIIHexDigit) }
        guard wellFormed else {
            let example = type == "vfat" ? "ABCD-1234" : "0f6e2b9c-3d1a-4c5e-9b7a-2e4d6f8a0c1b"
            throw InputError("\(uuid) is not a \(type) UUID (expected the form \(example); use FilesystemUUIDChanger.newUUID(for:))")
        }
    }

    private static func sameUUID(_ first: String, _ second: String) -> Bool {
        first.lowercased() == second.lowercased()
    }

    /// Throws `FilesystemUUIDError` unless `result` exited 0.
    private static func check(_ result: ProgramOutput, _ device: String, _ type: String, _ tool: String, advice: String) throws {
        guard result.exitCode != 0 else { return }
        throw failure(device, type, tool, result.output, advice: advice)
    }

    private static func failure(_ device: String, _ type: String, _ tool: String, _ output: String, advice: String) -> FilesystemUUIDError {
        FilesystemUUIDError(
            device: device, toolOutput: output,
            summary: "Failed to change the UUID of \(device) (\(type)) with \(tool)\(reasonSuffix(output)) (\(advice))")
    }

    /// ": <the tool's reason>" on one line, or nothing when it printed nothing useful.
    private static func reasonSuffix(_ output: String) -> String {
        let reason = FilesystemUUIDError.oneLineReason(output)
        return reason.isEmpty ? "" : ": \(reason)"
    }

    /// Each command and what it printed, as `setUUID` returns it.
    private static func render(_ transcript: [ProgramOutput]) -> String {
        transcript.map { "\($0.command)\n\($0.output)" }.joined(separator: "\n")
    }
}

/// Changing a filesystem UUID failed or was refused: the device is in use on this host, or the
/// filesystem's tool refused or did not apply the change.
///
/// The description is one line naming the device, the tool's own reason and what to do next;
/// `toolOutput` keeps everything the tools printed.
public struct FilesystemUUIDError: Error, CustomStringConvertible, Sendable {
    /// The device whose UUID was to change.
    public let device: String
    /// Everything the tools printed (standard output and error), empty for a refusal.
    public let toolOutput: String
    private let summary: String

    init(device: String, toolOutput: String = "", summary: String) {
        self.device = device
        self.toolOutput = toolOutput
        self.summary = summary
    }

    /// One line: `Failed to change the UUID of DEVICE (TYPE) with TOOL: REASON (WHAT TO DO)`,
    /// or `Refusing to change the UUID of DEVICE (TYPE): it is mounted on … (…)`.
    public var description: String { summary }

    /// The lines of `output` that say something, joined into one: version banners
    /// (`tune2fs 1.47.0 (5-Feb-2023)`) and blank lines dropped, whitespace collapsed, and a long
    /// text cut after its last whole sentence within 240 characters.
    static func oneLineReason(_ output: String) -> String {
        let lines = output.split(whereSeparator: \.isNewline).map { line in
            line.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }.filter { !$0.isEmpty && !isVersionBanner($0) }
        let joined = lines.joined(separator: " ")
        guard joined.count > 240 else { return joined }
        let head = Array(joined.prefix(240))
        if let end = head.indices.dropLast().last(where: { head[$0] == "." && head[$0 + 1] == " " }) {
            return String(head[...end]) + " …"
        }
        return String(head) + "…"
    }

    /// `NAME VERSION (DATE)`, as e2fsprogs and dosfstools print first.
    private static func isVersionBanner(_ line: String) -> Bool {
        let words = line.split(separator: " ")
        return words.count == 3 && words[1].first?.isNumber == true
            && words[2].hasPrefix("(") && words[2].hasSuffix(")")
    }
}

/// The few ext2/3/4 superblock fields that decide whether `tune2fs -U` needs a fresh `e2fsck -f`.
///
/// Offsets from e2fsprogs' `struct ext2_super_block`; the superblock starts 1024 bytes in.
struct ExtSuperblock {
    var state: UInt16
    var mountTime: UInt64
    var lastCheckTime: UInt64
    var incompatibleFeatures: UInt32
    var readOnlyCompatibleFeatures: UInt32

    /// Reads the primary superblock of `device` with pread(2).
    /// Throws `SystemError`, or `InputError` when the ext magic number is missing.
    init(reading device: String) throws {
        let fd = try System.open(device, O_RDONLY)
        defer { System.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1024)
        let count = try bytes.withUnsafeMutableBytes { buffer in
            try System.read(fd, into: buffer, at: 1024, operation: "read the superblock of", path: device)
        }
        func little(_ offset: Int, _ size: Int) -> UInt64 {
            (0..<size).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        guard count == 1024, little(0x38, 2) == 0xEF53 else {
            throw InputError("\(device) has no ext2/3/4 superblock (probe it again before changing its UUID)")
        }
        state = UInt16(little(0x3A, 2))
        mountTime = little(0x2C, 4) | little(0x275, 1) << 32
        lastCheckTime = little(0x40, 4) | little(0x277, 1) << 32
        incompatibleFeatures = UInt32(little(0x60, 4))
        readOnlyCompatibleFeatures = UInt32(little(0x64, 4))
    }

    private static let validState: UInt16 = 0x1, errorState: UInt16 = 0x2
    private static let needsRecovery: UInt32 = 0x4, extendedAttributeInodes: UInt32 = 0x400, checksumSeed: UInt32 = 0x2000
    private static let metadataChecksums: UInt32 = 0x400

    /// True when tune2fs will rewrite every metadata checksum (seeded from the UUID).
    var rewritesChecksums: Bool {
        incompatibleFeatures & Self.checksumSeed == 0
            && (readOnlyCompatibleFeatures & Self.metadataChecksums != 0 || incompatibleFeatures & Self.extendedAttributeInodes != 0)
    }

    /// tune2fs's own rule (`check_fsck_needed`) for a checksum rewrite: clean, without errors,
    /// checked after the last mount; and in any case a journal that needs no recovery.
    var needsCheckBeforeUUIDChange: Bool {
        if incompatibleFeatures & Self.needsRecovery != 0 { return true }
        if state & Self.validState == 0 || state & Self.errorState != 0 { return true }
        return rewritesChecksums && lastCheckTime < mountTime
    }
}
