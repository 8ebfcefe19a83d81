#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Advisory locks on open files.
extension System {
    /// flock(2) with `operation` (LOCK_EX, LOCK_SH or LOCK_UN, with LOCK_NB not to wait): throws
    /// EWOULDBLOCK when another open file holds a lock that conflicts.
    static func lock(_ descriptor: Int32, _ lockOperation: Int32, operation: String = "lock", path: String) throws(SystemError) {
        try Syscall.call(.lock, operation, path: path) { flock(descriptor, lockOperation) }
    }

    /// fcntl(2) F_OFD_SETLK on the whole file (sc_lock_whole_file), exclusive (F_WRLCK) or
    /// shared (F_RDLCK), without waiting: throws EAGAIN or EACCES when another holder's lock
    /// conflicts. The lock belongs to the open file description, so it lasts while a loop device
    /// still uses that description.
    static func lockWholeFile(_ descriptor: Int32, exclusive: Bool, operation: String = "lock", path: String) throws(SystemError) {
        try Syscall.call(.lock, operation, path: path) { sc_lock_whole_file(descriptor, exclusive ? 1 : 0) }
    }
}
