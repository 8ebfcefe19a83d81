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
        /// The image whose table changes now; empty on a running clone (`atNextBoot`).
        let image: String
        let label: String
        let tableChanges: [TableChange]
        /// Set by the initramfs at the next boot (`NextBootPartitionTables`): nothing to set now.
        var atNextBoot = false
        /// Directories created before the writes (the pending list's), parents first.
        var directories: [String] = []
        let writes: [(path: String, contents: String, attributes: FileAttributes)]
        /// Removed after the writes (the pending list, once the initramfs set it).
        var removals: [String] = []
    }

    public let name = "partition-table-ids"
    public let summary = "Give the image's partition table a new GPT disk GUID and partition GUIDs (or MBR disk identifier), and rewrite every PARTUUID= reference"
    /// Both tasks rewrite the same reference files: each plans on the other's text and they apply in turn.
    public let runsAfter = ["fs-uuids"]
    /// A running clone's table is set by the initramfs, which embeds the pending list.
    public let followedBy = ["initramfs"]
    public let undoKinds: [any UndoKind] = [PartitionTableIdentityUndo()]

    public init() {}

    /// The removable-media fallback loader of x86-64 firmware, as the ESP holds it.
    static let fallbackLoader = "/EFI/BOOT/BOOTX64.EFI"

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        if context.root.isLiveSystem {
            if let pending = try NextBootPartitionTables.pending(in: context.root) { return try finishNextBoot(pending, in: context) }
            return try planNextBoot(in: context)
        }
        guard let image = context.deviceScope.imageFile else {
            return .skip("the partition table's identifiers of a --root change only with --image", notes: [
                "the GPT disk GUID, partition GUIDs and MBR disk identifier of a --root are left as they are: \(Self.onlyWithImage)",
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
        let writes = try rewriteReferences(in: context, replacing: partUUIDs, changes: &changes) { _ in true }
        return TaskPlan(changes: changes, decision: Decision(image: image, label: table.label, tableChanges: tableChanges, writes: writes),
                        notes: notes)
    }

    /// Why a running clone's or a `--root`'s partition table keeps its identifiers, and what
    /// changes them: the plan's note and `verify`'s kept lines.
    static let onlyWithImage = "they change with 'run --image' (offline), or on the running clone at its next boot with [Storage] ChangeMountedFilesystems=yes: run 'sanitize-clone run --image DISK.raw' on the powered-off VM's disk to change them"

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
            if decision.atNextBoot {
                try context.changeApplied(index)
                continue
            }
            if let number = change.number {
                try PartitionTableIdentity.setPartitionUUID(change.new, number: number, image: decision.image)
            } else {
                try PartitionTableIdentity.setDiskID(change.new, label: decision.label, image: decision.image)
            }
            try context.changeApplied(index)
        }
        var before = decision.tableChanges.count
        for directory in decision.directories {
            try context.root.makeDirectory(directory, attributes: FileAttributes(mode: 0o755))
            try context.changeApplied(before)
            before += 1
        }
        let writes = decision.writes.map { RootDirectory.FileWrite(path: $0.path, contents: Array($0.contents.utf8), attributes: $0.attributes) }
        let start = before
        try context.root.writeFilesAtomically(writes) { index in try context.changeApplied(start + index) }
        before += writes.count
        for path in decision.removals {
            try context.root.removeFile(path)
            try context.changeApplied(before)
            before += 1
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for write in decision.writes where try context.root.readText(write.path) != write.contents {
            throw VerificationError("\(write.path) does not hold what the run wrote")
        }
        guard !decision.image.isEmpty else { return }
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
    /// loader, `mayChangeESP`), which is kept; on a running clone, one the initramfs sets at the
    /// next boot is pending, one it should have set (`ChangeMountedFilesystems=yes`, the clone has
    /// sfdisk and an initramfs builder) fails, the ESP's kept on purpose and every other one is
    /// kept, as on a `--root` (`onlyWithImage`).
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
        let pending = try NextBootPartitionTables.pending(in: context.root) ?? []
        let configured = context.isRunningClone && context.configuration?.flag("Storage", "ChangeMountedFilesystems") == true
        let nextBoot = try configured && Self.nextBootObstacle(in: context.root) == nil
        // A running clone's ESP kept on purpose: no fallback loader where the clone mounts it.
        func espKeptOnRunningClone(disk: String, number: Int?) throws -> String? {
            guard let read = try PartitionTableIdentity.read(image: disk), let esp = read.partitions.first(where: read.isEFISystemPartition),
                  number == nil ? read.label == "dos" : esp.number == number else { return nil }
            var notes: [String] = []
            guard !Self.mayChangeMountedESP(esp, disk: disk, in: context.root, notes: &notes) else { return nil }
            return (notes.first ?? "the EFI system partition keeps it") + ": put the fallback loader there (grub-install --removable, or bootctl install), then run '\(context.runCommand)' again"
        }
        func stillTheTemplates(_ name: String, _ detail: String, disk: String, number: Int?, value: String) throws -> CloneCheck {
            guard image != nil else {
                if let change = pending.first(where: { PartitionTableIdentity.same($0.old, value) || PartitionTableIdentity.same("0x" + $0.old, value) }) {
                    return .pending(name, "the initramfs sets \(change.new) in place of the template's \(value) at the next boot")
                }
                guard nextBoot else { return .kept(name, detail, reason: Self.onlyWithImage) }
                if let why = try espKeptOnRunningClone(disk: disk, number: number) { return .kept(name, detail, reason: why) }
                return CloneCheck(name, false, "\(detail): [Storage] ChangeMountedFilesystems=yes, but no new identifier is pending for it: run '\(context.runCommand)' (the initramfs sets one at the next boot; if it was to set one at this boot, see /run/sanitize-clone-uuids.log)")
            }
            if let why = try keptOnPurpose(number: number) { return .kept(name, detail, reason: why) }
            return CloneCheck(name, false, "\(detail): run '\(context.runCommand)'")
        }
        for table in recorded {
            let what = table.label == "gpt" ? "GPT disk GUID" : "MBR disk identifier"
            let name = "\(what) of \(table.disk) differs from the template's"
            if let same = current.partitionTables.first(where: { PartitionTableIdentity.same($0.diskID, table.diskID) }) {
                checks.append(try stillTheTemplates(name, "\(same.disk) still has the template's \(what) \(table.diskID)", disk: same.disk, number: nil,
                                                    value: table.diskID))
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
                checks.append(try stillTheTemplates(name, "partition \(holder.1) of \(holder.0) still has the template's GUID \(partition.guid)",
                                                    disk: holder.0, number: holder.1, value: partition.guid))
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

extension PartitionTableIDsTask {
    /// A running clone's own disks: the kernel reads a changed table only while no partition is
    /// in use, so the run picks the new identifiers, rewrites the references read after the
    /// initramfs (fstab, crypttab) and leaves the table to the initramfs at the next boot
    /// (`NextBootPartitionTables`), as `fs-uuids` does for mounted filesystems and with the same
    /// switch, `[Storage] ChangeMountedFilesystems=yes`. The boot loader's references follow at the
    /// boot after (`finishNextBoot`).
    func planNextBoot(in context: PlanningContext) throws -> TaskPlan<Decision> {
        let disks = try Self.systemDisks()
        guard !disks.isEmpty else { return .skip("no disk of this system holds a partition in use") }
        guard context.configuration.flag("Storage", "ChangeMountedFilesystems") else {
            return .skip("a running clone's partition table changes only at the next boot, with [Storage] ChangeMountedFilesystems=yes", notes: [
                "the GPT disk GUID, partition GUIDs and MBR disk identifier of \(disks.joined(separator: ", ")) are left as they are: set [Storage] ChangeMountedFilesystems=yes, then run 'sanitize-clone run' (the initramfs sets them at the next boot; one more reboot), or run 'sanitize-clone run --image DISK.raw' on the powered-off VM's disk",
            ])
        }
        if let obstacle = try Self.nextBootObstacle(in: context.root) {
            return .skip("the partition table cannot change at the next boot: \(obstacle)", notes: [
                "the GPT disk GUID, partition GUIDs and MBR disk identifier of \(disks.joined(separator: ", ")) are left as they are: \(obstacle); run 'sanitize-clone run --image DISK.raw' on the powered-off VM's disk to change them",
            ])
        }
        var notes: [String] = []
        var pending: [NextBootPartitionTables.Change] = []
        // Where each change is, as the plan shows it ("/dev/vda", "/dev/vda partition 2").
        var places: [String] = []
        var partUUIDs: [String: String] = [:]
        for disk in disks {
            guard let table = try PartitionTableIdentity.read(image: disk) else { continue }
            switch table.label {
            case "gpt":
                pending.append(.init(type: "gpt-disk", old: table.diskID.lowercased(), new: try PartitionTableIdentity.newGUID()))
                places.append(disk)
                for partition in table.partitions {
                    guard let old = partition.uuid else { continue }
                    if table.isEFISystemPartition(partition), !Self.mayChangeMountedESP(partition, disk: disk, in: context.root, notes: &notes) { continue }
                    let new = try PartitionTableIdentity.newGUID()
                    pending.append(.init(type: "gpt-partition", old: old.lowercased(), new: new))
                    places.append("\(disk) partition \(partition.number)")
                    partUUIDs[old.lowercased()] = new.lowercased()
                }
            case "dos":
                if let esp = table.partitions.first(where: table.isEFISystemPartition),
                   !Self.mayChangeMountedESP(esp, disk: disk, in: context.root, notes: &notes) {
                    notes.append("\(disk): the MBR disk identifier names the EFI system partition too, so it stays")
                    continue
                }
                let new = try PartitionTableIdentity.newMBRDiskID()
                let old = String(table.diskID.lowercased().dropFirst(2))
                pending.append(.init(type: "mbr-disk", old: old, new: new))
                places.append(disk)
                for partition in table.partitions {
                    if let was = table.partUUID(of: partition), let renamed = table.partUUID(of: partition, diskID: new) { partUUIDs[was] = renamed }
                }
            default:
                notes.append("\(disk) has a \(table.label) partition table, whose identifiers this task does not change")
            }
        }
        guard !pending.isEmpty else { return .skip("no identifier of this system's partition tables can change", notes: notes) }

        var changes = zip(pending, places).map { change, place in
            Change(path: place,
                   action: change.type == "gpt-partition" ? "set-partition-guid (at the next boot)" : change.type == "gpt-disk" ? "set-disk-guid (at the next boot)" : "set-disk-id (at the next boot)",
                   old: change.old, new: change.new, undo: .coveredByOtherChanges)
        }
        let directories = try context.root.missingDirectories(for: [NextBootPartitionTables.pendingFile])
        changes += directories.map {
            Change(path: $0, action: "create-directory", old: nil, new: "next-boot identity change", undo: .restorePath(followingSymlinks: false))
        }
        let list = NextBootPartitionTables.text(pending)
        context.planText(list, for: NextBootPartitionTables.pendingFile)
        var writes: [(path: String, contents: String, attributes: FileAttributes)] = [(NextBootPartitionTables.pendingFile, list, FileAttributes(mode: 0o644))]
        changes.append(Change(path: NextBootPartitionTables.pendingFile, action: "create", old: nil, new: "\(pending.count) identifiers for the next boot",
                              undo: .restorePath(followingSymlinks: false)))
        // What is read after the initramfs follows now; the boot loader must still find the old.
        writes += try rewriteReferences(in: context, replacing: partUUIDs, changes: &changes) { !NextBootUUIDs.isBootLoaderFile($0) }
        notes.append("\(disks.joined(separator: ", ")) get\(disks.count == 1 ? "s" : "") the new identifiers from the initramfs at the next boot; the boot loader's references follow then")
        return TaskPlan(changes: changes, decision: Decision(image: "", label: "", tableChanges: pending.map {
            .init(field: $0.type == "gpt-partition" ? .gptPartitionGUID : $0.type == "gpt-disk" ? .gptDiskGUID : .mbrDiskID, number: nil, old: $0.old, new: $0.new)
        }, atNextBoot: true, directories: directories, writes: writes), notes: notes)
    }

    /// The boot after: each identifier the initramfs set (blkid sees the new value) has its boot
    /// loader references follow; one it did not set has every reference put back, so the clone
    /// still boots; the list goes (the initramfs task removes the component).
    func finishNextBoot(_ pending: [NextBootPartitionTables.Change], in context: PlanningContext) throws -> TaskPlan<Decision> {
        let values = try Self.currentValues()
        var map: [String: String] = [:]
        var notes: [String] = []
        var done = 0
        for change in pending {
            let now = change.newAsBlkidPrintsIt
            let set = values.contains(now) && !values.contains(change.old)
            // PARTUUIDs as references spell them (an MBR disk's are the id and the number).
            let pairs: [(String, String)] = change.type == "mbr-disk"
                ? (1...128).map { number in
                    let suffix = String(number, radix: 16).count == 1 ? "0" + String(number, radix: 16) : String(number, radix: 16)
                    return ("\(change.old)-\(suffix)", "\(now)-\(suffix)")
                }
                : [(change.old, now)]
            if set {
                done += 1
                for (old, new) in pairs { map[old] = new }
            } else {
                notes.append("the initramfs did not set \(change.new) in place of \(change.old) (see /run/sanitize-clone-uuids.log); the references to it were restored")
                for (old, new) in pairs { map[new] = old }
            }
        }
        var changes: [Change] = []
        let writes = try rewriteReferences(in: context, replacing: map, changes: &changes) { _ in true }
        changes.append(Change(path: NextBootPartitionTables.pendingFile, action: "delete", old: "\(pending.count) identifiers for the next boot", new: nil,
                              undo: .restorePath(followingSymlinks: false)))
        context.planRemoval(of: NextBootPartitionTables.pendingFile)
        notes.append("the initramfs set \(done) of \(pending.count) partition table identifiers at this boot")
        return TaskPlan(changes: changes, decision: Decision(image: "", label: "", tableChanges: [], atNextBoot: true, writes: writes,
                                                             removals: [NextBootPartitionTables.pendingFile]), notes: notes)
    }

    /// Every reference file `include` admits rewritten with `map` (old PARTUUID → new, lower
    /// case); adds their changes.
    func rewriteReferences(in context: PlanningContext, replacing map: [String: String], changes: inout [Change],
                           include: (String) -> Bool) throws -> [(path: String, contents: String, attributes: FileAttributes)] {
        var writes: [(path: String, contents: String, attributes: FileAttributes)] = []
        for path in try UUIDReferences.candidateFiles(in: context.root) where include(path) {
            guard let text = try context.plannedText(path), let status = try context.root.regularFileStatus(of: path),
                  let rewritten = UUIDReferences.rewritten(text, replacing: map) else { continue }
            context.planText(rewritten, for: path)
            writes.append((path, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: path, action: "write", old: "references to old PARTUUIDs", new: "references to new PARTUUIDs",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: path)))
        }
        return writes
    }

    /// Why the running clone cannot take the next-boot path for its table, or nil: it needs an
    /// initramfs builder and sfdisk (fdisk) in the clone.
    static func nextBootObstacle(in root: RootDirectory) throws -> String? {
        guard try InitramfsComponent.builder(in: root) != nil else { return "the clone has neither initramfs-tools nor dracut" }
        for path in ["/sbin/sfdisk", "/usr/sbin/sfdisk"] where try root.followedStatus(of: path) != nil { return nil }
        return "the clone lacks /usr/sbin/sfdisk (install fdisk in it)"
    }

    /// The whole disks of this machine that hold a partition in use (mounted, swap, held by
    /// device-mapper), as /dev paths.
    static func systemDisks() throws -> [String] {
        var disks: [String] = []
        for name in Sysfs.entries(of: "/sys/class/block").sorted() {
            guard Sysfs.exists("/sys/class/block/\(name)/device"), !Sysfs.exists("/sys/class/block/\(name)/partition"),
                  Sysfs.entries(of: "/sys/class/block/\(name)").contains(where: { Sysfs.exists("/sys/class/block/\(name)/\($0)/partition") }),
                  try HostDeviceUse.reason("/dev/\(name)") != nil else { continue }
            disks.append("/dev/\(name)")
        }
        return disks
    }

    /// Every PTUUID and PARTUUID this machine shows now (lower case), for the finishing run.
    static func currentValues() throws -> Set<String> {
        var values: Set<String> = []
        for disk in try systemDisks() {
            guard let table = try PartitionTableIdentity.read(image: disk) else { continue }
            values.insert(table.label == "dos" ? String(table.diskID.lowercased().dropFirst(2)) : table.diskID.lowercased())
            for partition in table.partitions { if let uuid = table.partUUID(of: partition) { values.insert(uuid.lowercased()) } }
        }
        return values
    }

    /// Whether a running clone's ESP may get a new identity: only when the fallback loader is on
    /// it, looked for where the clone mounts it. Says which in `notes`.
    static func mayChangeMountedESP(_ partition: PartitionTableIdentity.Partition, disk: String, in root: RootDirectory, notes: inout [String]) -> Bool {
        let what = "\(disk) partition \(partition.number) (the EFI system partition)"
        let why = "a firmware boot entry in the NVRAM copied with the VM may name it"
        for mountPoint in ["/boot/efi", "/efi", "/boot"] {
            for name in ["/EFI/BOOT/BOOTX64.EFI", "/EFI/BOOT/bootx64.efi", "/efi/boot/bootx64.efi", "/EFI/Boot/bootx64.efi"]
            where (try? root.regularFileStatus(of: mountPoint + name)) != nil {
                notes.append("\(what) gets a new \(partition.uuid == nil ? "disk identifier" : "GUID") although \(why): it holds the removable-media fallback loader \\EFI\\BOOT\\BOOTX64.EFI, which the firmware boots when no entry matches")
                return true
            }
        }
        notes.append("\(what) keeps its \(partition.uuid == nil ? "disk identifier" : "GUID"): \(why), and no removable-media fallback loader (\\EFI\\BOOT\\BOOTX64.EFI) was found where the clone mounts it")
        return false
    }
}
