#if canImport(Glibc)
import Glibc
#endif
import CShims
import Synchronization

/// Every raw system call the library makes goes through this enum, so that a test can make the
/// N-th call of one kind fail with a chosen errno (as swift-system's mocking switch does) and watch
/// the rollback path run.
enum Syscall {
    /// The calls that can be made to fail.
    enum Kind: String, Sendable, CaseIterable {
        case open, read, write, fsync, rename, unlink, mkdir, chown, chmod, symlink, readlink, stat
        /// Network calls: sockets and their binding, interface ioctls, sending and receiving.
        case socket, ioctl, send, receive
    }

    private struct Injection: Sendable {
        var kind: Kind
        var remaining: Int
        var errno: Int32
    }

    /// One pending failure per kind, so tests of different kinds running at once never take or
    /// clear each other's.
    private static let injections = Mutex<[Kind: Injection]>([:])

    /// Makes the `call`-th following call of `kind` fail with `errno` (1 = the next one).
    static func injectFailure(_ kind: Kind, onCall call: Int, errno: Int32) {
        injections.withLock { $0[kind] = Injection(kind: kind, remaining: call, errno: errno) }
    }

    /// Removes the pending injected failure of `kind`.
    static func clearInjectedFailure(_ kind: Kind) {
        injections.withLock { $0[kind] = nil }
    }

    /// Returns an errno to fail with when a test asked for it, counting down otherwise.
    private static func injected(_ kind: Kind) -> Int32? {
        injections.withLock { state -> Int32? in
            guard var current = state[kind] else { return nil }
            current.remaining -= 1
            if current.remaining == 0 {
                state[kind] = nil
                return current.errno
            }
            state[kind] = current
            return nil
        }
    }

    /// Like `call`, but returns nil instead of throwing when the call fails with one of `allowed`
    /// (e.g. ENOENT for "absent is fine").
    static func call<R: BinaryInteger>(
        _ kind: Kind, _ operation: String, path: String? = nil, allowing allowed: Set<Int32>, _ body: () -> R
    ) throws -> R? {
        let result: Result<R, SystemError> = Result { () throws(SystemError) -> R in try call(kind, operation, path: path, body) }
        switch result {
        case .success(let value): return value
        case .failure(let error) where allowed.contains(error.code): return nil
        case .failure(let error): throw error
        }
    }

    /// Runs `body` unless a failure is injected; retries on EINTR; returns the result or throws.
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
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = sc_errno()
            if code == EINTR { continue }
            throw SystemError(code: code, operation: operation, path: path)
        }
    }
}
