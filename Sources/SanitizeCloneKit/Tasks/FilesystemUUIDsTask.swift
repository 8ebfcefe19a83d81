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
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        struct UUIDChange: Sendable {
            let device: String
            let type: String
            let old: String
            let new: String
            let deferred: Bool
            /// Set by the initramfs at the next boot (the running system has it mounted).
            var atNextBoot = false
        }
        let uuidChanges: [UUIDChange]
        /// New PV and VG UUIDs for LVM physical volumes.
        struct LVMChange: Sendable {
            let device: String
            let pvUUID: String
            let vgUUID: String
        }
        let lvmChanges: [LVMChange]
        let writes: [(path: String, contents: String, attributes: FileAttributes)]
        /// Files removed after the writes (the next-boot hook, once its work is done).
        let removals: [String]
        let rebuildInitramfs: Bool
        let deferred: DeferredFilesystemChanges?
    }

    public let name = "fs-uuids"
    public let summary = "Give the filesystems the root's fstab and crypttab name new UUIDs, and rewrite every reference"
    public let expectedCost = TaskCost.medium
    public var configurationKeys: [ConfigurationKey] {
        [.boolean(section: "Storage", name: "ChangeMountedFilesystems",
                  summary: "On a running clone, give its own mounted filesystems new UUIDs through the initramfs at the next boot (one more reboot)",
                  defaultValue: false)]
    }

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        if context.root.isLiveSystem, let pending = try NextBootUUIDs.pending(in: context.root) {
            return try finishNextBoot(pending, in: context)
        }
        let references = try FilesystemTable.references(in: context.root)
        guard !references.isEmpty else { return .skip("the root's fstab and crypttab name no local filesystem") }
        let inventory = try context.options.blockDevices.map(BlockDeviceInventory.init) ?? BlockDeviceInventory.host()
        let deferred = context.options.deferredFilesystems
        var notes: [String] = []
        var chosen: [Decision.UUIDChange] = []
        var seen = Set<String>()
        var volumeGroups: [String: String] = [:]
        for reference in references {
            let place = "\(reference.file):\(reference.line) (\(reference.specification) on \(reference.mountPoint))"
            if case .device(let path) = reference.source, let group = Self.volumeGroup(of: path) {
                volumeGroups[group] = volumeGroups[group] ?? place
                continue
            }
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
                guard context.root.isLiveSystem else {
                    notes.append("\(place): the build host uses \(device.device) (\(use)); never touched")
                    continue
                }
                guard context.configuration.flag("Storage", "ChangeMountedFilesystems") else {
                    notes.append("\(place): \(device.device) is \(use); set [Storage] ChangeMountedFilesystems=yes to give it a new UUID through the initramfs at the next boot")
                    continue
                }
                if let obstacle = try NextBootUUIDs.obstacle(for: device.type, in: context.root) {
                    notes.append("\(place): \(device.device) is \(use), so its UUID can only change before it is mounted, but \(obstacle); left as it is")
                    continue
                }
                var change = Decision.UUIDChange(device: device.device, type: device.type, old: old,
                                                 new: try FilesystemUUIDChanger.newUUID(for: device.type), deferred: false)
                change.atNextBoot = true
                chosen.append(change)
                continue
            }
            chosen.append(.init(device: device.device, type: device.type, old: old, new: try FilesystemUUIDChanger.newUUID(for: device.type),
                                deferred: isDeferred))
        }

        // LVM: the physical volumes of the volume groups the configuration mounts from.
        var lvm: [(device: String, old: LVMPhysicalVolume, newPV: String, newVG: String)] = []
        if !volumeGroups.isEmpty {
            for device in inventory.devices where device.type == StorageIdentityUndo.lvmType {
                guard let volume = try LVMPhysicalVolume.read(device.device), let group = volume.vgName, let place = volumeGroups[group],
                      let vgUUID = volume.vgUUID else { continue }
                if let use = try HostDeviceUse.reason(device.device) {
                    notes.append(context.root.isLiveSystem
                        ? "\(place): the physical volume \(device.device) of \(group) is \(use): its PV and VG UUIDs can only change while the volume group is inactive; left as they are"
                        : "\(place): the build host uses \(device.device) (\(use)); never touched")
                    continue
                }
                lvm.append((device.device, volume, try LVMIdentityChanger.newUUID(), vgUUID == "" ? "" : try LVMIdentityChanger.newUUID()))
            }
            for (group, place) in volumeGroups where !lvm.contains(where: { $0.old.vgName == group }) && !notes.contains(where: { $0.hasPrefix(place) }) {
                notes.append("\(place): no physical volume of \(group) is present; skipped")
            }
        }

        // GRUB's BIOS core.img may embed a UUID; changing that one would leave the clone unbootable.
        if let core = try context.root.readFile("/boot/grub/i386-pc/core.img") {
            let embedded = Set(UUIDReferences.binary(core, names: chosen.map(\.old)).map { $0.lowercased() })
            for change in chosen where embedded.contains(change.old.lowercased()) {
                notes.append("/boot/grub/i386-pc/core.img embeds \(change.old) (\(change.device)): kept, so GRUB still finds it; run grub-install in the clone, then sanitize-clone again")
            }
            chosen.removeAll { embedded.contains($0.old.lowercased()) }
        }
        guard !chosen.isEmpty || !lvm.isEmpty else { return .skip("no filesystem of this root can be changed here", notes: notes) }

        var changes = chosen.map { change in
            Change(path: change.device, action: change.atNextBoot ? "set-uuid (at the next boot)" : change.deferred ? "set-uuid (once unmounted)" : "set-uuid",
                   old: change.old, new: change.new, undo: .filesystemUUID(type: change.type, current: change.new, original: change.old))
        }
        for volume in lvm {
            changes.append(Change(path: volume.device, action: "set-lvm-uuids", old: "PV \(volume.old.pvUUID), VG \(volume.old.vgName ?? "") \(volume.old.vgUUID ?? "")",
                                  new: "PV \(volume.newPV), VG \(volume.old.vgName ?? "") \(volume.newVG)",
                                  undo: .filesystemUUID(type: StorageIdentityUndo.lvmType, current: "\(volume.newPV) \(volume.newVG)",
                                                        original: "\(volume.old.pvUUID) \(volume.old.vgUUID ?? "")")))
        }
        // The boot loader must still find the UUIDs the initramfs has not set yet.
        let map = Dictionary(chosen.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        let mapNow = Dictionary(chosen.filter { !$0.atNextBoot }.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        var writes: [(path: String, contents: String, attributes: FileAttributes)] = []
        var rebuild = false
        for path in try UUIDReferences.candidateFiles(in: context.root) {
            guard let text = try context.plannedText(path), let status = try context.root.followedStatus(of: path),
                  let rewritten = UUIDReferences.rewritten(text, replacing: NextBootUUIDs.isBootLoaderFile(path) ? mapNow : map) else { continue }
            context.planText(rewritten, for: path)
            writes.append((path, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: path, action: "write", old: "references to old UUIDs", new: "references to new UUIDs",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: path)))
            if UUIDReferences.initramfsInputs.contains(path) { rebuild = true }
        }
        let devicesFile = "/etc/lvm/devices/system.devices"
        if !lvm.isEmpty, let text = try context.plannedText(devicesFile), let status = try context.root.followedStatus(of: devicesFile),
           let rewritten = LVMIdentityChanger.rewrittenDevicesFile(text, pvids: Dictionary(lvm.map { ($0.old.pvUUID, $0.newPV) }, uniquingKeysWith: { a, _ in a })) {
            context.planText(rewritten, for: devicesFile)
            writes.append((devicesFile, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: devicesFile, action: "write", old: "the template's PVIDs", new: "the new PVIDs",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: devicesFile)))
        }
        let nextBoot = chosen.filter(\.atNextBoot)
        if !nextBoot.isEmpty {
            let pending = NextBootUUIDs.text(nextBoot.map { NextBootUUIDs.Change(type: $0.type, old: $0.old, new: $0.new) })
            for (path, contents, mode) in [(NextBootUUIDs.pendingFile, pending, UInt32(0o644)), (NextBootUUIDs.hookFile, NextBootUUIDs.hook, 0o755),
                                           (NextBootUUIDs.scriptFile, NextBootUUIDs.script, 0o755)] {
                writes.append((path, contents, FileAttributes(mode: mode)))
                changes.append(Change(path: path, action: "create", old: nil, new: "next-boot UUID change", undo: .restorePath(followingSymlinks: false)))
            }
            notes.append("\(nextBoot.map(\.device).joined(separator: ", ")) get their new UUIDs from the initramfs at the next boot; the boot loader's references follow then")
            rebuild = true
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
        return TaskPlan(changes: changes, decision: Decision(uuidChanges: chosen,
                                                             lvmChanges: lvm.map { .init(device: $0.device, pvUUID: $0.newPV, vgUUID: $0.newVG) },
                                                             writes: writes, removals: [], rebuildInitramfs: rebuild, deferred: deferred),
                        notes: notes)
    }

    /// After the next boot's initramfs set the new UUIDs: the boot loader's references follow,
    /// and the hook, its script and the pending list go (the initramfs is rebuilt without them).
    func finishNextBoot(_ pending: [NextBootUUIDs.Change], in context: PlanningContext) throws -> TaskPlan<Decision> {
        let inventory = try context.options.blockDevices.map(BlockDeviceInventory.init) ?? BlockDeviceInventory.host()
        let done = pending.filter { inventory.device(withUUID: $0.new) != nil }
        var notes = pending.filter { inventory.device(withUUID: $0.new) == nil }.map {
            "the initramfs did not set \($0.new) in place of \($0.old) (see /run/sanitize-clone-uuids.log); the references to it were restored"
        }
        // References to UUIDs that were not set go back to the old ones, so the clone still boots.
        var map = Dictionary(done.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        for change in pending where !done.contains(change) { map[change.new] = change.old }
        var changes: [Change] = []
        var writes: [(path: String, contents: String, attributes: FileAttributes)] = []
        for path in try UUIDReferences.candidateFiles(in: context.root) {
            guard let text = try context.plannedText(path), let status = try context.root.followedStatus(of: path),
                  let rewritten = UUIDReferences.rewritten(text, replacing: map) else { continue }
            context.planText(rewritten, for: path)
            writes.append((path, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: path, action: "write", old: "references to old UUIDs", new: "references to new UUIDs",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: path)))
        }
        let removals = [NextBootUUIDs.pendingFile, NextBootUUIDs.hookFile, NextBootUUIDs.scriptFile]
        for path in removals where try context.root.status(of: path) != nil {
            changes.append(Change(path: path, action: "delete", old: "next-boot UUID change", new: nil, undo: .restorePath(followingSymlinks: false)))
        }
        for name in try context.root.directoryEntries("/boot").sorted() where name.hasPrefix("initrd.img-") {
            changes.append(Change(path: "/boot/\(name)", action: "rebuild", old: nil, new: "update-initramfs -u"))
        }
        notes.append("the initramfs set \(done.count) of \(pending.count) new UUIDs at this boot")
        return TaskPlan(changes: changes, decision: Decision(uuidChanges: [], lvmChanges: [], writes: writes,
                                                             removals: removals.filter { (try? context.root.status(of: $0)) != nil },
                                                             rebuildInitramfs: true, deferred: nil),
                        notes: notes)
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        for (index, change) in decision.uuidChanges.enumerated() {
            if change.atNextBoot {
                try context.changeApplied(index)
                continue
            }
            if change.deferred {
                decision.deferred?.add(.init(device: change.device, type: change.type, old: change.old, new: change.new))
                try context.changeApplied(index)
                continue
            }
            let output = try FilesystemUUIDChanger.setUUID(change.new, on: change.device, type: change.type)
            try context.changeApplied(index)
            if !output.isEmpty { context.notice("\(change.device): \(output.split(whereSeparator: \.isNewline).last ?? "")", path: change.device) }
        }
        for (offset, change) in decision.lvmChanges.enumerated() {
            try LVMIdentityChanger.setIdentity(pvUUID: change.pvUUID, vgUUID: change.vgUUID.isEmpty ? nil : change.vgUUID, on: change.device)
            try context.changeApplied(decision.uuidChanges.count + offset)
        }
        let before = decision.uuidChanges.count + decision.lvmChanges.count
        let writes = decision.writes.map { RootDirectory.FileWrite(path: $0.path, contents: Array($0.contents.utf8), attributes: $0.attributes) }
        try context.root.writeFilesAtomically(writes) { index in try context.changeApplied(before + index) }
        for (offset, path) in decision.removals.enumerated() {
            try context.root.removeFile(path)
            try context.changeApplied(before + writes.count + offset)
        }
        if decision.rebuildInitramfs {
            // The running system's own tool (the service may not chroot); a root's, chrooted.
            let (program, arguments) = context.root.isLiveSystem
                ? (try Program.find("update-initramfs", package: "initramfs-tools"), [])
                : try Program.chrooted(into: context.root, program: "update-initramfs")
            let output = try program.run(arguments + ["-u", "-k", "all"]).check()
            context.notice("Rebuilt the initramfs: \(output.output.split(whereSeparator: \.isNewline).last ?? "")")
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for change in decision.uuidChanges where !change.deferred && !change.atNextBoot {
            guard try FilesystemUUIDChanger.has(change.new, device: change.device) else {
                throw VerificationError("\(change.device) does not have the new UUID \(change.new)")
            }
        }
        for change in decision.lvmChanges {
            guard let volume = try LVMPhysicalVolume.read(change.device), volume.pvUUID == change.pvUUID,
                  change.vgUUID.isEmpty || volume.vgUUID == change.vgUUID else {
                throw VerificationError("\(change.device) does not have the new PV and VG UUIDs")
            }
        }
        for write in decision.writes where try context.root.readText(write.path) != write.contents {
            throw VerificationError("\(write.path) does not hold the rewritten references")
        }
    }

    /// The volume group a device path names: /dev/mapper/VG-LV (a '-' in a name doubled) or /dev/VG/LV.
    static func volumeGroup(of path: String) -> String? {
        if path.hasPrefix("/dev/mapper/") {
            let name = Array(path.dropFirst("/dev/mapper/".count))
            var index = 0
            while index < name.count {
                if name[index] == "-" {
                    if index + 1 < name.count && name[index + 1] == "-" { index += 2; continue }
                    return index > 0 ? String(name[0..<index]).replacing("--", with: "-") : nil
                }
                index += 1
            }
            return nil
        }
        let parts = path.split(separator: "/")
        guard parts.count == 3, parts[0] == "dev", !["disk", "mapper", "md", "loop"].contains(parts[1]),
              !parts[1].hasPrefix("sd"), !parts[1].hasPrefix("vd") else { return nil }
        return String(parts[1])
    }
}
