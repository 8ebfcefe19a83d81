#if canImport(Glibc)
import Glibc
#endif
import CShims

/// What files and file systems are: their status, whether they can be reached, their flags.
extension System {
    /// stat(2) of a host path, symlinks followed.
    static func status(of path: String, operation: String = "inspect") throws(SystemError) -> stat {
        var result = stat()
        try Syscall.call(.stat, operation, path: path) { stat(path, &result) }
        return result
    }

    /// lstat(2) of a host path: a symlink is reported as itself.
    static func statusNotFollowing(_ path: String, operation: String = "inspect") throws(SystemError) -> stat {
        var result = stat()
        try Syscall.call(.stat, operation, path: path) { lstat(path, &result) }
        return result
    }

    /// fstat(2) of an open descriptor.
    static func status(of descriptor: Int32, operation: String = "inspect", path: String?) throws(SystemError) -> stat {
        var result = stat()
        try Syscall.call(.stat, operation, path: path) { fstat(descriptor, &result) }
        return result
    }

    /// fstatat(2) of `name` in `directory` with `AT_SYMLINK_NOFOLLOW`: a symlink is reported as
    /// itself.
    static func statusNotFollowing(_ name: String, in directory: Int32, operation: String = "inspect", path: String) throws(SystemError) -> stat {
        var result = stat()
        try Syscall.call(.stat, operation, path: path) { fstatat(directory, name, &result, AT_SYMLINK_NOFOLLOW) }
        return result
    }

    /// access(2) of a host path with `mode` (F_OK, W_OK, X_OK): true when allowed; false when
    /// nothing is there (ENOENT, ENOTDIR) or the access asked for is refused (EACCES, EPERM, EROFS,
    /// ETXTBSY). Throws for any other failure.
    static func isAccessible(_ path: String, _ mode: Int32, operation: String = "inspect") throws(SystemError) -> Bool {
        do throws(SystemError) {
            try Syscall.call(.stat, operation, path: path) { access(path, mode) }
            return true
        } catch where [ENOENT, ENOTDIR, EACCES, EPERM, EROFS, ETXTBSY].contains(error.code) {
            return false
        }
    }

    /// fstatvfs(2): the status of the file system holding `descriptor`.
    static func fileSystemStatus(of descriptor: Int32, operation: String = "inspect the file system of", path: String) throws(SystemError) -> statvfs {
        var result = statvfs()
        try Syscall.call(.statfs, operation, path: path) { fstatvfs(descriptor, &result) }
        return result
    }

    /// ioctl(FS_IOC_GETFLAGS) (sc_inode_flags): true when the inode of `descriptor` is immutable
    /// or append-only (`chattr +i`, `+a`); false when it is neither, or its file system keeps no
    /// inode flags (ENOTTY, EINVAL, EOPNOTSUPP).
    static func isImmutableOrAppendOnly(_ descriptor: Int32, operation: String = "read the inode flags of", path: String) throws(SystemError) -> Bool {
        var flags = 0
        do throws(SystemError) {
            try Syscall.call(.ioctl, operation, path: path) { sc_inode_flags(descriptor, &flags) }
        } catch where [ENOTTY, EINVAL, EOPNOTSUPP].contains(error.code) {
            return false
        }
        return sc_flags_forbid_change(flags) != 0
    }
}
