#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// For tests only: faults injected at a *call site* of the system-call seam, from the environment
/// of a whole process, so a test can fail any call of a real run and watch it end well.
///
/// A site is a kind of call, the operation its caller names (the words the error message would
/// carry) and the step of the run making it — the task applying, or `plan`, `journal`, `commit`,
/// `undo`, `run` — e.g. `write|replace|hostname`. `SANITIZE_CLONE_FAULT` is either
///
/// - `count`: nothing fails; at exit every site reached and how often is written, one
///   `kind|operation|step|calls` line each, to `SANITIZE_CLONE_FAULT_REPORT`;
/// - `kind|operation|step|hit|ERRNO` (e.g. `write|replace|hostname|2|ENOSPC`): the hit-th call at
///   that site fails with that errno (EINTR is retried as a real one would be). A line
///   "fault injected at SITE (while undoing)" goes to standard error when it fires.
public enum FaultInjection {
    struct Plan: Sendable {
        var site: String
        var hit: Int
        var errno: Int32
        /// The test that planned it (`Syscall.currentOwner`): only its calls, and those of the
        /// threads working for it, count. Nil from the environment: every call of the process.
        var owner: Int?
    }

    private struct State: Sendable {
        var plan: Plan?
        var counting = false
        var report: String?
        var counts: [String: Int] = [:]
        var undoing = 0
        /// The step each thread is in (`within`).
        var steps: [UInt: String] = [:]
    }

    private static let state = Mutex(State())

    /// The errnos a campaign may name, by name.
    public static let errnoNames: [String: Int32] = [
        "ENOSPC": ENOSPC, "EDQUOT": EDQUOT, "EIO": EIO, "EROFS": EROFS, "EACCES": EACCES, "EPERM": EPERM,
        "EINTR": EINTR, "ENOENT": ENOENT, "EEXIST": EEXIST, "EMFILE": EMFILE, "ENOMEM": ENOMEM,
    ]

    /// Reads `SANITIZE_CLONE_FAULT` (and `SANITIZE_CLONE_FAULT_REPORT`); throws `InputError` for
    /// anything malformed, so a typo never makes a fault test pass without a fault.
    public static func configure(_ text: String, report: String?) throws {
        if text == "count" {
            guard let report, !report.isEmpty else {
                throw InputError("SANITIZE_CLONE_FAULT=count needs SANITIZE_CLONE_FAULT_REPORT=FILE to write the sites to")
            }
            state.withLock { $0.counting = true; $0.report = report }
            isActive.store(true, ordering: .relaxed)
            atexit { FaultInjection.writeReport() }
            return
        }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, Syscall.Kind(rawValue: parts[0]) != nil, !parts[1].isEmpty, !parts[2].isEmpty,
              let hit = Int(parts[3]), hit > 0, let code = errnoNames[parts[4]] else {
            throw InputError("SANITIZE_CLONE_FAULT=\(text): expected count or <kind>|<operation>|<step>|<hit>|<ERRNO> (kinds: \(Syscall.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let owner = Syscall.currentOwner()
        state.withLock { $0.plan = Plan(site: parts[0...2].joined(separator: "|"), hit: hit, errno: code, owner: owner) }
        isActive.store(true, ordering: .relaxed)
    }

    /// Forgets the planned fault (in-process tests, between cases).
    static func clear() {
        state.withLock { $0.plan = nil }
    }

    /// True once the planned fault has fired (in-process tests).
    static var hasFired: Bool { state.withLock { $0.plan == nil && !$0.counting } }

    /// Runs `body` as the step `step` of this thread (a task's name, `plan`, `journal`…), so a
    /// site names where in the run a call is made. Free when no fault is configured.
    static func within<T>(_ step: String, _ body: () throws -> T) rethrows -> T {
        guard isActive.load(ordering: .relaxed) else { return try body() }
        let thread = UInt(pthread_self())
        let previous = state.withLock { state in
            defer { state.steps[thread] = step }
            return state.steps[thread]
        }
        defer { state.withLock { $0.steps[thread] = previous } }
        return try body()
    }

    /// Marks the undo of a run as under way (a fault there may leave exit 4), or over.
    static func undoing(_ active: Bool) {
        state.withLock { $0.undoing += active ? 1 : -1 }
    }

    /// Called by the seam before every call: the errno to fail with, when this is the call.
    static func errno(for kind: Syscall.Kind, operation: String) -> Int32? {
        let thread = UInt(pthread_self())
        let caller = Syscall.currentOwner()
        return state.withLock { state -> Int32? in
            let step = state.steps[thread] ?? "run"
            let site = "\(kind.rawValue)|\(operation)|\(step)"
            if state.counting {
                state.counts[site, default: 0] += 1
                return nil
            }
            guard var plan = state.plan, plan.site == site, plan.owner == nil || plan.owner == caller else { return nil }
            plan.hit -= 1
            state.plan = plan.hit == 0 ? nil : plan
            guard plan.hit == 0 else { return nil }
            let undoing = state.undoing > 0 || step == "undo" || step == "recover"
            let line = "fault injected at \(site)\(undoing ? " (while undoing)" : "")\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            return plan.errno
        }
    }

    /// True once a fault is planned or sites are counted (the seam's fast path skips the lock otherwise).
    static let isActive = Atomic<Bool>(false)

    private static func writeReport() {
        let (report, counts) = state.withLock { ($0.report, $0.counts) }
        guard let report else { return }
        let text = counts.sorted { $0.key < $1.key }.map { "\($0.key)|\($0.value)\n" }.joined()
        let fd = open(report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}
