/// Gives the clone's disk image a new partition table identity — a new GPT disk GUID and new
/// unique partition GUIDs, or a new MBR disk identifier — and rewrites every `PARTUUID=` reference
/// to them (fstab, crypttab, GRUB's configuration, BLS entries, the kernel command line) in the
/// same run, with the machinery `fs-uuids` uses for UUIDs.
///
/// Offline only (`--image`), in userspace: sfdisk edits the image file the command line named —
/// the one file the run's `DeviceScope` allows, never one a journal names. The EFI system
/// partition keeps its GUID (an MBR disk with one keeps its identifier) unless it holds the
/// firmware's removable-media fallback loader `\EFI\BOOT\BOOTX64.EFI`, read with mtools at its
/// offset: a boot entry in the NVRAM copied with the VM names the ESP by its GUID
/// (`HD(…,GPT,<guid>,…)`), and without the fallback the clone would not boot once it no longer
/// matches. With `--root` or on the running system the task only says so (the next-boot path is
/// not built). Undo sets the old identifiers back on the image file; verify reads them back.
public struct PartitionTableIDsTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        /// One identifier of the table to set.
        struct TableChange: Sendable {
            let field: PartitionTableIdentity.Field
            /// The partition, for a partition GUID.
            let number: Int?
            let old: String
            let new: String
        }
        let image: String
        let label: String
        let tableChanges: [TableChange]
        let writes: [(path: String, contents: String, attributes: FileAttributes)]
    }

    public let name = "partition-table-ids"
    public let summary = "Give the image's partition table a new GPT disk GUID and partition GUIDs (or MBR disk identifier), and rewrite every PARTUUID= reference"
    /// Both tasks rewrite the same reference files: each plans on the other's text and they apply in turn.
    public let runsAfter = ["fs-uuids"]
    public let undoKinds: [any UndoKind] = [PartitionTableIdentityUndo()]

    public init() {}

    /// The removable-media fallback loader of x86-64 firmware, as the ESP holds it.
    static let fallbackLoader = "/EFI/BOOT/BOOTX64.EFI"

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        guard let image = context.deviceScope.imageFile else {
            let what = context.root.isLiveSystem ? "a running clone" : "a --root"
            return .skip("the partition table's identifiers change only with --image for now", notes: [
                "the GPT disk GUID, partition GUIDs and MBR disk identifier of \(what) are left as they are: \(Self.onlyWithImage)",
            ])
        }
        guard let table = try PartitionTableIdentity.read(image: image) else { return .skip("\(image) has no partition table") }
        var notes: [String] = []
        var tableChanges: [Decision.TableChange] = []
        // Old PARTUUID → new, as blkid spells them (lower case).
        var partUUIDs: [String: String] = [:]
        switch table.label {
        case "gpt":
            tableChanges.append(.init(field: .gptDiskGUID, number: nil, old: table.diskID, new: try PartitionTableIdentity.newGUID()))
            for partition in table.partitions {
                guard let old = partition.uuid else { continue }
                if table.isEFISystemPartition(partition), !Self.mayChangeESP(partition, old: old, image: image, notes: &notes) { continue }
                let new = try PartitionTableIdentity.newGUID()
                tableChanges.append(.init(field: .gptPartitionGUID, number: partition.number, old: old, new: new))
                partUUIDs[old.lowercased()] = new.lowercased()
            }
        case "dos":
            if let esp = table.partitions.first(where: table.isEFISystemPartition),
               !Self.mayChangeESP(esp, old: table.diskID, image: image, notes: &notes) {
                return .skip("the MBR disk identifier names the EFI system partition too, so it stays", notes: notes)
            }
            let new = try PartitionTableIdentity.newMBRDiskID()
            tableChanges.append(.init(field: .mbrDiskID, number: nil, old: table.diskID, new: new))
            for partition in table.partitions {
                if let old = table.partUUID(of: partition), let renamed = table.partUUID(of: partition, diskID: new) { partUUIDs[old] = renamed }
            }
        default:
            return .skip("\(image) has a \(table.label) partition table, whose identifiers this task does not change")
        }

        var changes = tableChanges.map { change in
            Change(path: change.number.map { "\(image) partition \($0)" } ?? image,
                   action: change.field == .gptPartitionGUID ? "set-partition-guid" : change.field == .gptDiskGUID ? "set-disk-guid" : "set-disk-id",
                   old: change.old, new: change.new,
                   undo: PartitionTableIdentityUndo.record(change.field, current: change.new, original: change.old))
        }
        var writes: [(path: String, contents: String, attributes: FileAttributes)] = []
        for path in try UUIDReferences.candidateFiles(in: context.root) {
            guard let text = try context.plannedText(path), let status = try context.root.regularFileStatus(of: path),
                  let rewritten = UUIDReferences.rewritten(text, replacing: partUUIDs) else { continue }
            context.planText(rewritten, for: path)
            writes.append((path, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: path, action: "write", old: "references to old PARTUUIDs", new: "references to new PARTUUIDs",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: path)))
        }
        return TaskPlan(changes: changes, decision: Decision(image: image, label: table.label, tableChanges: tableChanges, writes: writes),
                        notes: notes)
    }

    /// Why a running clone's or a `--root`'s partition table keeps its identifiers, and what
    /// changes them: the plan's note and `verify`'s kept lines.
    static let onlyWithImage = "they change only with 'run --image' for now (changing them at the next boot is not built yet): run 'sanitize-clone run --image DISK.raw' on the powered-off VM's disk to change them"

    /// Whether the EFI system partition may get a new identity: only when it holds the
    /// removable-media fallback loader. Says which in `notes`.
    static func mayChangeESP(_ partition: PartitionTableIdentity.Partition, old: String, image: String, notes: inout [String]) -> Bool {
        let what = "partition \(partition.number) (the EFI system partition)"
        let keeps = partition.uuid == nil ? "\(what) keeps the disk identifier \(old)" : "\(what) keeps its GUID \(old)"
        let why = "a firmware boot entry in the NVRAM copied with the VM may name it"
        switch fallbackLoaderState(on: partition, image: image) {
        case .present:
            notes.append("\(what) gets a new \(partition.uuid == nil ? "disk identifier" : "GUID") although \(why): it holds the removable-media fallback loader \\EFI\\BOOT\\BOOTX64.EFI, which the firmware boots when no entry matches")
            return true
        case .absent:
            notes.append("\(keeps): \(why), and it holds no removable-media fallback loader (\\EFI\\BOOT\\BOOTX64.EFI) to boot from when the entry no longer matches")
        case .unknown(let reason):
            notes.append("\(keeps): \(why), and whether it holds the fallback loader \\EFI\\BOOT\\BOOTX64.EFI is unknown (\(reason))")
        }
        return false
    }

    enum FallbackLoaderState: Equatable { case present, absent, unknown(String) }

    /// Looks for the fallback loader on the ESP in userspace (`mdir -b -i IMAGE@@OFFSET`):
    /// this kernel may have no vfat, and the image's partitions are not mounted here anyway.
    static func fallbackLoaderState(on partition: PartitionTableIdentity.Partition, image: String) -> FallbackLoaderState {
        // mtools reads everything after the first "@@" as the offset.
        guard !image.contains("@@") else { return .unknown("the image's path holds \"@@\", which mtools reads as an offset") }
        let result: ProgramOutput
        do {
            let mdir = try Program.find("mdir", package: "mtools")
            result = try mdir.run(["-b", "-i", "\(image)@@\(partition.offset)", "::" + fallbackLoader],
                                  environment: Program.defaultEnvironment + ["MTOOLS_SKIP_CHECK=1"])
        } catch {
            return .unknown("\(error)")
        }
        if result.exitCode == 0 {
            // -b prints the file's own path; a directory of that name lists its entries instead.
            let named = result.output.split(whereSeparator: \.isNewline).contains { $0.uppercased() == "::" + fallbackLoader }
            return named ? .present : .absent
        }
        if result.output.contains("not found") { return .absent }
        return .unknown("mdir cannot read it: \(FilesystemUUIDError.oneLineReason(result.output))")
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        for (index, change) in decision.tableChanges.enumerated() {
            if let number = change.number {
                try PartitionTableIdentity.setPartitionUUID(change.new, number: number, image: decision.image)
            } else {
                try PartitionTableIdentity.setDiskID(change.new, label: decision.label, image: decision.image)
            }
            try context.changeApplied(index)
        }
        let before = decision.tableChanges.count
        let writes = decision.writes.map { RootDirectory.FileWrite(path: $0.path, contents: Array($0.contents.utf8), attributes: $0.attributes) }
        try context.root.writeFilesAtomically(writes) { index in try context.changeApplied(before + index) }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        guard let table = try PartitionTableIdentity.read(image: decision.image) else {
            throw VerificationError("\(decision.image) has no partition table any more")
        }
        for change in decision.tableChanges {
            let now = change.number.map { number in table.partitions.first { $0.number == number }?.uuid ?? "none" } ?? table.diskID
            guard PartitionTableIdentity.same(now, change.new) else {
                throw VerificationError("\(decision.image)\(change.number.map { " partition \($0)" } ?? ""): sfdisk reads \(now), not the new \(change.new)")
            }
        }
        for write in decision.writes where try context.root.readText(write.path) != write.contents {
            throw VerificationError("\(write.path) does not hold the rewritten PARTUUID references")
        }
    }
}

extension PartitionTableIDsTask {
    /// No partition table in view still has the template's GPT disk GUID, a partition GUID of the
    /// template's, or its MBR disk identifier (`StorageIdentities.partitionTables` of the record).
    /// As the plan decides: in `--image` mode each one still the template's fails (naming
    /// `run --image`), except the EFI system partition's this task keeps on purpose (no fallback
    /// loader, `mayChangeESP`), which is kept; on a running clone or a `--root`, whose tables
    /// change only with `--image` (`onlyWithImage`), each one is kept.
    public func cloneChecks(in context: VerificationContext) throws -> [CloneCheck] {
        guard let recorded = context.template?.storage?.partitionTables, !recorded.isEmpty else { return [] }
        let current = try StorageIdentities.current(of: context.root, in: context.deviceScope)
        var checks = current.unreadableTables.map { CloneCheck("partition table can be read", false, $0 + ": run verify as root") }
        let image = context.deviceScope.imageFile
        // Read once per table: whether the image's ESP is kept on purpose, and the note saying why.
        func keptOnPurpose(number: Int?) throws -> String? {
            guard let image, let read = try PartitionTableIdentity.read(image: image),
                  let esp = read.partitions.first(where: read.isEFISystemPartition),
                  number == nil ? read.label == "dos" : esp.number == number else { return nil }
            var notes: [String] = []
            guard !Self.mayChangeESP(esp, old: number == nil ? read.diskID : esp.uuid ?? "", image: image, notes: &notes) else { return nil }
            return (notes.first ?? "the EFI system partition keeps it") + ": put the fallback loader there (grub-install --removable, or bootctl install), then run '\(context.runCommand)' again"
        }
        func stillTheTemplates(_ name: String, _ detail: String, number: Int?) throws -> CloneCheck {
            guard image != nil else { return .kept(name, detail, reason: Self.onlyWithImage) }
            if let why = try keptOnPurpose(number: number) { return .kept(name, detail, reason: why) }
            return CloneCheck(name, false, "\(detail): run '\(context.runCommand)'")
        }
        for table in recorded {
            let what = table.label == "gpt" ? "GPT disk GUID" : "MBR disk identifier"
            let name = "\(what) of \(table.disk) differs from the template's"
            if let same = current.partitionTables.first(where: { PartitionTableIdentity.same($0.diskID, table.diskID) }) {
                checks.append(try stillTheTemplates(name, "\(same.disk) still has the template's \(what) \(table.diskID)", number: nil))
            } else {
                checks.append(CloneCheck(name, true, current.partitionTables.isEmpty ? "no partition table in view has the template's \(table.diskID)"
                                         : "\(current.partitionTables.map { "\($0.disk) has \($0.diskID)" }.joined(separator: ", "))"))
            }
            for partition in table.partitions {
                let name = "GUID of partition \(partition.number) of \(table.disk) differs from the template's"
                let holder = current.partitionTables.lazy.compactMap { now in
                    now.partitions.first { PartitionTableIdentity.same($0.guid, partition.guid) }.map { (now.disk, $0.number) }
                }.first
                guard let holder else {
                    checks.append(CloneCheck(name, true, "no partition in view has the template's \(partition.guid)"))
                    continue
                }
                checks.append(try stillTheTemplates(name, "partition \(holder.1) of \(holder.0) still has the template's GUID \(partition.guid)", number: holder.1))
            }
        }
        return checks
    }
}

/// The undo of `partition-table-ids`: a GPT disk GUID, a GPT partition GUID or an MBR disk
/// identifier set back on the run's disk image (values: the field and the two identifiers, never
/// a file or a device — the image is the one the command line names, `UndoContext.imageFile`).
/// The partition is found by the GUID it has now; when the table already has the old value,
/// nothing is done (undo is idempotent).
struct PartitionTableIdentityUndo: UndoKind {
    let name = "partition-table-id"

    /// How a change from `original` to `current` is journaled.
    static func record(_ field: PartitionTableIdentity.Field, current: String, original: String) -> Change.Undo {
        .inverse(kind: "partition-table-id", values: [field.rawValue, current, original])
    }

    /// The (field, from, to) of a recorded undo of this kind, when `action` is one.
    static func change(in action: UndoAction) -> (field: PartitionTableIdentity.Field, from: String, to: String)? {
        guard case .inverse("partition-table-id", let values) = action, values.count == 3,
              let field = PartitionTableIdentity.Field(rawValue: values[0]) else { return nil }
        return (field, values[1], values[2])
    }

    func validate(_ values: [String]) throws {
        guard values.count == 3, let field = PartitionTableIdentity.Field(rawValue: values[0]) else {
            throw InputError("a partition table undo holds gpt-disk-guid, gpt-partition-guid or mbr-disk-id and two identifiers")
        }
        try PartitionTableIdentity.requireWellFormed(values[1], field: field)
        try PartitionTableIdentity.requireWellFormed(values[2], field: field)
    }

    func summary(_ values: [String]) -> String {
        guard values.count == 3 else { return "set a partition table identifier back" }
        let what = ["gpt-disk-guid": "the GPT disk GUID", "gpt-partition-guid": "the GPT partition GUID", "mbr-disk-id": "the MBR disk identifier"]
        return "set \(what[values[0]] ?? values[0]) \(values[1]) back to \(values[2])"
    }

    func undo(_ values: [String], in context: UndoContext) throws {
        guard let image = context.imageFile else {
            throw InputError("a partition table identifier of a disk image is set back only with the image: run 'sanitize-clone rollback --image DISK.raw --last'")
        }
        guard let field = PartitionTableIdentity.Field(rawValue: values[0]) else { throw InputError("unknown partition table field '\(values[0])'") }
        try Self.setBack(field, from: values[1], to: values[2], image: image)
    }

    /// Sets `to` back where the table of `image` has `from`; nothing when it has `to` already.
    static func setBack(_ field: PartitionTableIdentity.Field, from: String, to: String, image: String) throws {
        guard let table = try PartitionTableIdentity.read(image: image) else {
            throw InputError("\(image) has no partition table any more: restore the image from a copy")
        }
        let label = field == .mbrDiskID ? "dos" : "gpt"
        guard table.label == label else {
            throw InputError("\(image) has a \(table.label) partition table, not the \(label) one the run changed: is it the same image?")
        }
        if field == .gptPartitionGUID {
            if let partition = table.partitions.first(where: { $0.uuid.map { PartitionTableIdentity.same($0, from) } == true }) {
                try PartitionTableIdentity.setPartitionUUID(to, number: partition.number, image: image)
            } else if !table.partitions.contains(where: { $0.uuid.map { PartitionTableIdentity.same($0, to) } == true }) {
                throw InputError("no partition of \(image) has the GUID \(from) (nor \(to)) any more: it changed since the run; set it back with sfdisk --part-uuid")
            }
            return
        }
        if PartitionTableIdentity.same(table.diskID, from) {
            try PartitionTableIdentity.setDiskID(to, label: label, image: image)
        } else if !PartitionTableIdentity.same(table.diskID, to) {
            throw InputError("the disk identifier of \(image) is \(table.diskID), neither \(from) (the run's) nor \(to): it changed since the run; set it back with sfdisk --disk-id \(image) \(to)")
        }
    }
}
