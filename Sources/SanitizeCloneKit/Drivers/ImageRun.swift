#if canImport(Glibc)
import Glibc
#endif

/// `run --image DISK.raw` and `rollback --image`: the whole task graph on a VM disk image, offline.
///
/// The image's partitions, and the linear LVs inside its LVM PVs (at the byte ranges the VG
/// metadata gives, so no device-mapper is needed), are attached to loop devices
/// (`AttachedDiskImage`), its root filesystem
/// (the one holding `/etc/fstab`) is mounted privately with the `/boot` and EFI filesystems its
/// fstab names, and the task graph runs against it with the image's devices as the only block
/// devices. The filesystems that had to be mounted get their new UUIDs once unmounted: the run
/// journals them like every other change (in the image's own journal), and while they are made
/// the image is unmounted, so their progress is kept beside the image, in
/// `DISK.raw.sanitize-clone-pending`, synced before each change and removed after the last.
/// Everything is detached on success, failure and SIGINT/SIGTERM.
public struct ImageRun {
    let engine: RunEngine

    public init(engine: RunEngine) { self.engine = engine }

    /// The file beside `image` that holds the UUID changes in progress after the graph ran.
    public static func pendingFile(for image: String) -> String { image + ".sanitize-clone-pending" }

    /// Filesystems the root's fstab mounts where reference files live.
    static let referencePlaces = ["/boot", "/boot/efi", "/efi"]

    /// Runs (or with `options.dryRun` plans) the task graph on the image.
    public func run(image: String, options: RunOptions, observer: (any RunObserver)? = nil) throws -> RunReport {
        let pending = try Self.refuseIfUnfinished(image)
        let attached = try Self.attach(image, readOnly: options.dryRun)
        defer { attached.detach() }
        let devices = try attached.probedPartitions()
        let (mount, kept) = try Self.mountRoot(of: image, devices: devices, readOnly: options.dryRun, unreachable: attached.unreachable)
        var unmounted = false
        defer { if !unmounted { try? mount.root.unmount() } }

        var runOptions = options
        runOptions.blockDevices = devices
        runOptions.image = image
        runOptions.unreachableVolumes = attached.unreachable
        let deferred = DeferredFilesystemChanges(mountedDevices: Set(mount.devices), keptDevices: kept)
        runOptions.deferredFilesystems = deferred
        let report = try engine.run(rootPath: mount.root.path, options: runOptions, observer: observer)
        guard !options.dryRun, report.result == .committed else { return report }

        // The run is committed with the image mounted; now the UUIDs of what was mounted…
        try mount.root.unmount()
        unmounted = true
        if !deferred.pending.isEmpty {
            try setDeferredUUIDs(deferred.pending, image: image, attached: attached, rootDevice: mount.rootDevice, pending: pending)
        }
        // …and no change counts until the image file shows it.
        try readBack(image: image, attached: attached, before: devices, pending: pending)
        return report
    }

    /// Sets the UUIDs of the filesystems that were mounted during the run, now that nothing is,
    /// keeping the progress in `pending`. A change that fails sets back the ones made and rolls the
    /// run back inside the image; throws `ImageUUIDChangeError` (exit 1) then.
    private func setDeferredUUIDs(_ changes: [DeferredFilesystemChanges.Change], image: String, attached: AttachedDiskImage,
                                  rootDevice: String, pending: String) throws {
        var done: [DeferredFilesystemChanges.Change] = []
        do {
            for change in changes {
                try Self.record(done + [change], in: pending)
                try FilesystemUUIDChanger.setUUID(change.new, on: change.device, type: change.type)
                done.append(change)
                guard try FilesystemUUIDChanger.has(change.new, device: change.device) else {
                    throw VerificationError("\(change.device) does not have the new UUID \(change.new)")
                }
            }
        } catch {
            // Put the UUIDs back, then undo the run inside the image, as a failed task would.
            for change in done.reversed() { _ = try? FilesystemUUIDChanger.setUUID(change.old, on: change.device, type: change.type) }
            let remount = try PrivateMount(device: rootDevice)
            defer { try? remount.unmount() }
            _ = try engine.rollback(rootPath: remount.path, target: .last, force: true,
                                    binding: RunEngine.RootBinding(image: image, blockDevices: try attached.probedPartitions()))
            // The error that undid the run comes first; a pending file that stays is named too,
            // since it would make the next run refuse the image.
            var reason = "\(error)"
            do { try Self.removePendingFile(pending) } catch { reason += "; then: \(error)" }
            throw ImageUUIDChangeError(image: image, reason: reason)
        }
    }

    /// Detaches the image (flushing every device) and attaches it again read-only to confirm
    /// that each partition the run changed holds its new identity in the image file itself
    /// (`ImageReadBack`). Until then the changes stay listed in `pending`, so a run that dies
    /// here makes the next one ask for a rollback. A partition that does not rolls the whole run
    /// back (`rollback(image:target:force:)`) and throws `ImageReadBackError` (exit 1; exit 4
    /// when the rollback fails too).
    private func readBack(image: String, attached: AttachedDiskImage, before: [BlockDeviceIdentity], pending: String) throws {
        let readBack = try ImageReadBack(image: image, attached: attached, before: before)
        if !readBack.expectations.isEmpty {
            try Self.record(readBack.expectations.map {
                DeferredFilesystemChanges.Change(device: $0.partition.device, type: $0.after.type,
                                                 old: $0.before?.uuid ?? "none", new: $0.after.uuid ?? "none")
            }, in: pending)
        }
        let flushFailures = attached.detach()
        do {
            try readBack.confirm(flushFailures: flushFailures)
        } catch var mismatch as ImageReadBackError {
            do {
                _ = try AttachedDiskImage.waitUntilDetached(image)
                _ = try rollback(image: image, target: .last, force: true)
            } catch {
                mismatch.rollbackFailure = "\(error)"
            }
            throw mismatch
        }
        try Self.removePendingFile(pending)
    }

    /// Runs `body` on the image's root mounted read-only (with the `/boot` and EFI filesystems
    /// its fstab names) and the image's devices, then unmounts and detaches: what `verify --image`
    /// reads. Nothing in the image changes. Throws `UnfinishedImageRunError` (exit 4) while an
    /// interrupted run's UUID changes are pending, and what attaching and mounting throw.
    public static func inspect<T>(image: String, _ body: (_ rootPath: String, _ devices: [BlockDeviceIdentity]) throws -> T) throws -> T {
        try refuseIfUnfinished(image)
        let attached = try attach(image, readOnly: true)
        defer { attached.detach() }
        let devices = try attached.probedPartitions()
        let (mount, _) = try mountRoot(of: image, devices: devices, readOnly: true, unreachable: attached.unreachable)
        defer { try? mount.root.unmount() }
        return try body(mount.root.path, devices)
    }

    /// Undoes the newest run on the image: the UUIDs first (unmounted), then the run inside it.
    public func rollback(image: String, target: RunEngine.RollbackTarget, force: Bool) throws -> RollbackReport {
        let attached = try Self.attach(image, readOnly: false)
        defer { attached.detach() }
        let devices = try attached.probedPartitions()
        let inventory = BlockDeviceInventory(devices: devices)

        // Read the run's UUID changes and check the rollback can be done, root mounted read-only…
        var changes: [(type: String, from: String, to: String)] = []
        // PARTUUIDs the run changed, both ways: a run killed between the table and the fstab
        // leaves them disagreeing, and /boot must still be found.
        var partUUIDAliases: [String: String] = [:]
        do {
            let (mount, _) = try Self.mountRoot(of: image, devices: devices, readOnly: true, aliases: [:])
            defer { try? mount.root.unmount() }
            changes = try filesystemUUIDChanges(of: target, inRootAt: mount.root.path, image: image)
            partUUIDAliases = try partitionTableAliases(of: target, inRootAt: mount.root.path, image: image)
            // The same refusals as a rollback inside, before anything is touched; a device that
            // has its old UUID already (an interrupted run) is found through it.
            if !changes.isEmpty || !partUUIDAliases.isEmpty {
                let aliases = Dictionary(changes.map { ($0.from, $0.to) }, uniquingKeysWith: { first, _ in first })
                    .merging(partUUIDAliases, uniquingKeysWith: { first, _ in first })
                try mount.root.unmount()
                let (checked, _) = try Self.mountRoot(of: image, devices: devices, readOnly: true, aliases: aliases)
                defer { try? checked.root.unmount() }
                try engine.checkRollback(rootPath: checked.root.path, target: target, force: force,
                                         binding: RunEngine.RootBinding(image: image, blockDevices: devices))
            }
        }
        // …set the UUIDs back while nothing is mounted…
        for change in changes.reversed() {
            try StorageIdentityUndo.setBack(type: change.type, from: change.from, to: change.to, devices: inventory)
        }
        try Self.removePendingFile(Self.pendingFile(for: image))
        // …then undo the run inside the image, its fstab still naming the new UUIDs (its UUID
        // entries are no-ops now).
        let fresh = try attached.probedPartitions()
        let aliases = Dictionary(changes.map { ($0.from, $0.to) }, uniquingKeysWith: { first, _ in first })
            .merging(partUUIDAliases, uniquingKeysWith: { first, _ in first })
        let (mount, _) = try Self.mountRoot(of: image, devices: fresh, readOnly: false, aliases: aliases)
        defer { try? mount.root.unmount() }
        return try engine.rollback(rootPath: mount.root.path, target: target, force: force,
                                   binding: RunEngine.RootBinding(image: image, blockDevices: fresh))
    }

    /// Throws `UnfinishedImageRunError` (exit 4) while an interrupted run's UUID changes are
    /// pending beside `image`; returns that file's path otherwise.
    @discardableResult
    static func refuseIfUnfinished(_ image: String) throws -> String {
        let pending = pendingFile(for: image)
        guard try !System.isAccessible(pending, F_OK) else { throw UnfinishedImageRunError(image: image, pendingFile: pending) }
        return pending
    }

    /// The image attached to loop devices, detached again on SIGINT/SIGTERM as by the caller.
    static func attach(_ image: String, readOnly: Bool) throws -> AttachedDiskImage {
        DeviceCleanup.installSignalHandlers()
        return try AttachedDiskImage(image: image, readOnly: readOnly)
    }

    /// The block-device identity changes the run `target` journaled in the root of `image`
    /// mounted at `path` (none when no such run is recorded).
    func filesystemUUIDChanges(of target: RunEngine.RollbackTarget, inRootAt path: String, image: String) throws -> [(type: String, from: String, to: String)] {
        try undoActions(of: target, inRootAt: path, image: image).compactMap { StorageIdentityUndo.change(in: $0) }
    }

    /// The undo actions the run `target` journaled in the root of `image` mounted at `path`, read
    /// through this host's journal trust (none when no such run is recorded).
    func undoActions(of target: RunEngine.RollbackTarget, inRootAt path: String, image: String) throws -> [UndoAction] {
        let root = try RootDirectory(path: path)
        let trust = try engine.trust(for: root, image: image, creatingKey: false)
        let ids = try StateDirectory.runIDs(in: root)
        let id: String?
        switch target {
        case .run(let requested): id = ids.contains(requested) ? requested : nil
        case .last: id = try ids.reversed().first { try StateDirectory.load($0, in: root, trust: trust).outcome != .rolledBack }
        }
        guard let id else { return [] }
        return try StateDirectory.load(id, in: root, trust: trust).undoEntries.map(\.action)
    }

    /// The partition table identifiers the run `target` journaled, as aliases both ways: a GPT
    /// partition's GUID (lower case) for the other, an MBR disk identifier's 8 hex digits for the
    /// other (its PARTUUIDs are `<digits>-NN`).
    func partitionTableAliases(of target: RunEngine.RollbackTarget, inRootAt path: String, image: String) throws -> [String: String] {
        var aliases: [String: String] = [:]
        for action in try undoActions(of: target, inRootAt: path, image: image) {
            guard let change = PartitionTableIdentityUndo.change(in: action), change.field != .gptDiskGUID else { continue }
            let (new, old) = change.field == .mbrDiskID
                ? (String(change.from.lowercased().dropFirst(2)), String(change.to.lowercased().dropFirst(2)))
                : (change.from.lowercased(), change.to.lowercased())
            aliases[new] = old
            aliases[old] = new
        }
        return aliases
    }

    /// The PARTUUID `aliases` (see `partitionTableAliases`) give for `partUUID`, if any.
    static func aliased(partUUID: String, in aliases: [String: String]) -> String? {
        let lowered = partUUID.lowercased()
        if let other = aliases[lowered] { return other }
        let parts = lowered.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 8, let other = aliases[String(parts[0])] else { return nil }
        return other + "-" + parts[1]
    }

    /// The image's root mounted, with the filesystems its fstab mounts on /boot and the EFI
    /// directories below it, and the devices kept out of UUID changes (with the reason).
    struct MountedImage {
        let root: PrivateMount
        let rootDevice: String
        let devices: [String]
    }

    /// `aliases` maps a UUID the fstab names to the one its device has now, and a PARTUUID to the
    /// one the table may have now (during a rollback).
    ///
    /// `unreachable` (what the image holds beyond reach, `AttachedDiskImage.unreachable`) is named
    /// in the error when no device holds the root: it may be there.
    static func mountRoot(of image: String, devices: [BlockDeviceIdentity], readOnly: Bool,
                          aliases: [String: String] = [:], unreachable: [String] = []) throws -> (MountedImage, [String: String]) {
        let mountable = Set(Sysfs.lines("/proc/filesystems").map { $0.split(separator: "\t").last.map(String.init) ?? "" })
        var found: (PrivateMount, BlockDeviceIdentity)?
        for device in devices where mountable.contains(device.type) {
            guard let mount = try? PrivateMount(device: device.device, readOnly: true) else { continue }
            // Looked up inside the partition: an absolute symlink there must not reach the host's fstab.
            if (try? RootDirectory(path: mount.path).followedStatus(of: "/etc/fstab"))??.kind == .regular {
                if readOnly {
                    found = (mount, device)
                } else {
                    try mount.unmount()
                    found = (try PrivateMount(device: device.device), device)
                }
                break
            }
            try mount.unmount()
        }
        guard let (root, rootDevice) = found else {
            let beyond = unreachable.isEmpty ? "" : "; not reachable here: " + unreachable.joined(separator: "; ")
            throw InputError("\(image): no partition or LV holds a root filesystem with /etc/fstab that this kernel can mount (\(devices.map { "\($0.device) \($0.type)" }.joined(separator: ", "))\(beyond)); give a Linux VM image")
        }
        var mounted = [rootDevice.device]
        var kept: [String: String] = [:]
        let fstab = try FilesystemTable.references(in: RootDirectory(path: root.path))
        let inventory = BlockDeviceInventory(devices: devices)
        for place in referencePlaces {
            guard let reference = fstab.first(where: { $0.mountPoint == place && $0.file == "/etc/fstab" }),
                  let device = inventory.devices(for: reference.source).first ?? {
                      switch reference.source {
                      case .uuid(let uuid): return aliases[uuid].flatMap { inventory.devices(for: .uuid($0)).first }
                      case .partUUID(let id): return aliased(partUUID: id, in: aliases).flatMap { inventory.devices(for: .partUUID($0)).first }
                      default: return nil
                      }
                  }() else { continue }
            if mountable.contains(device.type), (try? root.mount(device: device.device, at: place)) != nil {
                mounted.append(device.device)
            } else if place != "/boot" && device.type != "vfat" {
                // A FAT ESP is read and rewritten through mtools by fs-uuids (UnmountedESP).
                // Its stub grub.cfg names the filesystem holding /boot/grub: that one keeps its UUID.
                let bootDevice = fstab.first { $0.mountPoint == "/boot" }.flatMap { inventory.devices(for: $0.source).first } ?? rootDevice
                kept[bootDevice.device] = "\(place) (\(device.type)) cannot be mounted on this host, so the grub.cfg there, which names \(bootDevice.device), could not be rewritten"
            }
        }
        return (MountedImage(root: root, rootDevice: rootDevice.device, devices: mounted), kept)
    }

    /// Writes the UUID changes begun so far beside the image, synced, before the next is made.
    static func record(_ changes: [DeferredFilesystemChanges.Change], in path: String) throws {
        let text = changes.map { "\($0.device) \($0.type) \($0.old) \($0.new)" }.joined(separator: "\n") + "\n"
        let fd = try System.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600, operation: "create")
        defer { System.close(fd) }
        try FileDescriptorIO.writeAll(fd, Array(text.utf8), path: path)
        try System.fsync(fd, operation: "write", path: path)
    }

    /// Removes the pending file once its UUID changes are done or undone (absent is fine). One
    /// that cannot be removed is an error: left, it would make the next run refuse the image.
    static func removePendingFile(_ path: String) throws {
        _ = try System.allowing([ENOENT]) { try System.unlink(path) }
    }
}

/// An earlier `run --image` stopped while it set the image's UUIDs (exit 4).
public struct UnfinishedImageRunError: Error, CustomStringConvertible, Sendable {
    let image: String, pendingFile: String
    public var description: String {
        "\(image): an earlier run stopped while it changed the image's filesystem UUIDs (\(pendingFile)); run 'sanitize-clone rollback --image \(image) --last' first"
    }
}

/// Setting the UUIDs of the image's own filesystems failed; everything was rolled back (exit 1).
public struct ImageUUIDChangeError: Error, CustomStringConvertible, Sendable {
    let image: String, reason: String
    public var description: String { "\(image): the run was rolled back because a filesystem UUID could not be set: \(reason)" }
}

extension AttachedDiskImage {
    /// Each attached partition and LV as a low-level probe sees it now (those with a signature),
    /// with its PARTUUID from the image's table (a loop device at an offset shows none to blkid),
    /// so an fstab's `PARTUUID=` finds it, and an LV's name, so `/dev/mapper/VG-LV` finds it.
    func probedPartitions() throws -> [BlockDeviceIdentity] {
        try partitions.compactMap { partition in
            guard var identity = try BlockDeviceIdentity.probe(partition.device) else { return nil }
            identity.partUUID = identity.partUUID ?? partition.partUUID
            identity.logicalVolume = partition.logicalVolume
            return identity
        }
    }
}
