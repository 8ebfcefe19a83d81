#if canImport(Glibc)
import Glibc
#endif
import CShims
import Synchronization

/// Every raw system call the library makes goes through this enum, so that a test can make the
/// N-th call of one kind fail with a chosen errno (as swift-system's mocking switch does) and watch
/// the rollback path run. The calls themselves are named wrappers on `System`; nothing outside
/// this folder calls the C library or CShims directly (`SyscallSeamTests` checks it).
enum Syscall {
    /// The calls that can be made to fail.
    enum Kind: String, Sendable, CaseIterable {
        case open, read, write, fsync, rename, unlink, mkdir, chown, chmod, symlink, readlink, stat
        /// Network calls: sockets and their binding, interface ioctls, sending and receiving.
        case socket, ioctl, send, receive
        /// Listing, reading and setting extended attributes (flistxattr, fgetxattr, fsetxattr).
        case extendedAttribute
        /// File locks: flock(2) and open file description locks (fcntl F_OFD_SETLK).
        case lock
        /// The status of a file system (fstatvfs).
        case statfs
        /// Mounting, unmounting, and a mount namespace of our own (mount, umount2, unshare).
        case mount
        /// Starting a program: its output pipe (pipe2) and posix_spawn.
        case spawn
        /// Waiting for a program to end (waitpid).
        case wait
        /// Sending a signal, or asking whether a process exists (kill).
        case signal
        /// The running kernel's hostname (sethostname, gethostname).
        case hostname
        /// The kernel's random generator (getrandom).
        case random
    }

    private struct Injection: Sendable {
        var remaining: Int
        var errno: Int32
        /// The task that asked for the failure (a Swift Testing test), nil for a thread that
        /// runs none.
        var owner: Int?
    }

    /// The pending failures per kind, at most one per asking task, so tests running at once
    /// never take or clear each other's.
    private static let injections = Mutex<[Kind: [Injection]]>([:])

    /// Makes the `call`-th following call of `kind` fail with `errno` (1 = the next one).
    ///
    /// Counted are the calls made by the task that asks (a Swift Testing test) and those made on
    /// threads that run no task (one the code under test starts); calls of other tests running
    /// at the same time are not, and they may have failures of their own pending.
    static func injectFailure(_ kind: Kind, onCall call: Int, errno: Int32) {
        let owner = currentTask()
        injections.withLock { state in
            state[kind, default: []].removeAll { $0.owner == owner }
            state[kind, default: []].append(Injection(remaining: call, errno: errno, owner: owner))
        }
    }

    /// Removes the pending injected failure of `kind` this task asked for.
    static func clearInjectedFailure(_ kind: Kind) {
        let owner = currentTask()
        injections.withLock { $0[kind]?.removeAll { $0.owner == owner } }
    }

    /// An identity of the task running now, nil on a thread that runs none.
    private static func currentTask() -> Int? {
        withUnsafeCurrentTask { $0?.hashValue }
    }

    /// Returns an errno to fail with when a test asked for it, counting down otherwise. A call
    /// in a task counts against that task's failure (or one asked for outside any task); a call
    /// on a thread outside any task counts against the first pending one.
    private static func injected(_ kind: Kind) -> Int32? {
        let caller = currentTask()
        return injections.withLock { state -> Int32? in
            guard let pending = state[kind],
                  let index = caller == nil ? pending.indices.first : pending.firstIndex(where: { $0.owner == caller })
                      ?? pending.firstIndex(where: { $0.owner == nil }) else { return nil }
            state[kind]![index].remaining -= 1
            guard state[kind]![index].remaining == 0 else { return nil }
            return state[kind]!.remove(at: index).errno
        }
    }

    /// Runs `body` unless a failure is injected; retries on EINTR; returns the result or throws.
    /// `body` returns a negative number with errno set on failure, as system calls do.
    @discardableResult
    static func call<R: BinaryInteger>(
        _ kind: Kind, _ operation: String, path: String? = nil, _ body: () -> R
    ) throws(SystemError) -> R {
        if let forced = injected(kind) {
            throw SystemError(code: forced, operation: operation, path: path)
        }
        // A fault a whole process was started with (tests only); EINTR is retried like a real one.
        if FaultInjection.isActive.load(ordering: .relaxed), let forced = FaultInjection.errno(for: kind, operation: operation), forced != EINTR {
            throw SystemError(code: forced, operation: operation, path: path)
        }
        return try callUninjectable(operation, path: path, body)
    }

    /// Like `call`, for the few calls no test may make fail; each wrapper that uses it says why.
    @discardableResult
    static func callUninjectable<R: BinaryInteger>(
        _ operation: String, path: String? = nil, _ body: () -> R
    ) throws(SystemError) -> R {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = sc_errno()
            if code == EINTR { continue }
            throw SystemError(code: code, operation: operation, path: path)
        }
    }
}
