/// Gives every filesystem the root's own configuration names (fstab, crypttab) a new UUID, and
/// rewrites every reference to it in the same run: fstab, crypttab, GRUB's configuration (and the
/// EFI stub's), BLS entries, the kernel command line, `resume=`, LVM's devices file.
///
/// A device is changed only when the root's configuration leads to exactly one device and nothing
/// else uses it: a device the build host has mounted, swapped on or holds open is refused, and
/// one that is not present is reported. Only unmounted filesystems are changed in place; in
/// `--image` mode the image's own mounted filesystems are changed once unmounted
/// (`DeferredFilesystemChanges`). Undo sets the old UUID back with the same tool, finding the
/// device by its new UUID, and restores the files.
public struct FilesystemUUIDsTask: SanitizeTask {
    public struct Decision: Sendable {
        struct UUIDChange: Sendable {
            let device: String
            let type: String
            let old: String
            let new: String
            let deferred: Bool
        }
        let uuidChanges: [UUIDChange]
        let writes: [(path: String, contents: String, attributes: FileAttributes)]
        let rebuildInitramfs: Bool
        let deferred: DeferredFilesystemChanges?
    }

    public let name = "fs-uuids"
    public let summary = "Give the filesystems the root's fstab and crypttab name new UUIDs, and rewrite every reference"
    public let expectedCost = TaskCost.medium

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        let references = try FilesystemTable.references(in: context.root)
        guard !references.isEmpty else { return .skip("the root's fstab and crypttab name no local filesystem") }
        let inventory = try context.options.blockDevices.map(BlockDeviceInventory.init) ?? BlockDeviceInventory.host()
        let deferred = context.options.deferredFilesystems
        var notes: [String] = []
        var chosen: [Decision.UUIDChange] = []
        var seen = Set<String>()
        for reference in references {
            let place = "\(reference.file):\(reference.line) (\(reference.specification) on \(reference.mountPoint))"
            if case .device(let path) = reference.source {
                notes.append("\(place): names a device path, not an identity; \(path.hasPrefix("/dev/mapper/") ? "a filesystem inside an unopened LUKS or LVM volume keeps its UUID" : "left as it is")")
                continue
            }
            if case .partLabel = reference.source { notes.append("\(place): PARTLABEL is not an identity this task changes"); continue }
            let matching = inventory.devices(for: reference.source)
            guard let device = matching.first else {
                notes.append("\(place): no such device is present; skipped, never guessed")
                continue
            }
            guard matching.count == 1 else {
                notes.append("\(place): \(matching.count) devices match (\(matching.map(\.device).joined(separator: ", "))): the template's disk is attached too; refused")
                continue
            }
            guard seen.insert(device.device).inserted else { continue }
            guard let old = device.uuid else { notes.append("\(place): \(device.device) has no UUID"); continue }
            guard FilesystemUUIDChanger.supports(device.type) else {
                notes.append("\(place): \(device.device) is \(device.type), whose UUID this task does not change")
                continue
            }
            if let reason = deferred?.keptDevices[device.device] {
                notes.append("\(place): \(device.device) keeps its UUID: \(reason)")
                continue
            }
            let isDeferred = deferred?.mountedDevices.contains(device.device) == true
            if !isDeferred, let use = try HostDeviceUse.reason(device.device) {
                notes.append(context.root.isLiveSystem
                    ? "\(place): \(device.device) is \(use): a mounted filesystem's UUID can only change before it is mounted; left as it is"
                    : "\(place): the build host uses \(device.device) (\(use)); never touched")
                continue
            }
            chosen.append(.init(device: device.device, type: device.type, old: old, new: try FilesystemUUIDChanger.newUUID(for: device.type),
                                deferred: isDeferred))
        }

        // GRUB's BIOS core.img may embed a UUID; changing that one would leave the clone unbootable.
        if let core = try context.root.readFile("/boot/grub/i386-pc/core.img") {
            let embedded = Set(UUIDReferences.binary(core, names: chosen.map(\.old)).map { $0.lowercased() })
            for change in chosen where embedded.contains(change.old.lowercased()) {
                notes.append("/boot/grub/i386-pc/core.img embeds \(change.old) (\(change.device)): kept, so GRUB still finds it; run grub-install in the clone, then sanitize-clone again")
            }
            chosen.removeAll { embedded.contains($0.old.lowercased()) }
        }
        guard !chosen.isEmpty else { return .skip("no filesystem of this root can be changed here", notes: notes) }

        var changes = chosen.map { change in
            Change(path: change.device, action: change.deferred ? "set-uuid (once unmounted)" : "set-uuid", old: change.old, new: change.new,
                   undo: .filesystemUUID(type: change.type, current: change.new, original: change.old))
        }
        let map = Dictionary(chosen.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        var writes: [(path: String, contents: String, attributes: FileAttributes)] = []
        var rebuild = false
        for path in try UUIDReferences.candidateFiles(in: context.root) {
            guard let text = try context.plannedText(path), let status = try context.root.followedStatus(of: path),
                  let rewritten = UUIDReferences.rewritten(text, replacing: map) else { continue }
            context.planText(rewritten, for: path)
            writes.append((path, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: path, action: "write", old: "references to old UUIDs", new: "references to new UUIDs",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: path)))
            if UUIDReferences.initramfsInputs.contains(path) { rebuild = true }
        }
        if rebuild && !(context.root.isLiveSystem || context.options.allowExec) {
            notes.append("the initramfs embeds a changed UUID (resume or crypttab): run update-initramfs -u in the clone, or run again with --allow-exec")
            rebuild = false
        }
        if rebuild {
            for name in try context.root.directoryEntries("/boot").sorted() where name.hasPrefix("initrd.img-") {
                changes.append(Change(path: "/boot/\(name)", action: "rebuild", old: nil, new: "update-initramfs -u"))
            }
        }
        return TaskPlan(changes: changes, decision: Decision(uuidChanges: chosen, writes: writes, rebuildInitramfs: rebuild, deferred: deferred),
                        notes: notes)
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        for (index, change) in decision.uuidChanges.enumerated() {
            if change.deferred {
                decision.deferred?.add(.init(device: change.device, type: change.type, old: change.old, new: change.new))
                try context.changeApplied(index)
                continue
            }
            let output = try FilesystemUUIDChanger.setUUID(change.new, on: change.device, type: change.type)
            try context.changeApplied(index)
            if !output.isEmpty { context.notice("\(change.device): \(output.split(whereSeparator: \.isNewline).last ?? "")", path: change.device) }
        }
        let writes = decision.writes.map { RootDirectory.FileWrite(path: $0.path, contents: Array($0.contents.utf8), attributes: $0.attributes) }
        try context.root.writeFilesAtomically(writes) { index in try context.changeApplied(decision.uuidChanges.count + index) }
        if decision.rebuildInitramfs {
            let (program, arguments) = try Program.chrooted(into: context.root, program: "update-initramfs")
            _ = try program.run(arguments + ["-u", "-k", "all"]).check()
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for change in decision.uuidChanges where !change.deferred {
            guard try FilesystemUUIDChanger.has(change.new, device: change.device) else {
                throw VerificationError("\(change.device) does not have the new UUID \(change.new)")
            }
        }
        for write in decision.writes where try context.root.readText(write.path) != write.contents {
            throw VerificationError("\(write.path) does not hold the rewritten references")
        }
    }
}
