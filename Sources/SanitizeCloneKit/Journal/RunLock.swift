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
        do throws(SystemError) {
            try System.lock(fd, LOCK_EX | LOCK_NB, path: StateDirectory.lockPath)
        } catch {
            System.close(fd)
            if error.code == EWOULDBLOCK { throw LockHeldError(path: StateDirectory.lockPath) }
            throw error
        }
        descriptor = fd
    }

    /// True when some process holds the lock on `root` now (checked without taking it for long).
    /// A lock that cannot be asked about (any failure but EWOULDBLOCK too) counts as held: the
    /// answer then says "a run may be in progress" rather than "none is".
    public static func isHeld(in root: RootDirectory) -> Bool {
        guard let fd = try? root.openDescriptor(StateDirectory.lockPath, flags: O_RDONLY | O_NOFOLLOW) else { return false }
        defer { System.close(fd) }
        guard (try? System.lock(fd, LOCK_SH | LOCK_NB, path: StateDirectory.lockPath)) != nil else { return true }
        // Closing the descriptor right after releases the lock as well, should this fail.
        try? System.lock(fd, LOCK_UN, operation: "unlock", path: StateDirectory.lockPath)
        return false
    }

    deinit { System.close(descriptor) }
}

/// Another run holds the lock (exit 5).
public struct LockHeldError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public var description: String {
        "Another sanitize-clone run holds \(path); wait for it to finish (see 'sanitize-clone status')"
    }
}
