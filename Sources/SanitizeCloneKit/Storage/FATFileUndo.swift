/// The undo of a file rewritten on a FAT volume through mtools (`FATVolume`): its old bytes
/// written back through the same accessor; nothing when the file holds them already.
///
/// Values: the filesystem type (`vfat`), the volume's serial before the run and the serial the
/// run gives it (the same when it keeps it: `fs-uuids` may change it before the files are
/// written), the path inside the volume, then — added by the engine (`Change.Undo.inverseKeeping`)
/// — where the old bytes are in the run's own `files` pack and their SHA-256. Never a device: the
/// volume is the one device of the run's `DeviceScope` of that type with either serial, so a
/// journal cannot lead mtools to a host device; two such devices (the template's disk attached
/// too) are refused.
///
/// mtools writes in place: a crash while it writes can leave the file old, new, cut short or
/// absent. The record and the old bytes are durable before the write, and this undo compares
/// whole contents, so recovery replays it in every case and the file ends byte-identical.
public struct FATFileUndo: UndoKind {
    public let name = "fat-file"
    /// The values a task records; the engine appends four more (pack, offset, length, SHA-256).
    static let recordedCount = 4

    public init() {}

    /// How rewriting `path` on the volume of `type` with serial `serial` (and `serialAfter` once
    /// the run set it) is journaled, keeping `old` in the run's backup pack.
    static func record(type: String, serial: String, serialAfter: String, path: String, old: [UInt8]) -> Change.Undo {
        .inverseKeeping(kind: "fat-file", values: [type, serial, serialAfter, path], backup: old)
    }

    public func validate(_ values: [String]) throws {
        guard values.count == Self.recordedCount + 4 else {
            throw InputError("a FAT file undo holds a type, two serials, a path and the place of its backup")
        }
        guard values[0] == "vfat" else { throw InputError("'\(values[0])' is not a FAT filesystem type (vfat)") }
        try FilesystemUUIDChanger.requireWellFormed(values[1], type: "vfat")
        try FilesystemUUIDChanger.requireWellFormed(values[2], type: "vfat")
        _ = try FATVolume.validatedPath(values[3])
        guard values[4] == RollbackJournal.filesPack, let offset = Int(values[5]), offset >= 0,
              let length = Int(values[6]), (0...FATVolume.readLimit).contains(length),
              values[7].utf8.count == 64, values[7].allSatisfy({ $0.isASCIIHexDigit && !$0.isUppercase }) else {
            throw InputError("a FAT file undo names its backup by the files pack, an offset, a length and a SHA-256")
        }
    }

    public func summary(_ values: [String]) -> String {
        guard values.count >= Self.recordedCount else { return "write a file on a FAT volume back" }
        return "write \(values[3]) back on the FAT volume \(values[1])"
    }

    public func undo(_ values: [String], in context: UndoContext) throws {
        let (type, serial, serialAfter, path) = (values[0], values[1], values[2], values[3])
        let old = try context.backup(BackupLocation(file: values[4], offset: Int(values[5]) ?? -1, length: Int(values[6]) ?? -1), values[7])
        let volume = try FATVolume(device: try Self.device(type: type, serials: [serialAfter, serial], in: try context.devices()))
        if try volume.read(path) == old { return }
        try volume.write(path, contents: old)
    }

    /// The one device of `devices` of `type` with one of `serials`. Throws `InputError` when none
    /// or several have.
    static func device(type: String, serials: [String], in devices: BlockDeviceInventory) throws -> String {
        let wanted = Set(serials.map { $0.lowercased() })
        let matching = devices.devices.filter { $0.type == type && $0.uuid.map { wanted.contains($0.lowercased()) } == true }
        guard matching.count == 1 else {
            let serialsText = serials.count > 1 && serials[0] != serials[1] ? "\(serials[1]) (or \(serials[0]))" : serials[0]
            throw InputError(matching.isEmpty
                ? "no \(type) filesystem of this root has the serial \(serialsText): attach the disk (or image, or name the ESP with --device) and roll back again"
                : "\(matching.count) \(type) filesystems have the serial \(serialsText) (\(matching.map(\.device).joined(separator: ", "))): detach the template's disk and roll back again")
        }
        return matching[0].device
    }
}
