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
///
/// An ESP the fstab mounts that is not mounted in the root (a host without vfat, a `--root`
/// without its ESP) is read and rewritten through mtools (`UnmountedESP`, `FATVolume`), each
/// file journaled as a `fat-file` undo holding its old bytes; one that cannot be read makes the
/// filesystem its files name keep its UUID.
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
        /// New PV and VG UUIDs for an LVM physical volume, and a new name for its VG when the
        /// old one is taken on this host.
        struct LVMChange: Sendable {
            let device: String
            let oldPV: String
            let oldVG: String
            let oldName: String
            let pvUUID: String
            /// Empty for a PV in no VG.
            let vgUUID: String
            let newName: String?
            /// Set by the initramfs at the next boot (the running system's root is on it).
            var atNextBoot = false
        }
        let lvmChanges: [LVMChange]
        let writes: [(path: String, contents: String, attributes: FileAttributes)]
        /// A file on an unmounted ESP rewritten through mtools, after the files in the root.
        struct FATWrite: Sendable {
            let esp: UnmountedESP
            let path: String
            let contents: [UInt8]
        }
        let fatWrites: [FATWrite]
        /// Directories created before the writes (the pending list's), parents first.
        var directories: [String] = []
        /// Files removed after the writes (the pending list, once the initramfs set it).
        let removals: [String]
        let deferred: DeferredFilesystemChanges?
    }

    public let name = "fs-uuids"
    public let undoKinds: [any UndoKind] = [StorageIdentityUndo(), FATFileUndo()]
    public let summary = "Give the filesystems the root's fstab and crypttab name new UUIDs, and rewrite every reference"
    public let expectedCost = TaskCost.medium
    /// The initramfs embeds the pending list, crypttab and `resume`.
    public let followedBy = ["initramfs"]
    public var configurationKeys: [ConfigurationKey] {
        [.boolean(section: "Storage", name: "ChangeMountedFilesystems",
                  summary: "On a running clone, give the identities it uses (its mounted filesystems, the LVM PV and VG its root lives on, its disk's partition table) new values through the initramfs at the next boot (one more reboot)",
                  defaultValue: false)]
    }

    public init() {}

    /// What changes an identity a running clone cannot change itself (its own mounted
    /// filesystems without the next-boot path, its active LVM and open LUKS volumes): a run from
    /// outside, which exists on every guest.
    static let offlineRemedy = "run 'sanitize-clone run --image DISK.raw' on the powered-off VM's disk, or 'sanitize-clone run --root DIR --device DEV' from a host with its disk attached"

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        if context.root.isLiveSystem, let pending = try NextBootUUIDs.pending(in: context.root) {
            return try finishNextBoot(pending, in: context)
        }
        let references = try FilesystemTable.references(in: context.root)
        guard !references.isEmpty else { return .skip("the root's fstab and crypttab name no local filesystem") }
        let inventory = try context.deviceScope.inventory()
        // A guest's fstab is a stranger's input: say which devices it may lead to at all.
        var notes = context.deviceScope.coversHost ? [] : [context.deviceScope.planNote]
        notes += context.options.unreachableVolumes
        var (chosen, volumeGroups) = try chooseFilesystems(references, inventory: inventory, in: context, notes: &notes)
        // A new UUID leaves a LUKS volume's key the template's: say so, for each one.
        for reference in references where reference.type == "crypto_LUKS" {
            for device in inventory.devices(for: reference.source) where device.type == "crypto_LUKS" {
                let uuid = chosen.first { $0.device == device.device }?.new ?? device.uuid ?? ""
                notes.append(LUKSVolumeKey.sharedKeyNote(place: "\(reference.file):\(reference.line) (\(reference.mountPoint))", device: device.device, uuid: uuid))
            }
        }
        let lvm = try volumeGroupChanges(volumeGroups, inventory: inventory, in: context, notes: &notes)
        try keepUUIDsEmbeddedInGRUBCore(&chosen, in: context.root, notes: &notes)
        let esps = try UnmountedESP.find(references, inventory: inventory, in: context)
        keepUUIDsNamedOnUnreachableESPs(esps.unreachable, references: references, inventory: inventory, chosen: &chosen, notes: &notes)
        keepUUIDsEmbeddedInESPBinaries(esps.reachable, chosen: &chosen, notes: &notes)
        guard !chosen.isEmpty || !lvm.isEmpty else { return .skip("no filesystem of this root can be changed here", notes: notes) }

        // In the order apply makes them: devices, directories, files in the root, files on ESPs.
        var changes = Self.deviceChanges(chosen, lvm)
        let beforeWrites = changes.count
        var writes = try rewriteReferences(chosen, lvm, in: context, changes: &changes)
        let nextBoot = chosen.filter(\.atNextBoot)
        let nextBootVolumes = lvm.filter(\.atNextBoot)
        var directories: [String] = []
        if !nextBoot.isEmpty || !nextBootVolumes.isEmpty {
            let list = try Self.pendingList(nextBoot, nextBootVolumes, in: context, changes: &changes)
            writes.append(list.write)
            directories = list.directories
            changes.insert(contentsOf: directories.map {
                Change(path: $0, action: "create-directory", old: nil, new: "next-boot identity change", undo: .restorePath(followingSymlinks: false))
            }, at: beforeWrites)
            notes.append("\((nextBootVolumes.map(\.device) + nextBoot.map(\.device)).joined(separator: ", ")) get their new UUIDs from the initramfs at the next boot; the boot loader's references follow then")
        }
        let fatWrites = rewriteReferences(on: esps.reachable, chosen, lvm, changes: &changes, notes: &notes)
        return TaskPlan(changes: changes, decision: Decision(uuidChanges: chosen, lvmChanges: lvm, writes: writes, fatWrites: fatWrites,
                                                             directories: directories, removals: [], deferred: context.options.deferredFilesystems),
                        notes: notes)
    }

    /// The filesystems the root's fstab and crypttab lead to, each the one device of the run's
    /// scope that nothing else uses; the volume groups they mount from (name → where). Every
    /// entry left out becomes a note saying why.
    func chooseFilesystems(_ references: [FilesystemReference], inventory: BlockDeviceInventory, in context: PlanningContext,
                           notes: inout [String]) throws -> ([Decision.UUIDChange], [String: String]) {
        let deferred = context.options.deferredFilesystems
        var chosen: [Decision.UUIDChange] = []
        var seen = Set<String>()
        var volumeGroups: [String: String] = [:]
        var hostDevices: BlockDeviceInventory?  // read only when a reference is outside the scope
        for reference in references {
            let place = "\(reference.file):\(reference.line) (\(reference.specification) on \(reference.mountPoint))"
            if case .device(let path) = reference.source, let group = VolumeGroupNames.volumeGroup(namedBy: path) {
                volumeGroups[group] = volumeGroups[group] ?? place
                // An LV the run reaches (an image's, or an active one of the running system): its filesystem changes too.
                if inventory.devices(for: reference.source).isEmpty { continue }
            } else if case .device(let path) = reference.source {
                notes.append("\(place): names a device path, not an identity; \(path.hasPrefix("/dev/mapper/") ? "a filesystem inside an unopened LUKS or LVM volume keeps its UUID" : "left as it is")")
                continue
            }
            if case .partLabel = reference.source { notes.append("\(place): PARTLABEL is not an identity this task changes"); continue }
            let matching = inventory.devices(for: reference.source)
            guard let device = matching.first else {
                if !context.deviceScope.coversHost, hostDevices == nil { hostDevices = try BlockDeviceInventory.host() }
                if !context.deviceScope.coversHost, let outside = hostDevices?.devices(for: reference.source).first {
                    notes.append("\(place): \(outside.device) is not one of \(context.deviceScope.summary); never touched (name it with --device if it is the clone's)")
                } else {
                    notes.append("\(place): no such device is present; skipped, never guessed")
                }
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
                if let change = try nextBootChange(device, old: old, use: use, place: place, in: context, notes: &notes) { chosen.append(change) }
                continue
            }
            if context.root.isLiveSystem, let reason = try Self.keptOnRunningClone(type: device.type, use: nil, in: context.root, changeMounted: false) {
                notes.append("\(place): \(device.device) keeps its UUID: \(reason)")
                continue
            }
            chosen.append(.init(device: device.device, type: device.type, old: old, new: try FilesystemUUIDChanger.newUUID(for: device.type),
                                deferred: isDeferred))
        }
        return (chosen, volumeGroups)
    }

    /// A device something uses now: on the running system, its own mounted filesystem, changed by
    /// the initramfs at the next boot when configured and possible; never one the build host uses.
    func nextBootChange(_ device: BlockDeviceIdentity, old: String, use: String, place: String, in context: PlanningContext,
                        notes: inout [String]) throws -> Decision.UUIDChange? {
        guard context.root.isLiveSystem else {
            notes.append("\(place): the build host uses \(device.device) (\(use)); never touched")
            return nil
        }
        if let note = try Self.mountedFilesystemNote(place: place, device: device.device, type: device.type, use: use, in: context.root,
                                                     changeMounted: context.configuration.flag("Storage", "ChangeMountedFilesystems")) {
            notes.append(note)
            return nil
        }
        var change = Decision.UUIDChange(device: device.device, type: device.type, old: old,
                                         new: try FilesystemUUIDChanger.newUUID(for: device.type), deferred: false)
        change.atNextBoot = true
        return change
    }

    /// Why a running clone's own filesystem in use (`use`: "mounted on /") keeps its UUID in this
    /// run, with the path that changes it on this guest; nil when the next-boot path takes it
    /// (`keptOnRunningClone`).
    static func mountedFilesystemNote(place: String, device: String, type: String, use: String, in root: RootDirectory,
                                      changeMounted: Bool) throws -> String? {
        try keptOnRunningClone(type: type, use: use, in: root, changeMounted: changeMounted).map { "\(place): \(device) keeps its UUID: \($0)" }
    }

    /// Why a run on the running clone leaves a device of blkid type `type` with the identity it
    /// has, by design, and what changes it; nil when the run changes it (at once, or through the
    /// initramfs at the next boot). `use`: what uses the device now (`HostDeviceUse.reason`), nil
    /// when nothing does. The plan's notes and `verify`'s kept lines both come from here:
    /// - an active LVM PV or an open LUKS volume keeps its identity while the clone runs;
    /// - a filesystem in use changes only through the next-boot path, which needs
    ///   initramfs-tools and the type's tool in the clone (`NextBootUUIDs.obstacle`; on a dracut
    ///   guest the note names a run from outside, never `ChangeMountedFilesystems=`), and
    ///   `[Storage] ChangeMountedFilesystems=yes` (off by default: clones sharing a root UUID is
    ///   common, and changing it costs a reboot);
    /// - a vfat serial nothing uses is set with the clone's own fatlabel (dosfstools).
    static func keptOnRunningClone(type: String, use: String?, in root: RootDirectory, changeMounted: Bool) throws -> String? {
        guard let use else {
            guard type == "vfat", try !fatlabelPaths.contains(where: { try root.followedStatus(of: $0) != nil }) else { return nil }
            return "the clone has no fatlabel to set a vfat serial with: install dosfstools in it, then run 'sanitize-clone run', or \(offlineRemedy)"
        }
        if type == "crypto_LUKS" {
            return "it is \(use) while the clone runs, and an open LUKS volume keeps its identity: \(offlineRemedy)"
        }
        if type == StorageIdentityUndo.lvmType {
            if let obstacle = try NextBootUUIDs.obstacle(for: type, in: root) {
                return "it is \(use) while the clone runs, so its PV and VG UUIDs can only change in the initramfs before the volume group is activated, but \(obstacle): \(offlineRemedy)"
            }
            guard changeMounted else {
                return "it is \(use), and a running clone keeps its active volume group's PV and VG UUIDs while [Storage] ChangeMountedFilesystems=no (the default): set ChangeMountedFilesystems=yes, then run 'sanitize-clone run' (the initramfs sets new ones at the next boot; one more reboot), or \(offlineRemedy)"
            }
            return nil
        }
        if let obstacle = try NextBootUUIDs.obstacle(for: type, in: root) {
            return "it is \(use), so its UUID can only change before it is mounted, but \(obstacle): \(offlineRemedy)"
        }
        guard changeMounted else {
            return "it is \(use), and a running clone keeps its mounted filesystems' UUIDs while [Storage] ChangeMountedFilesystems=no (the default): set ChangeMountedFilesystems=yes, then run 'sanitize-clone run' (the initramfs sets a new UUID at the next boot; one more reboot), or \(offlineRemedy)"
        }
        return nil
    }

    /// Where the clone's fatlabel may be (dosfstools; /sbin is /usr/sbin on a merged /usr).
    static let fatlabelPaths = ["/sbin/fatlabel", "/usr/sbin/fatlabel"]

    /// GRUB's BIOS core.img, which may embed a UUID; changing that one would leave the clone unbootable.
    static let grubCore = "/boot/grub/i386-pc/core.img"

    /// Why a filesystem keeps `uuid` when GRUB's core.img embeds it (the plan's note and
    /// `verify`'s kept line); nil when it does not.
    static func grubCoreReason(_ uuid: String, in root: RootDirectory) throws -> String? {
        guard let core = try root.readFile(grubCore), !UUIDReferences.binary(core, names: [uuid]).isEmpty else { return nil }
        return "\(grubCore) embeds it, so it is kept for GRUB to find: run grub-install in the clone, then sanitize-clone again"
    }

    /// Leaves out of `chosen` every UUID GRUB's core.img embeds, with a note each (`grubCoreReason`).
    func keepUUIDsEmbeddedInGRUBCore(_ chosen: inout [Decision.UUIDChange], in root: RootDirectory, notes: inout [String]) throws {
        guard try root.readFile(Self.grubCore) != nil else { return }
        var kept = Set<String>()
        for change in chosen {
            guard let reason = try Self.grubCoreReason(change.old, in: root) else { continue }
            notes.append("\(change.device) keeps its UUID \(change.old): \(reason)")
            kept.insert(change.old)
        }
        chosen.removeAll { kept.contains($0.old) }
    }

    /// An ESP the fstab mounts that cannot be read here (not in the scope, used by the build host,
    /// no mtools): its boot loader files name the filesystem holding /boot (the root, for an ESP
    /// on /boot), which keeps its UUID so the clone still boots.
    func keepUUIDsNamedOnUnreachableESPs(_ unreachable: [UnmountedESP.Unreachable], references: [FilesystemReference],
                                         inventory: BlockDeviceInventory, chosen: inout [Decision.UUIDChange], notes: inout [String]) {
        let fstab = references.filter { $0.file == "/etc/fstab" }
        for esp in unreachable {
            let bootPlace = esp.mountPoint != "/boot" && fstab.contains { $0.mountPoint == "/boot" } ? "/boot" : "/"
            guard let reference = fstab.first(where: { $0.mountPoint == bootPlace }),
                  let device = inventory.devices(for: reference.source).first,
                  chosen.contains(where: { $0.device == device.device }) else { continue }
            chosen.removeAll { $0.device == device.device }
            notes.append("\(esp.mountPoint) (vfat) is not mounted and cannot be read here (\(esp.reason)), so the boot loader files there, which name \(device.device) (\(bootPlace)), could not be rewritten: it keeps its UUID")
        }
    }

    /// A file of an unmounted ESP that is not text (a unified kernel image, whose command line is
    /// signed) is never rewritten: a UUID it embeds is kept, and the plan says so.
    func keepUUIDsEmbeddedInESPBinaries(_ esps: [UnmountedESP], chosen: inout [Decision.UUIDChange], notes: inout [String]) {
        for esp in esps {
            for binary in esp.binaries {
                let embedded = Set(UUIDReferences.binary(binary.bytes, names: chosen.map(\.old)).map { $0.lowercased() })
                for change in chosen where embedded.contains(change.old.lowercased()) {
                    notes.append("\(esp.displayPath(binary.path)) is not a text file this task rewrites and embeds \(change.old) (\(change.device)): kept; rebuild it in the clone, then run sanitize-clone again")
                }
                chosen.removeAll { embedded.contains($0.old.lowercased()) }
            }
        }
    }

    /// The text files of the unmounted ESPs rewritten to the new UUIDs, VG UUIDs and names,
    /// written back through mtools; adds their changes (undo: `fat-file`, the old bytes kept in
    /// the run's backup pack). Their diffs show the changed lines only, without context: nothing
    /// else of the ESP is ever printed.
    func rewriteReferences(on esps: [UnmountedESP], _ chosen: [Decision.UUIDChange], _ lvm: [Decision.LVMChange],
                           changes: inout [Change], notes: inout [String]) -> [Decision.FATWrite] {
        let map = Dictionary(chosen.filter { !$0.atNextBoot }.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        let volumeGroupUUIDs = Dictionary(lvm.filter { !$0.oldVG.isEmpty }.map { ($0.oldVG, $0.vgUUID) }, uniquingKeysWith: { first, _ in first })
        let renamed = Dictionary(lvm.compactMap { volume in volume.newName.map { (volume.oldName, $0) } }, uniquingKeysWith: { first, _ in first })
        var fatWrites: [Decision.FATWrite] = []
        for esp in esps {
            guard let serial = esp.device.uuid else { continue }
            let serialAfter = chosen.first { $0.device == esp.device.device }?.new ?? serial
            var rewrote = false
            for file in esp.texts {
                let withUUIDs = UUIDReferences.rewritten(file.text, replacing: map, exactly: volumeGroupUUIDs)
                guard let rewritten = VolumeGroupNames.rewritten(withUUIDs ?? file.text, renaming: renamed) ?? withUUIDs else { continue }
                let display = esp.displayPath(file.path)
                fatWrites.append(.init(esp: esp, path: file.path, contents: Array(rewritten.utf8)))
                changes.append(Change(path: display, action: "write-fat", old: "references to old UUIDs", new: "references to new UUIDs",
                                      diff: LineDiff.unified(old: file.text, new: rewritten, path: display, context: 0),
                                      undo: FATFileUndo.record(type: "vfat", serial: serial, serialAfter: serialAfter, path: file.path, old: file.bytes)))
                rewrote = true
            }
            if rewrote {
                notes.append("\(esp.mountPoint) (vfat, \(esp.device.device)) is not mounted here: its files are read and rewritten in place through mtools")
            }
        }
        return fatWrites
    }

    /// The device changes, as the plan shows them and the journal undoes them.
    static func deviceChanges(_ chosen: [Decision.UUIDChange], _ lvm: [Decision.LVMChange]) -> [Change] {
        var changes = chosen.map { change in
            Change(path: change.device, action: change.atNextBoot ? "set-uuid (at the next boot)" : change.deferred ? "set-uuid (once unmounted)" : "set-uuid",
                   old: change.old, new: change.new, undo: StorageIdentityUndo.record(type: change.type, current: change.new, original: change.old))
        }
        for volume in lvm {
            changes.append(Change(path: volume.device, action: volume.atNextBoot ? "set-lvm-uuids (at the next boot)" : "set-lvm-uuids", old: "PV \(volume.oldPV), VG \(volume.oldName) \(volume.oldVG)",
                                  new: "PV \(volume.pvUUID), VG \(volume.oldName) \(volume.vgUUID)",
                                  undo: StorageIdentityUndo.record(type: StorageIdentityUndo.lvmType, current: "\(volume.pvUUID) \(volume.vgUUID)",
                                                                    original: "\(volume.oldPV) \(volume.oldVG)")))
            if let name = volume.newName {
                changes.append(Change(path: volume.device, action: "rename-volume-group", old: volume.oldName, new: name,
                                      undo: StorageIdentityUndo.record(type: StorageIdentityUndo.volumeGroupNameType, current: "\(volume.pvUUID) \(name)",
                                                                        original: "\(volume.oldPV) \(volume.oldName)")))
            }
        }
        return changes
    }

    /// Every reference file rewritten to the new UUIDs, VG UUIDs and names (the boot loader's
    /// only to those set now), and LVM's devices file to the new PVIDs; adds their changes.
    /// Returns the writes, and whether the initramfs embeds one of them.
    func rewriteReferences(_ chosen: [Decision.UUIDChange], _ lvm: [Decision.LVMChange], in context: PlanningContext,
                           changes: inout [Change]) throws -> [(path: String, contents: String, attributes: FileAttributes)] {
        // The boot loader must still find the UUIDs the initramfs has not set yet.
        let map = Dictionary(chosen.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        let mapNow = Dictionary(chosen.filter { !$0.atNextBoot }.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        // GRUB's lvmid/VG/LV hints name the VG by its UUID, in LVM's mixed case.
        let volumeGroupUUIDs = Dictionary(lvm.filter { !$0.oldVG.isEmpty }.map { ($0.oldVG, $0.vgUUID) }, uniquingKeysWith: { first, _ in first })
        let volumeGroupUUIDsNow = Dictionary(lvm.filter { !$0.oldVG.isEmpty && !$0.atNextBoot }.map { ($0.oldVG, $0.vgUUID) },
                                             uniquingKeysWith: { first, _ in first })
        let renamed = Dictionary(lvm.compactMap { volume in volume.newName.map { (volume.oldName, $0) } }, uniquingKeysWith: { first, _ in first })
        var writes: [(path: String, contents: String, attributes: FileAttributes)] = []
        for path in try UUIDReferences.candidateFiles(in: context.root) {
            guard let text = try context.plannedText(path), let status = try context.root.regularFileStatus(of: path) else { continue }
            let bootLoader = NextBootUUIDs.isBootLoaderFile(path)
            let withUUIDs = UUIDReferences.rewritten(text, replacing: bootLoader ? mapNow : map, exactly: bootLoader ? volumeGroupUUIDsNow : volumeGroupUUIDs)
            guard let rewritten = VolumeGroupNames.rewritten(withUUIDs ?? text, renaming: renamed) ?? withUUIDs else { continue }
            context.planText(rewritten, for: path)
            writes.append((path, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: path, action: "write", old: "references to old UUIDs", new: "references to new UUIDs",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: path)))
        }
        let devicesFile = "/etc/lvm/devices/system.devices"
        if !lvm.isEmpty, let text = try context.plannedText(devicesFile), let status = try context.root.regularFileStatus(of: devicesFile),
           let rewritten = LVMIdentityChanger.rewrittenDevicesFile(text, pvids: Dictionary(lvm.map { ($0.oldPV, $0.pvUUID) }, uniquingKeysWith: { a, _ in a })) {
            context.planText(rewritten, for: devicesFile)
            writes.append((devicesFile, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: devicesFile, action: "write", old: "the template's PVIDs", new: "the new PVIDs",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: devicesFile)))
        }
        return writes
    }

    /// The pending list the initramfs sets at the next boot (`NextBootUUIDs`; the `initramfs`
    /// task puts it into the initramfs), planned for the tasks after this one; adds its change.
    /// Returns it with the directories it goes in that the clone lacks (created first; undo
    /// removes them once empty).
    static func pendingList(_ nextBoot: [Decision.UUIDChange], _ volumes: [Decision.LVMChange], in context: PlanningContext,
                            changes: inout [Change]) throws -> (write: (path: String, contents: String, attributes: FileAttributes), directories: [String]) {
        let pending = volumes.map {
            NextBootUUIDs.Change(type: StorageIdentityUndo.lvmType, old: $0.oldPV, new: $0.pvUUID, oldGroup: $0.oldVG, newGroup: $0.vgUUID)
        } + nextBoot.map { NextBootUUIDs.Change(type: $0.type, old: $0.old, new: $0.new) }
        let text = NextBootUUIDs.text(pending)
        context.planText(text, for: NextBootUUIDs.pendingFile)
        let directories = try context.root.missingDirectories(for: [NextBootUUIDs.pendingFile])
        changes.append(Change(path: NextBootUUIDs.pendingFile, action: "create", old: nil, new: "\(pending.count) identities for the next boot",
                              undo: .restorePath(followingSymlinks: false)))
        return ((NextBootUUIDs.pendingFile, text, FileAttributes(mode: 0o644)), directories)
    }

    /// After the next boot's initramfs set the new UUIDs: the boot loader's references follow,
    /// and the hook, its script and the pending list go (the initramfs is rebuilt without them).
    func finishNextBoot(_ pending: [NextBootUUIDs.Change], in context: PlanningContext) throws -> TaskPlan<Decision> {
        let inventory = try context.deviceScope.inventory()
        let done = try pending.filter { try Self.wasSet($0, inventory: inventory) }
        var notes = pending.filter { !done.contains($0) }.map {
            "the initramfs did not set \($0.new) in place of \($0.old) (see /run/sanitize-clone-uuids.log); the references to it were restored"
        }
        // References to UUIDs that were not set go back to the old ones, so the clone still boots.
        let filesystems = pending.filter { $0.type != StorageIdentityUndo.lvmType }
        var map = Dictionary(filesystems.filter { done.contains($0) }.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        for change in filesystems where !done.contains(change) { map[change.new] = change.old }
        // LVM's: VG UUIDs (GRUB's lvmid hints, in LVM's mixed case) and the devices file's PVIDs.
        var exactly: [String: String] = [:]
        var pvids: [String: String] = [:]
        for change in pending where change.type == StorageIdentityUndo.lvmType {
            guard let oldGroup = change.oldGroup, let newGroup = change.newGroup else { continue }
            if done.contains(change) { exactly[oldGroup] = newGroup; exactly[change.old] = change.new } else { exactly[newGroup] = oldGroup; pvids[change.new] = change.old }
        }
        var changes: [Change] = []
        var writes: [(path: String, contents: String, attributes: FileAttributes)] = []
        for path in try UUIDReferences.candidateFiles(in: context.root) + Self.volumeGroupBackups(pending.filter { done.contains($0) }, in: context.root) {
            guard let text = try context.plannedText(path), let status = try context.root.followedStatus(of: path),
                  let rewritten = UUIDReferences.rewritten(text, replacing: map, exactly: exactly) else { continue }
            context.planText(rewritten, for: path)
            writes.append((path, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: path, action: "write", old: "references to old UUIDs", new: "references to new UUIDs",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: path)))
        }
        let devicesFile = "/etc/lvm/devices/system.devices"
        if !pvids.isEmpty, let text = try context.plannedText(devicesFile), let status = try context.root.regularFileStatus(of: devicesFile),
           let rewritten = LVMIdentityChanger.rewrittenDevicesFile(text, pvids: pvids) {
            context.planText(rewritten, for: devicesFile)
            writes.append((devicesFile, rewritten, FileAttributes(of: status)))
            changes.append(Change(path: devicesFile, action: "write", old: "the PVIDs the initramfs did not set", new: "the PVIDs the disks have",
                                  diff: LineDiff.unified(old: text, new: rewritten, path: devicesFile)))
        }
        // The list goes; the initramfs task removes the component and rebuilds the initramfs.
        changes.append(Change(path: NextBootUUIDs.pendingFile, action: "delete", old: "\(pending.count) identities for the next boot", new: nil,
                              undo: .restorePath(followingSymlinks: false)))
        context.planRemoval(of: NextBootUUIDs.pendingFile)
        notes.append("the initramfs set \(done.count) of \(pending.count) new UUIDs at this boot")
        return TaskPlan(changes: changes, decision: Decision(uuidChanges: [], lvmChanges: [], writes: writes, fatWrites: [],
                                                             removals: [NextBootUUIDs.pendingFile], deferred: nil),
                        notes: notes)
    }

    /// Whether the initramfs set `change`: a device has the new UUID (for an LVM PV, the new PV
    /// UUID, in a volume group with the new VG UUID).
    static func wasSet(_ change: NextBootUUIDs.Change, inventory: BlockDeviceInventory) throws -> Bool {
        guard let device = inventory.device(withUUID: change.new) else { return false }
        guard change.type == StorageIdentityUndo.lvmType, let newGroup = change.newGroup else { return true }
        return (try? LVMPhysicalVolume.read(device.device))??.vgUUID == newGroup
    }

    /// LVM's metadata backups (/etc/lvm/backup/VG) of the volume groups whose PV and VG UUIDs the
    /// initramfs set: `vgcfgrestore` finds a PV by the UUID its backup names.
    static func volumeGroupBackups(_ done: [NextBootUUIDs.Change], in root: RootDirectory) throws -> [String] {
        guard done.contains(where: { $0.type == StorageIdentityUndo.lvmType }) else { return [] }
        return try root.directoryEntries("/etc/lvm/backup").sorted().filter { !$0.hasPrefix(".") }.map { "/etc/lvm/backup/\($0)" }
            .filter { try root.regularFileStatus(of: $0) != nil }
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
        var before = decision.uuidChanges.count
        for change in decision.lvmChanges {
            if change.atNextBoot {
                try context.changeApplied(before)
                before += 1
                continue
            }
            try LVMIdentityChanger.setIdentity(pvUUID: change.pvUUID, vgUUID: change.vgUUID.isEmpty ? nil : change.vgUUID, on: change.device)
            try context.changeApplied(before)
            before += 1
            if let name = change.newName {
                try LVMIdentityChanger.renameVolumeGroup(on: change.device, from: change.oldName, to: name)
                try context.changeApplied(before)
                before += 1
            }
        }
        for directory in decision.directories {
            try context.root.makeDirectory(directory, attributes: FileAttributes(mode: 0o755))
            try context.changeApplied(before)
            before += 1
        }
        let writes = decision.writes.map { RootDirectory.FileWrite(path: $0.path, contents: Array($0.contents.utf8), attributes: $0.attributes) }
        try context.root.writeFilesAtomically(writes) { index in try context.changeApplied(before + index) }
        for (offset, path) in decision.removals.enumerated() {
            if try context.root.status(of: path)?.kind == .directory {
                try context.root.removeEmptyDirectory(path)
            } else {
                try context.root.removeFile(path)
            }
            try context.changeApplied(before + writes.count + offset)
        }
        // The old bytes are in the journal: mtools may now write in place.
        let fatStart = before + writes.count + decision.removals.count
        for (offset, write) in decision.fatWrites.enumerated() {
            try write.esp.write(write.path, contents: write.contents)
            try context.changeApplied(fatStart + offset)
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for change in decision.uuidChanges where !change.deferred && !change.atNextBoot {
            guard try FilesystemUUIDChanger.has(change.new, device: change.device) else {
                throw VerificationError("\(change.device) does not have the new UUID \(change.new)")
            }
        }
        for change in decision.lvmChanges where !change.atNextBoot {
            guard let volume = try LVMPhysicalVolume.read(change.device), volume.pvUUID == change.pvUUID,
                  change.vgUUID.isEmpty || volume.vgUUID == change.vgUUID else {
                throw VerificationError("\(change.device) does not have the new PV and VG UUIDs")
            }
            if let name = change.newName, volume.vgName != name {
                throw VerificationError("the volume group on \(change.device) is called \(volume.vgName ?? "nothing"), not \(name)")
            }
        }
        for write in decision.writes where try context.root.readText(write.path) != write.contents {
            throw VerificationError("\(write.path) does not hold the rewritten references")
        }
        for write in decision.fatWrites where try write.esp.readNow(write.path) != write.contents {
            throw VerificationError("\(write.esp.displayPath(write.path)) on \(write.esp.device.device) does not hold the rewritten references")
        }
    }

    /// The LVM changes for the volume groups the configuration mounts from (name → where): the one
    /// physical volume of each that nothing uses, with new PV and VG UUIDs, and a new name when
    /// another PV this host sees carries a VG of the same name. Everything else becomes a note.
    func volumeGroupChanges(_ volumeGroups: [String: String], inventory: BlockDeviceInventory, in context: PlanningContext,
                            notes: inout [String]) throws -> [Decision.LVMChange] {
        guard !volumeGroups.isEmpty else { return [] }
        // Every PV read once, by device: the root's (the inventory) first.
        var volumes: [String: LVMPhysicalVolume] = [:]
        for device in inventory.devices where device.type == StorageIdentityUndo.lvmType {
            do {
                if let volume = try LVMPhysicalVolume.read(device.device) { volumes[device.device] = volume }
            } catch {
                notes.append("\(device.device): LVM cannot read this physical volume, so it is left out (\(error))")
            }
        }
        var carriers: [String: [(device: String, volume: LVMPhysicalVolume, use: String?, atNextBoot: Bool)]] = [:]
        let changeMounted = context.configuration.flag("Storage", "ChangeMountedFilesystems")
        for device in inventory.devices {
            guard let volume = volumes[device.device], let group = volume.vgName, volumeGroups[group] != nil else { continue }
            let use = try HostDeviceUse.reason(device.device)
            // The running clone's own PV: set by the initramfs at the next boot when it can be.
            let atNextBoot = try use != nil && context.root.isLiveSystem
                && Self.keptOnRunningClone(type: StorageIdentityUndo.lvmType, use: use, in: context.root, changeMounted: changeMounted) == nil
            carriers[group, default: []].append((device.device, volume, use, atNextBoot))
        }
        var chosen: [(group: String, place: String, device: String, volume: LVMPhysicalVolume, atNextBoot: Bool)] = []
        for (group, place) in volumeGroups.sorted(by: { $0.key < $1.key }) {
            let found = carriers[group] ?? []
            guard !found.isEmpty else { notes.append("\(place): no physical volume of \(group) is present; skipped"); continue }
            for used in found where !used.atNextBoot {
                guard let use = used.use else { continue }
                if context.root.isLiveSystem,
                   let reason = try Self.keptOnRunningClone(type: StorageIdentityUndo.lvmType, use: use, in: context.root, changeMounted: changeMounted) {
                    notes.append("\(place): the physical volume \(used.device) of \(group) keeps its PV and VG UUIDs: \(reason)")
                } else {
                    notes.append("\(place): the build host uses \(used.device) (\(use)); never touched")
                }
            }
            let free = found.filter { $0.use == nil || $0.atNextBoot }
            guard free.count <= 1 else {
                let devices = free.map(\.device).joined(separator: ", ")
                notes.append(Set(free.map(\.volume.vgUUID)).count == 1
                    ? "\(place): \(group) spans \(free.count) physical volumes (\(devices)): only a single-PV volume group is changed; attach them all and run vgimportclone"
                    : "\(place): \(free.count) physical volumes carry a volume group called \(group) (\(devices)): the template's disk is attached too; refused")
                continue
            }
            if let only = free.first { chosen.append((group, place, only.device, only.volume, only.atNextBoot)) }
        }
        guard !chosen.isEmpty else { return [] }

        // With --image or --root the host's own PVs count too (the inventory is the clone's
        // alone). A PV LVM cannot read names no VG this host could activate by name.
        if !context.deviceScope.coversHost {
            for device in try BlockDeviceInventory.host().devices where device.type == StorageIdentityUndo.lvmType && volumes[device.device] == nil {
                if let volume = (try? LVMPhysicalVolume.read(device.device)) ?? nil { volumes[device.device] = volume }
            }
        }
        // The VG names this host sees on every PV but the ones to change.
        let ours = Set(chosen.map(\.device))
        var elsewhere: [String: String] = [:]
        for (device, volume) in volumes.sorted(by: { $0.key < $1.key }) where !ours.contains(device) {
            if let name = volume.vgName, elsewhere[name] == nil { elsewhere[name] = device }
        }
        var taken = Set(volumes.values.compactMap(\.vgName))
        var result: [Decision.LVMChange] = []
        for volume in chosen {
            var newName: String?
            if let other = elsewhere[volume.group], volume.atNextBoot {
                notes.append("\(volume.place): \(other) also carries a volume group called \(volume.group); the running clone's keeps its name (its root is named after it): rename one of them with vgrename")
            } else if let other = elsewhere[volume.group] {
                let name = VolumeGroupNames.unused(basedOn: volume.group, taken: taken)
                taken.insert(name)
                newName = name
                notes.append("\(volume.place): \(other) on this host also carries a volume group called \(volume.group), so the clone's becomes \(name) (as vgimportclone would name it), with every reference to it")
            }
            var change = Decision.LVMChange(device: volume.device, oldPV: volume.volume.pvUUID, oldVG: volume.volume.vgUUID ?? "", oldName: volume.group,
                                            pvUUID: try LVMIdentityChanger.newUUID(),
                                            vgUUID: volume.volume.vgUUID == nil ? "" : try LVMIdentityChanger.newUUID(), newName: newName)
            change.atNextBoot = volume.atNextBoot
            if change.atNextBoot {
                notes.append("\(volume.place): the physical volume \(volume.device) of \(volume.group) gets its new PV and VG UUIDs from the initramfs at the next boot, before the volume group is activated")
            }
            result.append(change)
        }
        return result
    }
}

extension FilesystemUUIDsTask {
    /// Every UUID the fstab names is present (on the image's partitions, or on the running system
    /// in /dev/disk/by-uuid), and no filesystem, swap area, LUKS volume, LVM PV or VG in view still
    /// has the identity the template's record holds (`StorageIdentities`). A UUID the initramfs
    /// sets at the next boot (`NextBootUUIDs`) is pending, not failed. Each failure names the
    /// device or mount point, the identity and what changes it on this root.
    public func cloneChecks(in context: VerificationContext) throws -> [CloneCheck] {
        let pending = try NextBootUUIDs.pending(in: context.root) ?? []
        var checks = try presenceChecks(in: context, pending: pending)
        guard let storage = context.template?.storage, !storage.volumes.isEmpty || !storage.volumeGroups.isEmpty else { return checks }
        let inventory = try context.deviceScope.inventory()
        let references = try FilesystemTable.references(in: context.root)
        let named = Set(references.compactMap { reference -> String? in
            if case .uuid(let uuid) = reference.source { return uuid.lowercased() }
            return nil
        })
        for volume in storage.volumes {
            checks.append(try check(volume, pending: pending, named: named, references: references, inventory: inventory, in: context))
        }
        if !storage.volumeGroups.isEmpty {
            checks += try volumeGroupChecks(storage.volumeGroups, pending: pending, inventory: inventory, in: context)
        }
        checks += try volumeKeyChecks(storage.volumes, inventory: inventory)
        // Nothing to compare with would pass every check above: say so instead.
        if !references.isEmpty, !references.contains(where: { !inventory.devices(for: $0.source).isEmpty }),
           storage.volumes.contains(where: { !named.contains($0.uuid.lowercased()) }) || !storage.volumeGroups.isEmpty {
            checks.append(CloneCheck("the clone's storage is in view", false,
                                     "none of the devices the root's fstab and crypttab name is among \(context.deviceScope.summary): name the clone's disks with --device"))
        }
        return checks
    }

    /// The fstab UUIDs present now (a new UUID the initramfs sets at the next boot is pending).
    func presenceChecks(in context: VerificationContext, pending: [NextBootUUIDs.Change]) throws -> [CloneCheck] {
        let uuids = try FstabReferences.uuids(in: context.root)
        let present: (String) -> (Bool, String)
        if let devices = context.devices {
            let inventory = BlockDeviceInventory(devices: devices)
            present = { uuid in inventory.device(withUUID: uuid).map { (true, $0.device) } ?? (false, "no partition of the image has it") }
        } else if context.root.isLiveSystem {
            // udev names vfat ids in upper case (/dev/disk/by-uuid/CE0E-39C2): compare without case.
            let links = Set(Sysfs.entries(of: "/dev/disk/by-uuid").map { $0.lowercased() })
            present = { uuid in links.contains(uuid.lowercased()) ? (true, "/dev/disk/by-uuid/\(uuid)") : (false, "no device has it") }
        } else {
            return []
        }
        return uuids.map { uuid in
            let name = "fstab UUID \(uuid) is present"
            let (found, detail) = present(uuid)
            if !found, let change = pending.first(where: { $0.new.lowercased() == uuid.lowercased() }) {
                return .pending(name, "the initramfs sets it in place of \(change.old) at the next boot")
            }
            return CloneCheck(name, found, detail)
        }
    }

    /// Whether `volume` (the template's) still has its UUID in the clone.
    func check(_ volume: StorageIdentities.Volume, pending: [NextBootUUIDs.Change], named: Set<String>, references: [FilesystemReference],
               inventory: BlockDeviceInventory, in context: VerificationContext) throws -> CloneCheck {
        let what = volume.type == "swap" ? "swap UUID" : volume.type == "crypto_LUKS" ? "LUKS UUID of \(volume.place)" : "filesystem UUID of \(volume.place)"
        let name = "\(what) differs from the template's"
        if let change = pending.first(where: { $0.old.lowercased() == volume.uuid.lowercased() }) {
            return .pending(name, "the initramfs sets \(change.new) in place of the template's \(volume.uuid) at the next boot")
        }
        if let device = inventory.devices(for: .uuid(volume.uuid)).first {
            return try Self.stillTheTemplates(name, "\(device.device) (\(device.type)\(volume.type == "swap" ? "" : " on \(volume.place)")) still has the template's UUID \(volume.uuid)",
                                              type: device.type, device: device.device, uuid: volume.uuid, in: context)
        }
        if named.contains(volume.uuid.lowercased()) {
            return CloneCheck(name, false, "the root's fstab or crypttab still names the template's UUID \(volume.uuid), which no device among \(context.deviceScope.summary) has: name the clone's disk with --device, or run '\(context.runCommand)' with it")
        }
        // The clone's device in the same place, to show what it has now.
        let now = references.first { $0.mountPoint == volume.place && (volume.type == "swap") == ($0.type == "swap") }
            .flatMap { inventory.devices(for: $0.source).first }
        return CloneCheck(name, true, now.map { "\($0.device) has \($0.uuid ?? "no UUID"), not the template's \(volume.uuid)" }
                          ?? "no device in view has the template's \(volume.uuid)")
    }

    /// Whether the clone's physical volumes still have the template's PV or VG UUIDs.
    /// Each LUKS volume of the template whose key fingerprint was recorded: kept (a warning, a
    /// failure with `--strict`) while a LUKS volume in view still has that key, since only
    /// re-encryption changes it; passed once none has.
    func volumeKeyChecks(_ volumes: [StorageIdentities.Volume], inventory: BlockDeviceInventory) throws -> [CloneCheck] {
        var checks: [CloneCheck] = []
        let recorded = volumes.filter { $0.type == "crypto_LUKS" && $0.volumeKey != nil }
        guard !recorded.isEmpty else { return [] }
        // Each LUKS header in view read once, however many volumes the template had.
        let inView = try inventory.devices.filter { $0.type == "crypto_LUKS" }.map { ($0, try LUKSVolumeKey.fingerprint(of: $0.device)) }
        for volume in recorded {
            let name = "LUKS volume key of \(volume.place) differs from the template's"
            let same = inView.first { $0.1 == volume.volumeKey }?.0
            if let same {
                checks.append(.kept(name, "\(same.device) still has the template's volume key (a key taken from one clone opens every clone's disk)",
                                    reason: LUKSVolumeKey.advice(uuid: same.uuid ?? volume.uuid)))
            } else {
                checks.append(CloneCheck(name, true, "no LUKS volume in view has the template's volume key"))
            }
        }
        return checks
    }

    func volumeGroupChecks(_ groups: [StorageIdentities.VolumeGroup], pending: [NextBootUUIDs.Change], inventory: BlockDeviceInventory,
                           in context: VerificationContext) throws -> [CloneCheck] {
        var volumes: [LVMPhysicalVolume] = []
        var checks: [CloneCheck] = []
        for device in inventory.devices where device.type == StorageIdentityUndo.lvmType {
            do {
                if let volume = try LVMPhysicalVolume.read(device.device) { volumes.append(volume) }
            } catch {
                checks.append(CloneCheck("\(device.device) can be read by LVM", false, "\(error)"))
            }
        }
        for group in groups {
            let pvName = "LVM PV UUID of \(group.name) differs from the template's"
            if let change = pending.first(where: { $0.type == StorageIdentityUndo.lvmType && $0.old == group.pvUUID }) {
                checks.append(.pending(pvName, "the initramfs sets \(change.new) in place of the template's \(group.pvUUID) at the next boot"))
                if group.uuid != nil, let newGroup = change.newGroup {
                    checks.append(.pending("LVM VG UUID of \(group.name) differs from the template's",
                                           "the initramfs sets \(newGroup) in place of the template's \(change.oldGroup ?? "") at the next boot"))
                }
                continue
            }
            if let volume = volumes.first(where: { $0.pvUUID == group.pvUUID }) {
                checks.append(try Self.stillTheTemplates(pvName, "\(volume.device) still has the template's PV UUID \(group.pvUUID)",
                                                         type: StorageIdentityUndo.lvmType, device: volume.device, uuid: nil, in: context))
            } else {
                checks.append(CloneCheck(pvName, true, "no physical volume in view has the template's \(group.pvUUID)"))
            }
            guard let vgUUID = group.uuid else { continue }
            let vgName = "LVM VG UUID of \(group.name) differs from the template's"
            if let volume = volumes.first(where: { $0.vgUUID == vgUUID }) {
                checks.append(try Self.stillTheTemplates(vgName, "the volume group \(volume.vgName ?? group.name) on \(volume.device) still has the template's VG UUID \(vgUUID)",
                                                         type: StorageIdentityUndo.lvmType, device: volume.device, uuid: nil, in: context))
            } else {
                checks.append(CloneCheck(vgName, true, "no volume group in view has the template's \(vgUUID)"))
            }
        }
        return checks
    }

    /// The check for `device` (of blkid type `type`), which still has the template's identity
    /// (`detail` says which; `uuid`: a filesystem's, looked for in GRUB's core.img), decided as a
    /// run on the root verified would decide it:
    /// - kept when the run leaves it by design: GRUB's core.img embeds it, or on the running
    ///   clone what `keptOnRunningClone` keeps (a filesystem in use without the next-boot path or
    ///   with `ChangeMountedFilesystems=no`, an active PV or open LUKS volume, a vfat serial
    ///   without fatlabel), the reason naming what changes it;
    /// - failed otherwise, naming the fix: a run (`context.runCommand`) on an image, on a
    ///   `--root` whose device this host does not use, or on a running clone's unused device; on
    ///   a running clone with `ChangeMountedFilesystems=yes` and the next-boot path, a filesystem
    ///   in use fails when no new UUID is pending for it (the run did not schedule it, or the
    ///   initramfs did not set it).
    static func stillTheTemplates(_ name: String, _ detail: String, type: String, device: String, uuid: String?,
                                  in context: VerificationContext) throws -> CloneCheck {
        if let uuid, let reason = try grubCoreReason(uuid, in: context.root) { return .kept(name, detail, reason: reason) }
        // An image's partitions are attached (and its root mounted) by verify itself.
        guard context.deviceScope.imageFile == nil else { return CloneCheck(name, false, "\(detail): run '\(context.runCommand)'") }
        let use = try HostDeviceUse.reason(device)
        guard context.isRunningClone else {
            return CloneCheck(name, false, use.map { "\(detail): this host uses \(device) (it is \($0)): stop using it here, then run '\(context.runCommand)'" }
                              ?? "\(detail): run '\(context.runCommand)'")
        }
        let changeMounted = context.configuration?.flag("Storage", "ChangeMountedFilesystems") == true
        if let reason = try keptOnRunningClone(type: type, use: use, in: context.root, changeMounted: changeMounted) {
            return .kept(name, detail, reason: reason)
        }
        guard let use else { return CloneCheck(name, false, "\(detail): run '\(context.runCommand)'") }
        return CloneCheck(name, false, "\(detail): it is \(use) and [Storage] ChangeMountedFilesystems=yes, but no new UUID is pending for it: run '\(context.runCommand)' (the initramfs sets one at the next boot; if it was to set one at this boot, see /run/sanitize-clone-uuids.log)")
    }
}
