#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Mounts, loop devices, and the C list of them a signal handler undoes.
extension System {
    // MARK: Mounts

    /// mount(2) of `source` on `target` (sc_mount_filesystem) with MS_NOSUID | MS_NODEV, and
    /// MS_RDONLY when `readOnly`; `path` names the target in errors.
    static func mount(_ source: String, on target: String, type: String, readOnly: Bool, options: String,
                      operation: String, path: String) throws(SystemError) {
        try Syscall.call(.mount, operation, path: path) { sc_mount_filesystem(source, target, type, readOnly ? 1 : 0, options) }
    }

    /// umount2(2) with UMOUNT_NOFOLLOW (sc_unmount); when the filesystem is busy (EBUSY) and
    /// `lazilyIfBusy`, again with MNT_DETACH: gone from the tree now, released when its last user
    /// lets go. Throws EBUSY when busy and not lazily, EINVAL when nothing is mounted there.
    static func unmount(_ path: String, lazilyIfBusy: Bool, operation: String = "unmount") throws(SystemError) {
        try Syscall.call(.mount, operation, path: path) { sc_unmount(path, lazilyIfBusy ? 1 : 0) }
    }

    /// umount2(2) with MNT_DETACH (sc_detach_mount): the mount on `path` leaves the tree now.
    static func detachMount(_ path: String, operation: String = "detach the mount on") throws(SystemError) {
        try Syscall.call(.mount, operation, path: path) { sc_detach_mount(path) }
    }

    /// unshare(2) with CLONE_NEWNS, then MS_SLAVE | MS_REC propagation on "/"
    /// (sc_detach_mount_namespace): mounts the calling thread makes afterwards are invisible to
    /// every other process.
    static func detachMountNamespace(operation: String = "make a mount namespace of our own") throws(SystemError) {
        try Syscall.call(.mount, operation) { sc_detach_mount_namespace() }
    }

    // MARK: Loop devices

    /// LOOP_CTL_GET_FREE, then LOOP_CONFIGURE (sc_loop_attach): attaches `backing` to a free loop
    /// device showing `size` bytes from `offset`, with autoclear. Returns the loop device's
    /// descriptor and its number (/dev/loopN).
    static func attachLoopDevice(to backing: Int32, offset: UInt64, size: UInt64, readOnly: Bool,
                                 operation: String = "attach a loop device to", path: String) throws(SystemError) -> (descriptor: Int32, number: Int32) {
        var number: Int32 = -1
        let descriptor = try Syscall.call(.ioctl, operation, path: path) {
            sc_loop_attach(backing, offset, size, readOnly ? 1 : 0, &number)
        }
        return (descriptor, number)
    }

    /// ioctl(LOOP_CLR_FD) (sc_loop_clear): detaches the loop device now, or as soon as its other
    /// users (a mount) let go. A device already detached is success.
    static func clearLoopDevice(_ descriptor: Int32, operation: String = "detach the loop device", path: String? = nil) throws(SystemError) {
        try Syscall.call(.ioctl, operation, path: path) { sc_loop_clear(descriptor) }
    }

    // MARK: Undone on a signal
    //
    // The list lives in C (CShims/mount.c) so a signal handler can walk it with async-signal-safe
    // calls only. Registering and forgetting are no system calls, just slots in that list, and
    // undoing it all is what a signal runs: none of these is made to fail.

    /// sc_cleanup_add_mount: registers a mount to undo (and its directory to remove, with
    /// `removingDirectory`) if a signal ends the process. Returns its slot, nil when the list is
    /// full.
    static func registerMountForSignalCleanup(_ path: String, removingDirectory: Bool) -> Int32? {
        let slot = sc_cleanup_add_mount(path, removingDirectory ? 1 : 0)
        return slot < 0 ? nil : slot
    }

    /// sc_cleanup_add_loop: registers a loop device's descriptor to clear and close if a signal
    /// ends the process. Returns its slot, nil when the list is full.
    static func registerLoopDeviceForSignalCleanup(_ descriptor: Int32) -> Int32? {
        let slot = sc_cleanup_add_loop(descriptor)
        return slot < 0 ? nil : slot
    }

    /// sc_cleanup_remove: forgets a registration. True when its owner must undo it; false when the
    /// signal-time cleanup already did (a loop descriptor is then closed).
    static func forgetSignalCleanup(slot: Int32) -> Bool {
        sc_cleanup_remove(slot) == 1
    }

    /// sc_cleanup_run: undoes everything registered now (umount2, rmdir, LOOP_CLR_FD, close).
    static func runSignalCleanup() {
        sc_cleanup_run()
    }

    /// sc_cleanup_install_signal_handlers: once per process, sigaction(2) for SIGINT, SIGTERM and
    /// SIGHUP where they still have their default action.
    static func installSignalCleanupHandlers() {
        _ = sc_cleanup_install_signal_handlers()
    }
}
