#if canImport(Glibc)
import Glibc
#endif
import CShims

/// The lock that keeps two runs off one root: `flock` on `<root>/var/lib/sanitize-clone/lock`,
/// held until the process exits or `release()`.
public final class RunLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock without waiting; throws `LockHeldError` when another run holds it.
    public init(in root: RootDirectory) throws {
        try StateDirectory.ensureSafeDirectories(in: root)
        let fd = try root.openDescriptor(StateDirectory.lockPath, flags: O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = sc_errno()
            close(fd)
            if code == EWOULDBLOCK { throw LockHeldError(path: StateDirectory.lockPath) }
            throw SystemError(code: code, operation: "lock", path: StateDirectory.lockPath)
        }
        descriptor = fd
    }

    /// True when some process holds the lock on `root` now (checked without taking it for long).
    public static func isHeld(in root: RootDirectory) -> Bool {
        guard let fd = try? root.openDescriptor(StateDirectory.lockPath, flags: O_RDONLY | O_NOFOLLOW) else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    deinit { close(descriptor) }
}

/// Another run holds the lock (exit 5).
public struct LockHeldError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public var description: String {
        "Another sanitize-clone run holds \(path); wait for it to finish (see 'sanitize-clone status')"
    }
}
