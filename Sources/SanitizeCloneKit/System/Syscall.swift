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
    /// Counted are the calls made by the task that asks (a Swift Testing test), by the threads
    /// working on its behalf (the engine's workers, `onBehalf`), and those made on other threads
    /// that run no task; calls of other tests running at the same time — their in-process runs
    /// included — are not, and they may have failures of their own pending.
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

    /// An identity of the task running now; on a thread that runs none, the task that started
    /// the work it does (`onBehalf`), else nil.
    private static func currentTask() -> Int? {
        if let task = withUnsafeCurrentTask(body: { $0?.hashValue }) { return task }
        guard hasInheritedOwners.load(ordering: .relaxed) else { return nil }
        let thread = UInt(pthread_self())
        return inheritedOwners.withLock { $0[thread] }
    }

    /// The tasks on whose behalf threads work, by thread (`onBehalf`).
    private static let inheritedOwners = Mutex<[UInt: Int]>([:])
    private static let hasInheritedOwners = Atomic<Bool>(false)

    /// Who asks for the calls made now: hand it to `onBehalf` on a thread doing this work.
    static func currentOwner() -> Int? { currentTask() }

    /// Runs `body` on this thread counting its calls as `owner`'s — the engine's worker threads
    /// take the failures injected by the test that started the run, and no other test's.
    static func onBehalf<T>(of owner: Int?, _ body: () throws -> T) rethrows -> T {
        guard let owner else { return try body() }
        let thread = UInt(pthread_self())
        hasInheritedOwners.store(true, ordering: .relaxed)
        let previous = inheritedOwners.withLock { owners in
            defer { owners[thread] = owner }
            return owners[thread]
        }
        defer { inheritedOwners.withLock { $0[thread] = previous } }
        return try body()
    }

    /// Returns an errno to fail with when a test asked for it, counting down otherwise. A call
    /// in a task, or on a thread working on its behalf, counts against that task's failure (or one
    /// asked for outside any task); a call on any other thread counts against the first pending one.
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
