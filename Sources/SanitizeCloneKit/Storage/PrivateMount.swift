#if canImport(Glibc)
import Glibc
#endif
import CShims
import Synchronization

/// A filesystem mounted on a new directory `/run/sanitize-clone/mnt-PID-XXXXXX`, hidden from the
/// host's other processes where possible, with more filesystems mountable below it (/boot from
/// the image's fstab).
///
/// Hidden: before its first mount the process moves into a mount namespace of its own
/// (`hideMountsFromHost()`); the directory exists on the host, the mount only for us. The kernel
/// moves only the calling thread, so this is done only while the process has a single thread
/// (the CLI, early); a process that already runs several threads (a test runner) mounts in the
/// host's namespace, where `unmount()` and `DeviceCleanup` still remove every mount.
///
/// Mounts are `nosuid,nodev`: nothing in a guest image gains privileges or device access on the host.
public final class PrivateMount: Sendable {
    /// The device mounted at `path`, e.g. /dev/loop3.
    public let device: String
    /// The mount point on the host, e.g. /run/sanitize-clone/mnt-812-Ab3dEf.
    public let path: String
    /// The filesystem type blkid found on `device` (ext4, xfs, btrfs…).
    public let filesystemType: String
    /// Whether the filesystems are mounted read-only.
    public let isReadOnly: Bool
    /// True when the mount lives in a namespace of its own, invisible to every other process.
    public let isHiddenFromHost: Bool

    private struct Mounted: Sendable {
        var path: String
        var registration: DeviceCleanup.Registration?
    }

    /// The mounts still in place, the root first; empty once unmounted.
    private let mounts: Mutex<[Mounted]>

    /// The directory that holds the mount points.
    public static let parentDirectory = "/run/sanitize-clone"

    /// Mounts `device` (its type found by `blkid -p`) on a new directory under `/run/sanitize-clone`.
    ///
    /// Throws `InputError` when the device holds no mountable filesystem or the kernel refuses it
    /// (with what to do), `SystemError` when the directory cannot be made, `MissingProgramError`
    /// without blkid. Creates /run/sanitize-clone (0700) when missing and removes the empty mount
    /// points of runs that are gone.
    public init(device: String, readOnly: Bool = false) throws {
        isHiddenFromHost = Self.hideMountsFromHost()
        let type = try Self.filesystemType(of: device)
        let directory = try Self.makeMountPoint()
        let registration = DeviceCleanup.register(mount: directory, removingDirectory: true)
        do {
            try Self.mount(device, on: directory, type: type, readOnly: readOnly)
        } catch {
            registration?.cancel()
            // The mount's error is the one to report; an empty mount point left behind is
            // removed by the next run (`removeAbandonedMountPoints`).
            try? System.removeDirectory(directory)
            throw error
        }
        self.device = device
        self.path = directory
        self.filesystemType = type
        self.isReadOnly = readOnly
        self.mounts = Mutex([Mounted(path: directory, registration: registration)])
    }

    /// Mounts `device` on the directory `pathInsideRoot` of this mount (e.g. /boot), read-only
    /// when the root is unless told otherwise.
    ///
    /// The path is resolved inside the root (`openat2(RESOLVE_IN_ROOT)`): a guest's symlink
    /// `/boot -> /etc` leads to the guest's /etc, never the host's. Throws `InputError` when the
    /// directory is missing or the filesystem cannot be mounted, and when the root is unmounted.
    public func mount(device: String, at pathInsideRoot: String, readOnly: Bool? = nil) throws {
        let type = try Self.filesystemType(of: device)
        try mounts.withLock { mounted in
            guard !mounted.isEmpty else {
                throw InputError("cannot mount \(device) on \(pathInsideRoot): \(self.device) is no longer mounted")
            }
            let target = try resolveDirectory(pathInsideRoot, for: device)
            defer { System.close(target) }
            let hostPath = try RootDirectory.procPath(of: target)
            guard hostPath == path || hostPath.hasPrefix(path + "/") else {
                throw InputError("\(pathInsideRoot) resolves outside \(path); cannot mount \(device) there")
            }
            let registration = DeviceCleanup.register(mount: hostPath, removingDirectory: false)
            do {
                // Through the descriptor: the directory resolved is the one mounted on, even if
                // a name on the way is changed meanwhile.
                try Self.mount(device, on: "/proc/self/fd/\(target)", type: type, readOnly: readOnly ?? isReadOnly, naming: hostPath)
            } catch {
                registration?.cancel()
                throw error
            }
            mounted.append(Mounted(path: hostPath, registration: registration))
        }
    }

    /// Unmounts everything mounted here, deepest first, and removes the mount point (idempotent).
    ///
    /// Throws `InputError` when a filesystem is busy (a process has a file open or its working
    /// directory there); it stays mounted, so nothing is cut off mid-write, until `unmount()` is
    /// called again, deinit unmounts it lazily, or the process ends.
    public func unmount() throws {
        try unmount(lazily: false)
    }

    deinit {
        try? unmount(lazily: true)
    }

    private func unmount(lazily: Bool) throws {
        try mounts.withLock { mounted in
            while let last = mounted.last {
                do throws(SystemError) {
                    try System.unmount(last.path, lazilyIfBusy: lazily)
                } catch where error.code == EBUSY {
                    throw InputError("\(last.path) is still in use (`fuser -vm \(last.path)` lists who uses it); close what is open there and unmount again")
                } catch {
                    // EINVAL: not mounted (any more); anything else leaves nothing we can do.
                }
                // An empty mount point that stays (still a mount point for another namespace:
                // EBUSY) is removed by the next run (`removeAbandonedMountPoints`).
                if mounted.count == 1 { try? System.removeDirectory(last.path) }
                last.registration?.cancel()
                mounted.removeLast()
            }
        }
    }

    /// Moves the process into a mount namespace of its own, once (unshare(CLONE_NEWNS), then
    /// slave propagation on "/": the host's later unmounts still reach us, none of our mounts
    /// reaches the host). Only while the process has one thread, since the kernel moves only the
    /// calling thread (threads started afterwards follow it). Returns whether the process is now
    /// in its own namespace. Call it early (before any thread starts) to have hidden mounts;
    /// `init` calls it too.
    @discardableResult
    public static func hideMountsFromHost() -> Bool {
        namespaceDetached.withLock { detached in
            if let detached { return detached }
            // When the kernel refuses (no CAP_SYS_ADMIN, a seccomp filter), mounts are made in the
            // host's namespace, where `unmount()` and `DeviceCleanup` still remove every one.
            let result = threadCount() == 1 && (try? System.detachMountNamespace()) != nil
            detached = result
            return result
        }
    }

    private static let namespaceDetached = Mutex<Bool?>(nil)

    /// The number of threads of this process (the entries of /proc/self/task); 0 when it cannot
    /// be read, which keeps the mounts in the host's namespace.
    private static func threadCount() -> Int {
        Sysfs.entries(of: "/proc/self/task").count
    }

    /// A descriptor (O_PATH) of the directory `pathInsideRoot`, resolved inside this mount.
    private func resolveDirectory(_ pathInsideRoot: String, for device: String) throws -> Int32 {
        let root = try System.open(path, SC_O_PATH | O_DIRECTORY)
        defer { System.close(root) }
        guard let target = try System.allowing([ENOENT, ENOTDIR], {
            try System.openInsideRoot(root, pathInsideRoot, SC_O_PATH | O_DIRECTORY, path: pathInsideRoot)
        }) else {
            throw InputError("\(pathInsideRoot) is not a directory in the filesystem of \(self.device); cannot mount \(device) there (create it in the image, or fix the image's fstab)")
        }
        return target
    }

    /// blkid's TYPE of `device`, when it is a filesystem the kernel can mount.
    private static func filesystemType(of device: String) throws -> String {
        guard let identity = try BlockDeviceIdentity.probe(device), !identity.type.isEmpty else {
            throw InputError("\(device) holds no filesystem blkid recognizes (is it the right partition? `blkid -p \(device)` shows what it holds)")
        }
        switch identity.type {
        case "swap", "crypto_LUKS", "LVM2_member", "linux_raid_member", "zfs_member":
            throw InputError("\(device) holds \(identity.type), not a filesystem we can mount (give the partition of the guest's root filesystem)")
        default:
            return identity.type
        }
    }

    /// mount(2) with our flags and the options a cloned image needs.
    private static func mount(_ device: String, on target: String, type: String, readOnly: Bool, naming shownTarget: String? = nil) throws {
        // A clone's XFS has its template's UUID, which XFS refuses to mount twice.
        let options = type == "xfs" ? "nouuid" : ""
        do throws(SystemError) {
            try System.mount(device, on: target, type: type, readOnly: readOnly, options: options,
                             operation: "mount \(device) (\(type)) on", path: shownTarget ?? target)
        } catch {
            let advice = error.code == ENODEV
                ? "this kernel has no \(type) driver: load it with `modprobe \(type)`"
                : "`dmesg | tail` shows the kernel's reason; a damaged or unclean filesystem needs `fsck` first"
            throw InputError("\(error) (\(advice))")
        }
    }

    /// Creates `/run/sanitize-clone/mnt-PID-XXXXXX` (0700), after removing empty mount points
    /// of runs whose process is gone.
    private static func makeMountPoint() throws -> String {
        _ = try System.allowing([EEXIST]) { try System.makeDirectory(parentDirectory, mode: 0o700) }
        guard let status = try? System.statusNotFollowing(parentDirectory),
              status.st_mode & S_IFMT == S_IFDIR, status.st_uid == 0 || status.st_uid == getuid() else {
            throw InputError("\(parentDirectory) is not a directory owned by root; remove it and run again")
        }
        removeAbandonedMountPoints()
        return try System.makeUniqueDirectory("\(parentDirectory)/mnt-\(getpid())-", operation: "create a mount point in", path: parentDirectory)
    }

    /// Removes `mnt-PID-*` directories whose process is gone; rmdir leaves one that is still a
    /// mount point (EBUSY) or not empty alone, so its failures are ignored, as is a directory
    /// that cannot be listed: this is tidying, and the new mount point does not depend on it.
    private static func removeAbandonedMountPoints() {
        for name in (try? System.directoryEntries(parentDirectory)) ?? [] {
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[0] == "mnt", let pid = Int32(parts[1]), pid != getpid() else { continue }
            if System.processIsGone(pid) { try? System.removeDirectory("\(parentDirectory)/\(name)") }
        }
    }
}

/// The process-wide list of mounts and loop devices to undo when SIGINT, SIGTERM or SIGHUP ends
/// the process.
///
/// The list lives in C (CShims/mount.c) so that the signal handler can walk it doing only
/// async-signal-safe system calls: umount2 (lazily when busy), rmdir of our mount points,
/// ioctl(LOOP_CLR_FD); then the process dies of the same signal. Handlers are installed by the
/// first registration, only for signals still at their default action: a signal someone else
/// handles is theirs (the process may go on), and they can call `releaseAll()` before exiting.
/// SIGKILL runs nothing: see `AttachedDiskImage` for what the kernel then cleans up by itself.
public enum DeviceCleanup {
    /// A registered mount or loop device; cancel it once it is undone.
    struct Registration: Sendable {
        let slot: Int32

        /// Forgets the registration before its owner undoes it. Returns false when
        /// `releaseAll()` (a signal) already undid it: a loop descriptor is then closed.
        @discardableResult
        func cancel() -> Bool { System.forgetSignalCleanup(slot: slot) }
    }

    /// Installs the signal handlers (once per process; later calls do nothing).
    public static func installSignalHandlers() {
        System.installSignalCleanupHandlers()
    }

    /// Undoes everything registered, now: unmounts (the last mounted first, lazily when busy),
    /// removes our mount points, detaches loop devices and closes their descriptors. What a signal
    /// runs before the process ends; the objects that registered them find their work done (their
    /// own `detach()` and `unmount()` stay safe to call).
    public static func releaseAll() {
        System.runSignalCleanup()
    }

    /// Registers a loop device's descriptor; nil when the list is full (64 entries), in which case
    /// only the kernel's autoclear detaches it after a signal.
    static func register(loop descriptor: Int32) -> Registration? {
        installSignalHandlers()
        return System.registerLoopDeviceForSignalCleanup(descriptor).map(Registration.init)
    }

    /// Registers a mount point; `removingDirectory` when it is our own directory.
    static func register(mount path: String, removingDirectory: Bool) -> Registration? {
        installSignalHandlers()
        return System.registerMountForSignalCleanup(path, removingDirectory: removingDirectory).map(Registration.init)
    }
}
