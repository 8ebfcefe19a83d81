#if canImport(Glibc)
import Glibc
#endif
import CShims

/// The LVM identity of a physical volume: its PV UUID and its volume group's name and UUID.
///
/// A clone shares all three with its template, so a host that sees both disks (two clones, or a
/// clone with the template's disk attached) finds duplicate PVs and refuses to use either, and
/// two VGs of the same name. `LVMIdentityChanger` gives the clone's PV new values and can set the
/// old ones back exactly.
public struct LVMPhysicalVolume: Sendable, Equatable {
    /// The device's path on the host, as given to `read(_:)`, e.g. /dev/loop3p2.
    public var device: String
    /// The PV UUID as LVM prints it: 32 letters and digits in groups of 6-4-4-4-4-4-6. The same
    /// value is in the PV label (blkid's UUID) and in the VG metadata.
    public var pvUUID: String
    /// The name of the volume group the PV belongs to; nil for a PV in no VG (an orphan).
    public var vgName: String?
    /// The volume group's UUID, in the same form as `pvUUID`; nil for an orphan.
    public var vgUUID: String?

    /// An identity as `read(_:)` would report it.
    public init(device: String, pvUUID: String, vgName: String? = nil, vgUUID: String? = nil) {
        self.device = device
        self.pvUUID = pvUUID
        self.vgName = vgName
        self.vgUUID = vgUUID
    }

    /// Reads it with LVM's tools restricted to this one device (never scanning the host's disks).
    ///
    /// Returns nil when blkid -p finds no LVM2_member signature on `device`. Runs `blkid -p` and
    /// `lvm pvs` (confined as `LVMIdentityChanger` describes; a VG owned by another system ID is
    /// read all the same). Throws `InputError` when `device` is no block device;
    /// `FilesystemUUIDError` when LVM cannot read the PV, or its label and its VG metadata name
    /// different PV UUIDs (an identity change was interrupted: running it again finishes or undoes
    /// it); `MissingProgramError` without lvm2. Writes nothing.
    public static func read(_ device: String) throws -> LVMPhysicalVolume? {
        guard let report = try LVMReport.read(device) else { return nil }
        return LVMPhysicalVolume(device: device, pvUUID: report.pvUUID, vgName: report.vgName, vgUUID: report.vgUUID)
    }
}

/// Sets the LVM identity of one PV (its PV UUID, its VG's UUID and name) to given values, on a
/// device whose LVs are not active on this host.
///
/// What LVM offers, as found with LVM 2.03.16 (Debian 12) on loop devices, in a container
/// without udev, device-mapper or lvmetad:
///
/// - `pvchange --uuid` and `vgchange --uuid` only ever set *random* UUIDs ("Generate new random
///   UUID"), and `vgimportclone` (LVM's own tool for cloned PVs) likewise picks random PV and VG
///   UUIDs and renames the VG (`vgclone` becomes `vgclone1` even when no other VG of that name is
///   visible; `-n NAME` chooses the base name, and `-n` with the VG's current name hangs for ever,
///   waiting for a lock on its own VG that it already holds). None of them can set a value back,
///   so none of them can undo.
/// - `vgcfgrestore -f FILE VG` writes VG metadata from a text file (what `vgcfgbackup` or
///   `pvck --dump metadata` write) to the PVs whose labels carry the PV UUIDs the file names. A
///   file whose VG `id` was edited sets that VG UUID, and nothing else changes: `vgcfgbackup`
///   before and after differ only in `seqno` (the restore writes the file's seqno + 1).
/// - The PV UUID is also in the PV label, so a new one needs a new label first. The documented
///   route, `pvcreate -ff --uuid NEW --restorefile FILE` then `vgcfgrestore`, keeps the data area
///   (same pe_start) but *wipes the current metadata copy* (the start of the metadata area): if
///   the host dies between the two commands, only stale metadata copies are left on the disk.
///   `pvck --repairtype pv_header --settings pv_uuid=NEW -f FILE` instead rewrites only the label
///   sector (keeping data offset, both metadata areas and device size); between it and the
///   vgcfgrestore the current metadata stays intact (LVM then reports the VG as missing its PV,
///   and `pvs DEVICE` fails), so running the change again, in either direction, finishes it. That
///   is what `setIdentity` does. pvck needs `-y`, and rejects `--devices` in 2.03.16 ("device is
///   not in devices list"), so it runs confined by the filter alone.
/// - Data is untouched: a checksum of every extent, LVs' segments (`lvs -o seg_pe_ranges`), and
///   `vgck`/`pvck` stay the same after a change and after changing back; two metadata areas stay
///   two; thin pools need `vgcfgrestore --force` (LVM's warning is about older metadata whose
///   transaction ids no longer match the pool; ours differs only in its ids).
/// - A VG with a system ID (`system_id_source` on the template) is foreign to this host, and LVM
///   refuses to touch it ("Cannot access VG … with system ID … with unknown local system ID";
///   `local/extra_system_ids` does not help while the host has no system ID). Confined to the one
///   device, the commands simply take the VG's own system ID as theirs; the VG keeps it.
/// - `vgrename` renames the VG (undo is the same with the names swapped).
/// - `pvcreate -f --uuid NEW --norestorefile` re-creates an orphan PV (it has no extents in use);
///   given the old metadata area count and size and the old data offset as alignment, the layout
///   comes out the same.
///
/// Every command runs as `lvm COMMAND --devices DEVICE --config '…'` with
/// `LVM_SUPPRESS_FD_WARNINGS=1`, stdin from /dev/null, and a configuration that
/// - accepts the one device in `filter` and `global_filter` and rejects all others (with
///   `--devices`, LVM 2.03.16 ignores the filter, so each confines on its own; LVM still stats
///   the nodes in /dev, but opens no other block device), with the devices file, udev's device
///   list and hints (/run/lvm/hints) off;
/// - turns activation off (`global/activation=0`): no device-mapper table is ever loaded or
///   renamed. This matters on a host that runs the template's VG, with the same name and UUID:
///   `vgrename` would otherwise rename the *host's* active LVs, and vgcfgrestore counts active dm
///   devices by VG *name* (it asks, and we answer `--yes`, since `HostDeviceUse.reason` already
///   found nothing holding this very device);
/// - turns off `backup` and `archive`, so the guest's metadata never lands in the host's
///   /etc/lvm/backup (where it could overwrite the backup of a host VG with the same name).
///
/// A VG spanning several PVs, a shared (lvmlockd) VG, a PV without a metadata area and a PV
/// whose label is not in sector 1 are refused. Renaming the VG does not update what refers to it
/// (fstab, the kernel command line, `rd.lvm.vg=`): that is up to the caller.
public enum LVMIdentityChanger {
    /// A new random UUID in LVM's format (32 chars, 6-4-4-4-4-4-6 with dashes).
    ///
    /// Uses LVM's own alphabet (0-9, a-z, A-Z), each character uniformly from getrandom(2).
    /// Throws `SystemError` when getrandom fails.
    public static func newUUID() throws -> String {
        var characters: [UInt8] = []
        while characters.count < 32 {
            // 248 = 4 × 62: taking bytes below it keeps every character equally likely.
            for byte in try RandomBytes.generate(48) where byte < 248 && characters.count < 32 {
                characters.append(uuidAlphabet[Int(byte) % uuidAlphabet.count])
            }
        }
        return formatted(characters)
    }

    /// Sets the PV UUID and the VG UUID of the PV on `device` to the given values (so that undo
    /// can set the old ones back exactly) and returns what the tools printed.
    ///
    /// The device must be unused on this host (`HostDeviceUse.reason`): a VG with LVs active here
    /// holds its PV through device-mapper and is refused. `pvUUID` and `vgUUID` are in LVM's
    /// form, with or without the dashes; `vgUUID` must be nil exactly when the PV belongs to no
    /// VG. Nothing is run when the device already has both (the result is then empty). For a PV in a VG: `pvck --dump metadata` saves the metadata on the
    /// PV, the ids in it are replaced, `pvck --repairtype pv_header` writes the new PV UUID into
    /// the label (only when it changes) and `vgcfgrestore` writes the metadata; should
    /// vgcfgrestore fail, the old label is written back. The PV is read again afterwards and the
    /// change counts only when LVM reports the new values. An interrupted change (label written,
    /// metadata not) is finished or undone by calling this again with either set of values.
    ///
    /// Throws `InputError` for a malformed UUID, a device that is no block device or no PV, or a
    /// `vgUUID` that does not match whether the PV is in a VG; `FilesystemUUIDError` (one line:
    /// device, LVM's own reason, what to do) when the host uses the device, the VG spans several
    /// PVs or is shared, or a tool fails; `MissingProgramError` without lvm2.
    /// Side effect: rewrites the PV label and the VG metadata on the device (the extents stay).
    @discardableResult
    public static func setIdentity(pvUUID: String, vgUUID: String?, on device: String) throws -> String {
        let newPV = try requireWellFormed(pvUUID, of: "PV")
        let newVG = try vgUUID.map { try requireWellFormed($0, of: "VG") }
        try refuseIfHostUses(device, change: "the LVM identity of")
        let label = try requireLabel(on: device)
        let lvm = try ConfinedLVM(device: device)
        try lvm.requirePVCKRepair()
        let workDirectory = try PrivateWorkDirectory(prefix: "sanitize-clone-lvm.", purpose: "LVM metadata")

        guard let metadata = try lvm.dumpMetadata(into: workDirectory, name: "current.vg") else {
            return try setOrphanIdentity(newPV, vgUUID: newVG, on: device, label: label, lvm: lvm)
        }
        let vg = metadata.vgName
        try refuseUnsupported(vg, on: device, refusal: "Refusing to change the LVM identity of \(device): its VG \(vg)",
                              physicalVolumes: metadata.physicalVolumeUUIDs.count, lockType: metadata.lockType,
                              spanAdvice: "`vgimportclone`, which gives them new random UUIDs",
                              sharedAdvice: "change it where lvmlockd runs, or make it local first with `vgchange --locktype none \(vg)`")
        guard let newVG else {
            throw InputError("\(device) belongs to the volume group \(vg) (UUID \(metadata.vgUUID)): give a VG UUID too (use LVMIdentityChanger.newUUID())")
        }
        let currentPV = metadata.physicalVolumeUUIDs[0]
        if label == newPV && currentPV == newPV && metadata.vgUUID == newVG { return "" }

        let owner = lvm.actingAs(systemID: metadata.systemID)
        let wanted = metadata.replacingIdentity(pvUUID: newPV, vgUUID: newVG)
        // The label as it was, with metadata naming it, for writing the label back.
        let previous = metadata.replacingIdentity(pvUUID: label, vgUUID: metadata.vgUUID)
        try workDirectory.write("wanted.vg", Array(wanted.utf8))
        try workDirectory.write("previous.vg", Array(previous.utf8))

        var transcript: [ProgramOutput] = []
        if label != newPV {
            let result = try owner.writeLabel(pvUUID: newPV, metadata: workDirectory.pathForOtherProgram("wanted.vg"))
            transcript.append(result)
            try check(result, device, vg, "pvck", advice: "check the PV with `pvck --dump headers \(device)`, then retry")
        }
        var restoreArguments = ["--yes", "-f", workDirectory.pathForOtherProgram("wanted.vg"), vg]
        if metadata.hasThinPool { restoreArguments.insert("--force", at: 0) }
        let restore = try owner.run("vgcfgrestore", restoreArguments)
        transcript.append(restore)
        if restore.exitCode != 0 {
            var advice = "check the VG with `vgck \(vg)`, then retry"
            if label != newPV {
                let back = try owner.writeLabel(pvUUID: label, metadata: workDirectory.pathForOtherProgram("previous.vg"))
                transcript.append(back)
                advice = back.exitCode == 0
                    ? "the old PV label was written back; check the VG with `vgck \(vg)`, then retry"
                    : "writing the old PV label back failed too: run this change again to finish or undo it"
            }
            throw FilesystemUUIDError(
                device: device, toolOutput: render(transcript),
                summary: "Failed to change the LVM identity of \(device) (VG \(vg)) with vgcfgrestore\(reasonSuffix(restore.output)) (\(advice))")
        }

        let printed = render(transcript)
        let after = try? LVMReport.read(device)
        guard let after, after.pvUUID == newPV, after.vgUUID == newVG, after.vgName == vg else {
            let shown = after.map { "PV \($0.pvUUID) in VG \($0.vgName ?? "none") (\($0.vgUUID ?? "no UUID"))" } ?? "a PV it cannot read"
            throw FilesystemUUIDError(
                device: device, toolOutput: printed,
                summary: "Failed to change the LVM identity of \(device) (VG \(vg)): the tools reported success but LVM now shows \(shown) (check it with `pvck \(device)`, then run the change again)")
        }
        return printed
    }

    /// Renames the VG on `device` (for a clone whose VG name collides with the template's); undo
    /// is the same with the names swapped.
    ///
    /// Nothing is run when the VG on `device` is already called `to` (the result is then empty).
    /// Runs `vgrename FROM TO` confined to the device, so a host VG called `to` (or `from`) is
    /// neither seen nor touched, and reads the PV again afterwards. Throws `InputError` for a name
    /// LVM would reject, a device that is no PV, or a VG called neither `from` nor `to`;
    /// `FilesystemUUIDError` when the host uses the device, the VG spans several PVs or is
    /// shared, or vgrename fails. Side effect: rewrites the VG metadata. What refers to the VG by
    /// name (fstab, the kernel command line) is left to the caller.
    @discardableResult
    public static func renameVolumeGroup(on device: String, from: String, to: String) throws -> String {
        try requireValidName(from)
        try requireValidName(to)
        try refuseIfHostUses(device, change: "the name of the VG on")
        guard let report = try LVMReport.read(device) else {
            throw InputError("\(device) is not an LVM physical volume (blkid -p finds no LVM2_member signature): probe it again before renaming its VG")
        }
        guard let current = report.vgName else {
            throw InputError("\(device) belongs to no volume group, so there is none to rename from \(from) to \(to): read it again with LVMPhysicalVolume.read(_:)")
        }
        if current == to { return "" }
        guard current == from else {
            throw InputError("The VG on \(device) is called \(current), neither \(from) nor \(to): read it again with LVMPhysicalVolume.read(_:) before renaming it")
        }
        try refuseUnsupported(from, on: device, refusal: "Refusing to rename the VG \(from) on \(device): it",
                              physicalVolumes: report.physicalVolumeCount,
                              lockType: report.lockType, spanAdvice: "`vgimportclone -n \(to)`", sharedAdvice: "rename it where lvmlockd runs")
        let lvm = try ConfinedLVM(device: device).actingAs(systemID: report.systemID)
        let result = try lvm.run("vgrename", [from, to])
        try check(result, device, from, "vgrename", advice: "check the VG with `vgck \(from)`, then retry")
        let after = try? LVMReport.read(device)
        guard after?.vgName == to else {
            throw FilesystemUUIDError(
                device: device, toolOutput: render([result]),
                summary: "Failed to rename the VG \(from) on \(device) to \(to): vgrename reported success but LVM now shows \(after?.vgName ?? "no VG") (check it with `vgck`, then retry)")
        }
        return render([result])
    }

    /// The content of an LVM devices file (`/etc/lvm/devices/system.devices`) with each PVID
    /// that is a key of `pvids` replaced by its value, or nil when no entry names one of them.
    ///
    /// Each entry is a line like `IDTYPE=devname IDNAME=/dev/vda2 DEVNAME=/dev/vda2 PVID=… PART=2`,
    /// where PVID is the PV UUID without dashes; keys and values may be given with or without
    /// dashes. Comment lines and the other fields stay as they are. When something changed, the
    /// counter in `VERSION=1.1.N` goes up by one, as LVM does on each write (LVM compares it to
    /// notice that another command changed the file). An entry for a PV stacked on an LV
    /// (`IDTYPE=lvmlv_uuid IDNAME=LVM-<vg uuid><lv uuid>`) names a VG UUID, which this leaves alone.
    /// Pure: reads and writes nothing.
    public static func rewrittenDevicesFile(_ text: String, pvids: [String: String]) -> String? {
        var replacements: [String: String] = [:]
        for (old, new) in pvids { replacements[withoutDashes(old)] = withoutDashes(new) }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var changed = false
        for index in lines.indices where !lines[index].hasPrefix("#") {
            var fields = lines[index].split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            for field in fields.indices where fields[field].hasPrefix("PVID=") {
                if let new = replacements[String(fields[field].dropFirst(5))], "PVID=\(new)" != fields[field] {
                    fields[field] = "PVID=\(new)"
                    changed = true
                }
            }
            lines[index] = fields.joined(separator: " ")
        }
        guard changed else { return nil }
        if let index = lines.firstIndex(where: { $0.hasPrefix("VERSION=") }) {
            let numbers = lines[index].dropFirst("VERSION=".count).split(separator: ".", omittingEmptySubsequences: false)
            if numbers.count == 3, let counter = UInt32(numbers[2]) {
                lines[index] = "VERSION=\(numbers[0]).\(numbers[1]).\(counter &+ 1)"
            }
        }
        return lines.joined(separator: "\n")
    }

    // MARK: - Orphan PVs

    /// A PV in no VG: `pvcreate -f` with the new UUID and the old layout (it has no extents in use).
    private static func setOrphanIdentity(_ newPV: String, vgUUID: String?, on device: String, label: String, lvm: ConfinedLVM) throws -> String {
        guard let report = try LVMReport.read(device) else {
            throw InputError("\(device) carries no LVM signature any more (blkid -p finds none): probe it again before changing its LVM identity")
        }
        guard report.vgName == nil, report.metadataAreaCount > 0 else {
            throw FilesystemUUIDError(
                device: device,
                summary: "Refusing to change the LVM identity of \(device): it has no VG metadata of its own (no metadata area, or one LVM ignores), so its VG lives on other PVs (attach them all and use `vgimportclone`)")
        }
        if let vgUUID {
            throw InputError("\(device) belongs to no volume group, so it cannot get the VG UUID \(vgUUID): give nil as the VG UUID")
        }
        if label == newPV { return "" }
        var arguments = ["-f", "-y", "--uuid", newPV, "--norestorefile",
                         "--pvmetadatacopies", String(report.metadataAreaCount),
                         "--metadatasize", "\(report.metadataAreaSize)b",
                         "--dataalignment", "\(report.dataStart)b"]
        if report.bootloaderAreaSize > 0 { arguments += ["--bootloaderareasize", "\(report.bootloaderAreaSize)b"] }
        let result = try lvm.run("pvcreate", arguments + [lvm.device])
        try check(result, device, nil, "pvcreate", advice: "check the PV with `pvck \(device)`, then retry")
        let after = try? LVMReport.read(device)
        guard let after, after.pvUUID == newPV, after.vgName == nil else {
            throw FilesystemUUIDError(
                device: device, toolOutput: render([result]),
                summary: "Failed to change the PV UUID of \(device) with pvcreate: it reported success but LVM now shows \(after?.pvUUID ?? "no PV") (check it with `pvck \(device)`, then retry)")
        }
        guard after.dataStart == report.dataStart, after.metadataAreaCount == report.metadataAreaCount else {
            throw FilesystemUUIDError(
                device: device, toolOutput: render([result]),
                summary: "Changed the PV UUID of \(device) but its layout changed too (data start \(report.dataStart) → \(after.dataStart) bytes, metadata areas \(report.metadataAreaCount) → \(after.metadataAreaCount)); it is in no VG, so no data is lost (re-create it with `pvcreate` as needed)")
        }
        return render([result])
    }

    // MARK: - Checks

    /// The characters of an LVM UUID (lib/uuid/uuid.c).
    private static let uuidAlphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    /// `uuid` in LVM's dashed form; throws `InputError` unless it is 32 characters of the
    /// alphabet, with or without dashes.
    static func requireWellFormed(_ uuid: String, of kind: String) throws -> String {
        let characters = Array(withoutDashes(uuid).utf8)
        guard characters.count == 32, characters.allSatisfy(uuidAlphabet.contains) else {
            throw InputError("\(uuid) is not an LVM \(kind) UUID (expected 32 letters and digits such as 0fE2bq-3d1A-4c5e-9b7a-2e4d-6f8a-0c1bXy; use LVMIdentityChanger.newUUID())")
        }
        return formatted(characters)
    }

    /// 6-4-4-4-4-4-6, as LVM prints a UUID (`id_write_format`).
    private static func formatted(_ characters: [UInt8]) -> String {
        var groups: [String] = []
        var start = 0
        for length in [6, 4, 4, 4, 4, 4, 6] {
            groups.append(String(decoding: characters[start..<start + length], as: UTF8.self))
            start += length
        }
        return groups.joined(separator: "-")
    }

    private static func withoutDashes(_ uuid: String) -> String {
        uuid.filter { $0 != "-" }
    }

    /// LVM's rule for VG names (`validate_name`): letters, digits and `+_.-`, not starting with a
    /// dash, not `.` or `..`, at most 127 characters.
    static func requireValidName(_ name: String) throws {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
        guard allowed, !name.isEmpty, name.utf8.count <= 127, !name.hasPrefix("-"), name != ".", name != ".." else {
            throw InputError("\"\(name)\" is not a valid VG name (use letters, digits and + _ . -, not starting with -, at most 127 characters)")
        }
    }

    /// Refuses a VG spanning several PVs, or shared through lvmlockd: `refusal` starts the
    /// one-line error ("Refusing to … its VG vg0"), the advice ends it.
    private static func refuseUnsupported(_ vg: String, on device: String, refusal: String, physicalVolumes: Int, lockType: String?,
                                          spanAdvice: String, sharedAdvice: String) throws {
        if physicalVolumes != 1 {
            throw FilesystemUUIDError(
                device: device,
                summary: "\(refusal) spans \(physicalVolumes) PVs (only a single-PV VG is supported; attach all its PVs and use \(spanAdvice))")
        }
        if let lockType {
            throw FilesystemUUIDError(device: device, summary: "\(refusal) is shared (lock type \(lockType)) (\(sharedAdvice))")
        }
    }

    private static func refuseIfHostUses(_ device: String, change: String) throws {
        if let reason = try HostDeviceUse.reason(device) {
            throw FilesystemUUIDError(
                device: device,
                summary: "Refusing to change \(change) \(device): it is \(reason) (deactivate its LVs with `vgchange -an VG`, or detach it from this host, then retry)")
        }
    }

    /// The PV UUID in the label, which must be in sector 1 (where pvcreate puts it and pvck
    /// writes it).
    private static func requireLabel(on device: String) throws -> String {
        guard let identity = try BlockDeviceIdentity.probe(device), identity.type == "LVM2_member",
              let uuid = identity.uuid else {
            throw InputError("\(device) is not an LVM physical volume (blkid -p finds no LVM2_member signature): probe it again before changing its LVM identity")
        }
        let fd = try System.open(device, O_RDONLY)
        defer { System.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 2048)
        let count = try bytes.withUnsafeMutableBytes { buffer in
            try System.read(fd, into: buffer, at: 0, operation: "read the LVM label of", path: device)
        }
        let magic = Array("LABELONE".utf8)
        let sector = (0..<4).first { sector in
            sector * 512 + 8 <= count && Array(bytes[(sector * 512)..<(sector * 512 + 8)]) == magic
        }
        guard sector == 1 else {
            throw FilesystemUUIDError(
                device: device,
                summary: "Refusing to change the LVM identity of \(device): its PV label is \(sector.map { "in sector \($0)" } ?? "not in the first four sectors"), not in sector 1 where pvck writes it (leave this PV out)")
        }
        return try requireWellFormed(uuid, of: "PV")
    }

    // MARK: - Messages

    /// Throws `FilesystemUUIDError` unless `result` exited 0.
    private static func check(_ result: ProgramOutput, _ device: String, _ vg: String?, _ tool: String, advice: String) throws {
        guard result.exitCode != 0 else { return }
        let what = vg.map { " (VG \($0))" } ?? ""
        throw FilesystemUUIDError(
            device: device, toolOutput: result.output,
            summary: "Failed to change the LVM identity of \(device)\(what) with \(tool)\(reasonSuffix(result.output)) (\(advice))")
    }

    /// ": <LVM's reason>" on one line without the warnings every confined command prints, or
    /// nothing when nothing else is left.
    static func reasonSuffix(_ output: String) -> String {
        let noise = ["Activation disabled", "/dev/mapper/control", "device-mapper", "libdevmapper",
                     "Failed to check for active volumes", "metadata update is NOT backed up"]
        let kept = output.split(whereSeparator: \.isNewline).filter { line in
            !noise.contains { line.contains($0) }
        }.joined(separator: "\n")
        let reason = FilesystemUUIDError.oneLineReason(kept)
        return reason.isEmpty ? "" : ": \(reason)"
    }

    /// Each command and what it printed.
    private static func render(_ transcript: [ProgramOutput]) -> String {
        transcript.map { "\($0.command)\n\($0.output)" }.joined(separator: "\n")
    }
}

/// What `pvs` reports about one PV, checked against its label.
struct LVMReport {
    var pvUUID: String
    var vgName: String?
    var vgUUID: String?
    var systemID: String?
    var lockType: String?
    /// Every PV the VG's metadata names, missing ones included.
    var physicalVolumeCount: Int
    var metadataAreaCount: Int
    var metadataAreaSize: UInt64
    var dataStart: UInt64
    var bootloaderAreaSize: UInt64

    private static let fields = "pv_uuid,vg_name,vg_uuid,vg_systemid,vg_lock_type,pv_count,pv_mda_count,pv_mda_size,pe_start,pv_ba_size"

    /// Nil when blkid -p finds no LVM2_member signature. `--foreign` and `--shared` make pvs
    /// report VGs it would skip on this host (another system ID, lvmlockd).
    static func read(_ device: String) throws -> LVMReport? {
        guard let identity = try BlockDeviceIdentity.probe(device), identity.type == "LVM2_member" else { return nil }
        let lvm = try ConfinedLVM(device: device)
        let result = try lvm.run("pvs", ["--foreign", "--shared", "--noheadings", "--nameprefixes", "--unquoted",
                                         "--units", "b", "--nosuffix", "-o", fields, lvm.device])
        let line = result.output.split(whereSeparator: \.isNewline).first { $0.contains("LVM2_PV_UUID=") }
        guard result.exitCode == 0, let line else {
            throw FilesystemUUIDError(
                device: device, toolOutput: result.output,
                summary: "LVM cannot read the PV on \(device) (its label says PV UUID \(identity.uuid ?? "none"))\(LVMIdentityChanger.reasonSuffix(result.output)) (if a change of its LVM identity was interrupted, run it again to finish or undo it; otherwise check it with `pvck \(device)`)")
        }
        var values: [String: String] = [:]
        for field in line.split(separator: " ") {
            guard let equals = field.firstIndex(of: "=") else { continue }
            values[String(field[..<equals])] = String(field[field.index(after: equals)...])
        }
        func text(_ key: String) -> String? { values["LVM2_\(key)"].flatMap { $0.isEmpty ? nil : $0 } }
        func number(_ key: String) -> UInt64 { text(key).flatMap { UInt64($0) } ?? 0 }
        guard let pvUUID = text("PV_UUID") else {
            throw FilesystemUUIDError(device: device, toolOutput: result.output,
                                      summary: "LVM reports no PV UUID for \(device) (check it with `pvck \(device)`)")
        }
        if let label = identity.uuid, label != pvUUID {
            throw FilesystemUUIDError(
                device: device, toolOutput: result.output,
                summary: "The PV label on \(device) says PV UUID \(label) but its VG metadata names \(pvUUID) (a change of its LVM identity was interrupted: run it again to finish or undo it)")
        }
        return LVMReport(
            pvUUID: pvUUID, vgName: text("VG_NAME"), vgUUID: text("VG_UUID"), systemID: text("VG_SYSTEMID"),
            lockType: text("VG_LOCK_TYPE"), physicalVolumeCount: Int(clamping: number("PV_COUNT")),
            metadataAreaCount: Int(clamping: number("PV_MDA_COUNT")),
            metadataAreaSize: number("PV_MDA_SIZE"), dataStart: number("PE_START"), bootloaderAreaSize: number("PV_BA_SIZE"))
    }
}

/// The `lvm` program confined to one device, with activation, udev, the devices file, hints and
/// metadata backups off (see `LVMIdentityChanger` for why each matters).
struct ConfinedLVM {
    /// The device's canonical path (symlinks resolved), the only one LVM may open.
    let device: String
    /// The system ID the commands take as theirs: the VG's own, so a foreign VG can be changed.
    private(set) var systemID: String?
    private let program: Program

    /// Throws `InputError` when `device` is no block device or its canonical path holds
    /// characters we do not put into an LVM filter; `MissingProgramError` without lvm2.
    init(device: String) throws {
        _ = try BlockDeviceNumber(of: device)
        let path = try System.canonicalPath(device)
        guard path.hasPrefix("/"), path.utf8.allSatisfy(Self.isPathCharacter) else {
            throw InputError("\(device) resolves to \(path), a name LVM's device filter cannot be given safely (attach the image as a loop device and pass /dev/loopN)")
        }
        self.device = path
        program = try Program.find("lvm", package: "lvm2")
    }

    /// The same, acting as the host with `systemID` (nil or empty: the host's own setting).
    func actingAs(systemID: String?) -> ConfinedLVM {
        var copy = self
        copy.systemID = systemID.flatMap { id in
            !id.isEmpty && id.utf8.allSatisfy(Self.isNameCharacter) ? id : nil
        }
        return copy
    }

    /// Runs `lvm COMMAND --devices DEVICE --config CONFIGURATION ARGUMENTS…` (pvck without
    /// `--devices`, which it rejects).
    func run(_ command: String, _ arguments: [String]) throws -> ProgramOutput {
        let devices = command == "pvck" ? [] : ["--devices", device]
        return try program.run([command] + devices + ["--config", configuration] + arguments,
                               environment: Program.defaultEnvironment + ["LVM_SUPPRESS_FD_WARNINGS=1"])
    }

    /// Throws unless this LVM's pvck can rewrite a PV label (`--repairtype`).
    func requirePVCKRepair() throws {
        let help = try program.run(["pvck", "--help"])
        guard help.output.contains("--repairtype") else {
            throw InputError("This host's LVM cannot write a PV label with a given UUID (its pvck has no --repairtype): install a newer lvm2 to change LVM identities")
        }
    }

    /// The VG metadata on the device (`pvck --dump metadata`, first metadata area), or nil when
    /// it holds none (an orphan PV). Throws `FilesystemUUIDError` when pvck fails.
    func dumpMetadata(into directory: PrivateWorkDirectory, name: String) throws -> LVMMetadataText? {
        let result = try run("pvck", ["--dump", "metadata", "-f", directory.pathForOtherProgram(name), device])
        guard result.exitCode == 0 else {
            throw FilesystemUUIDError(
                device: device, toolOutput: result.output,
                summary: "Failed to read the LVM metadata on \(device) with pvck\(LVMIdentityChanger.reasonSuffix(result.output)) (check it with `pvck --dump headers \(device)`)")
        }
        guard let fd = try System.allowing([ENOENT], {
            try System.open(name, in: directory.descriptor, O_RDONLY | O_NOFOLLOW, path: "\(directory.path)/\(name)")
        }) else { return nil }
        defer { System.close(fd) }
        let text = String(decoding: try FileDescriptorIO.readAll(fd, path: name, limit: 64 << 20), as: UTF8.self)
        return try LVMMetadataText(parsing: text, device: device)
    }

    /// `pvck --repairtype pv_header`: a new label with `pvUUID`, its other fields from the
    /// device's headers and from `metadata` (a file whose PV has that UUID).
    func writeLabel(pvUUID: String, metadata: String) throws -> ProgramOutput {
        try run("pvck", ["-y", "--repairtype", "pv_header", "--settings", "pv_uuid=\(pvUUID)", "-f", metadata, device])
    }

    /// The `--config` string. The filter's pattern is the device path with every character that
    /// means something in a regular expression put in brackets.
    private var configuration: String {
        let pattern = device.map { character in
            character.isLetter || character.isNumber || character == "/" || character == "_" ? String(character) : "[\(character)]"
        }.joined()
        let filter = "[\"a|^\(pattern)$|\", \"r|.*|\"]"
        var global = "activation=0"
        var local = ""
        if let systemID {
            global += " system_id_source=\"lvmlocal\""
            local = " local { system_id=\"\(systemID)\" }"
        }
        return "devices { filter=\(filter) global_filter=\(filter) use_devicesfile=0 obtain_device_list_from_udev=0"
            + " external_device_info_source=\"none\" hints=\"none\" scan_lvs=0 }"
            + " activation { udev_sync=0 udev_rules=0 monitoring=0 }"
            + " global { \(global) } backup { backup=0 archive=0 }" + local
    }

    private static func isNameCharacter(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }

    private static func isPathCharacter(_ byte: UInt8) -> Bool {
        isNameCharacter(byte) || byte == UInt8(ascii: "/")
    }
}

/// VG metadata in LVM's text format, as `pvck --dump metadata` and `vgcfgbackup` write it:
/// `vgname { id = "…" … physical_volumes { pv0 { id = "…" … } } logical_volumes { … } }`.
///
/// Only the VG's `id` and its PV's `id` are ever edited, in place, so everything else (extents,
/// segments, flags, tags) goes back to the disk exactly as it was read.
struct LVMMetadataText {
    private var lines: [String]
    /// The VG's name: the one section at the top level.
    let vgName: String
    let vgUUID: String
    /// The `id` of each section under `physical_volumes`, in order.
    let physicalVolumeUUIDs: [String]
    let systemID: String?
    let lockType: String?
    /// True when an LV is a thin pool (vgcfgrestore then needs `--force`).
    let hasThinPool: Bool
    private let vgIDLine: Int
    private let pvIDLines: [Int]

    /// Parses `text`; nil when it holds no VG. Throws `FilesystemUUIDError` when the VG has no
    /// id or a PV section has none.
    init?(parsing text: String, device: String) throws {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var sections: [String] = []
        var name: String?, vgID: (line: Int, value: String)?, systemID: String?, lockType: String?
        var pvIDs: [(line: Int, value: String)] = []
        var pvSections = 0
        var thinPool = false
        for (index, line) in lines.enumerated() {
            let code = Self.withoutComment(line).trimmingWhitespace()
            if code.hasSuffix("{") {
                let section = String(code.dropLast()).trimmingWhitespace()
                if sections.isEmpty {
                    guard name == nil else {
                        throw FilesystemUUIDError(
                            device: device, toolOutput: text,
                            summary: "The LVM metadata on \(device) holds two VGs, \(name ?? "") and \(section) (check it with `pvck --dump metadata \(device)`)")
                    }
                    name = section
                }
                if sections.count == 2 && sections[1] == "physical_volumes" { pvSections += 1 }
                sections.append(section)
                continue
            }
            if code == "}" {
                _ = sections.popLast()
                continue
            }
            guard let (key, value) = Self.assignment(code) else { continue }
            if sections.count == 1 {
                switch key {
                case "id": vgID = (index, value)
                case "system_id": systemID = value.isEmpty ? nil : value
                case "lock_type": lockType = value.isEmpty || value == "none" ? nil : value
                default: break
                }
            } else if sections.count == 3 && sections[1] == "physical_volumes" && key == "id" {
                pvIDs.append((index, value))
            }
            if key == "type" && value == "thin-pool" { thinPool = true }
        }
        guard let name else { return nil }
        guard let vgID, pvIDs.count == pvSections else {
            throw FilesystemUUIDError(
                device: device, toolOutput: text,
                summary: "The LVM metadata on \(device) (VG \(name)) lacks the id of its VG or of a PV (check it with `pvck --dump metadata \(device)`)")
        }
        vgName = name
        vgUUID = vgID.value
        vgIDLine = vgID.line
        physicalVolumeUUIDs = pvIDs.map(\.value)
        pvIDLines = pvIDs.map(\.line)
        self.systemID = systemID
        self.lockType = lockType
        hasThinPool = thinPool
    }

    /// The text with the VG's id and its (only) PV's id replaced.
    func replacingIdentity(pvUUID: String, vgUUID: String) -> String {
        var edited = lines
        edited[vgIDLine] = Self.replacingValue(in: edited[vgIDLine], with: vgUUID)
        for line in pvIDLines { edited[line] = Self.replacingValue(in: edited[line], with: pvUUID) }
        return edited.joined(separator: "\n")
    }

    /// `key = "value"` with another value, indentation kept.
    private static func replacingValue(in line: String, with value: String) -> String {
        guard let open = line.firstIndex(of: "\""), let close = line.lastIndex(of: "\""), open < close else { return line }
        return String(line[...open]) + value + String(line[close...])
    }

    /// The line up to a `#` that is not inside a string.
    private static func withoutComment(_ line: String) -> Substring {
        var inString = false, escaped = false
        for index in line.indices {
            let character = line[index]
            if escaped { escaped = false; continue }
            if inString && character == "\\" { escaped = true; continue }
            if character == "\"" { inString.toggle() }
            if character == "#" && !inString { return line[..<index] }
        }
        return line[...]
    }

    /// `key = value` with a string value unquoted (escapes undone); nil for any other line.
    private static func assignment(_ code: String) -> (String, String)? {
        guard let equals = code.firstIndex(of: "=") else { return nil }
        let key = String(code[..<equals]).trimmingWhitespace()
        guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        let raw = code[code.index(after: equals)...].trimmingWhitespace()
        guard raw.hasPrefix("\"") else { return (key, raw) }
        var value = "", escaped = false
        for character in raw.dropFirst() {
            if escaped { value.append(character); escaped = false; continue }
            if character == "\\" { escaped = true; continue }
            if character == "\"" { break }
            value.append(character)
        }
        return (key, value)
    }
}
