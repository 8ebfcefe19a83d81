/// Recovery, rollback, status and prune: what the engine does with runs already journaled.
extension RunEngine {
    /// Rolls back every interrupted run found in `root` (the caller holds the lock).
    /// Returns their ids. Throws `CorruptJournalError` or `RollbackIncompleteError` (exit 4).
    func recoverUnfinishedRuns(in root: RootDirectory, failpoint: Failpoint?, observer: (any RunObserver)?) throws -> [String] {
        var recovered: [String] = []
        for id in try StateDirectory.runIDs(in: root) {
            let run = try StateDirectory.load(id, in: root)
            guard run.needsRecovery else { continue }
            observer?.message("Recovering interrupted run \(id): undoing its changes first")
            let audit = Audit(logger: logger, runID: id)
            audit.record(.recovery, "Recovering interrupted run \(id): undoing \(run.undoEntries.count) journaled change(s)")
            let remaining = try undo(run, in: root, audit: audit, failpoint: failpoint, skipSecrets: false)
            guard remaining.isEmpty else { throw RollbackIncompleteError(runID: id, remaining: remaining) }
            recovered.append(id)
        }
        return recovered
    }

    /// Undoes `run` completely, recording progress in its journal. Returns what is left.
    func undo(_ run: RecordedRun, in root: RootDirectory, audit: Audit, failpoint: Failpoint?, skipSecrets: Bool) throws -> [String] {
        let journal = try JournalAppender(root: root, run: run)
        try journal.append([JournalRecord(.rollbackStarted)], sync: true)
        let undoer = Undoer(root: try root.withTemporaryTag(run.id), runID: run.id, runDirectory: run.directory,
                            audit: audit, failpoint: failpoint, record: { try journal.append($0, sync: $1) })
        let remaining = try undoer.undo(run.undoEntries, skipSecrets: skipSecrets)
        if remaining.isEmpty {
            try journal.append([JournalRecord(.rolledBack)], sync: true)
            audit.record(.runRolledBack, "Run \(run.id) rolled back: every change was undone")
        } else {
            try journal.append([JournalRecord(.rollbackIncomplete, detail: remaining.joined(separator: "; "))], sync: true)
            audit.record(.rollbackIncomplete, "Run \(run.id): rollback incomplete: \(remaining.joined(separator: "; "))")
        }
        return remaining
    }

    /// Which run `rollback` acts on.
    public enum RollbackTarget: Sendable {
        case last
        case run(String)
    }

    /// Undoes a finished run completely (`sanitize-clone rollback`).
    ///
    /// Refuses (`InputError`, exit 2) when a file the run wrote has changed since, unless `force`.
    /// Throws `RollbackIncompleteError` (exit 4) when an undo action fails.
    public func rollback(rootPath: String, target: RollbackTarget, force: Bool, failpoint: Failpoint? = nil) throws -> RollbackReport {
        let started = Clock.monotonicNanoseconds()
        let root = try openRoot(rootPath)
        guard try !StateDirectory.runIDs(in: root).isEmpty else {
            throw InputError("no run recorded under \(rootPath) (see 'sanitize-clone status')")
        }
        let lock = try RunLock(in: root)
        defer { withExtendedLifetime(lock) {} }
        let (id, run) = try rollbackCandidate(root: root, rootPath: rootPath, target: target, force: force)
        let audit = Audit(logger: logger, runID: id)
        let remaining = try undo(run, in: root, audit: audit, failpoint: failpoint, skipSecrets: run.secretsShredded)
        guard remaining.isEmpty else { throw RollbackIncompleteError(runID: id, remaining: remaining) }
        let kept = run.undoEntries.compactMap { entry -> String? in
            guard run.secretsShredded, case .restore(let snapshot) = entry.action, snapshot.needsSecretBackup else { return nil }
            return snapshot.path
        }
        let undone = run.undoEntries.filter { entry in
            if case .restore(let snapshot) = entry.action { return !kept.contains(snapshot.path) }
            return true
        }
        return RollbackReport(runID: id, undone: undone.map(\.action.summary), kept: kept, durationMilliseconds: Clock.millisecondsSince(started))
    }

    /// Checks that `target` can be rolled back in `rootPath` without changing anything (the same
    /// refusals `rollback` gives): `rollback --image` asks before it sets the image's UUIDs back.
    public func checkRollback(rootPath: String, target: RollbackTarget, force: Bool) throws {
        let root = try openRoot(rootPath)
        guard try !StateDirectory.runIDs(in: root).isEmpty else {
            throw InputError("no run recorded under \(rootPath) (see 'sanitize-clone status')")
        }
        _ = try rollbackCandidate(root: root, rootPath: rootPath, target: target, force: force)
    }

    /// The run `target` names, once every refusal is checked.
    func rollbackCandidate(root: RootDirectory, rootPath: String, target: RollbackTarget, force: Bool) throws -> (String, RecordedRun) {
        let ids = try StateDirectory.runIDs(in: root)
        let id: String
        switch target {
        case .run(let requested):
            guard ids.contains(requested) else {
                throw InputError("no run \(requested) under \(rootPath) (see 'sanitize-clone status')")
            }
            id = requested
        case .last:
            guard let newest = try ids.reversed().first(where: { try StateDirectory.load($0, in: root).outcome != .rolledBack }) else {
                throw InputError("no run to roll back under \(rootPath) (see 'sanitize-clone status')")
            }
            id = newest
        }
        let run = try StateDirectory.load(id, in: root)
        let rootOption = root.isLiveSystem ? "" : " --root \(root.hostPath)"
        guard run.outcome != .rolledBack else {
            throw InputError("run \(id) is already rolled back (see 'sanitize-clone status\(rootOption)')")
        }
        guard run.backupsPresent else {
            throw InputError("run \(id) can no longer be rolled back: its backups were pruned (see 'sanitize-clone status\(rootOption)'; 'sanitize-clone run\(rootOption)' gives a new identity instead)")
        }
        if run.secretsShredded && !force {
            throw InputError("run \(id) was a boot-time run and shredded the template's private keys; rollback cannot bring them back (run 'sanitize-clone rollback \(id) --force\(rootOption)' to undo everything else)")
        }
        // An interrupted run (or rollback) has no "after" state to protect: its own partial undo
        // changed those files. Finish it, as recovery would.
        if !force && !run.needsRecovery {
            for (path, fingerprint) in run.fingerprintsAfterRun.sorted(by: { $0.key < $1.key })
            where try PathFingerprint.of(path, in: root) != fingerprint {
                throw InputError("\(path) has changed since run \(id) wrote it; rolling back would lose that change (put it back, or run 'sanitize-clone rollback \(id) --force\(rootOption)' to lose it)")
            }
        }
        return (id, run)
    }

    /// The recorded runs of `rootPath`, oldest first.
    public func status(rootPath: String) throws -> StatusReport {
        let root = try openRoot(rootPath)
        var runs: [StatusReport.Run] = []
        for id in try StateDirectory.runIDs(in: root) {
            do {
                let run = try StateDirectory.load(id, in: root)
                runs.append(StatusReport.Run(id: id, startedAt: run.startedAt, mode: run.mode, outcome: run.outcome.rawValue,
                                             tasks: run.appliedTasks, failure: run.failure.map { "\($0.task): \($0.reason)" },
                                             canRollBack: run.backupsPresent && run.outcome == .committed,
                                             detail: run.incompleteDetail))
            } catch {
                runs.append(StatusReport.Run(id: id, startedAt: nil, mode: "?", outcome: "corrupt", tasks: [], failure: "\(error)",
                                             canRollBack: false, detail: nil))
            }
        }
        let locked = RunLock.isHeld(in: root)
        let waiting = !locked && runs.contains { $0.outcome == "unfinished" || $0.outcome == "failed" || $0.outcome == "corrupt" }
        return StatusReport(root: root.hostPath, runs: runs, runInProgress: locked, recoveryPending: waiting)
    }

    /// Removes the backups of every finished run (`sanitize-clone prune`); their journals stay so
    /// `status` still lists them. Returns the runs pruned.
    public func prune(rootPath: String) throws -> [String] {
        let root = try openRoot(rootPath)
        guard try !StateDirectory.runIDs(in: root).isEmpty else { return [] }
        let lock = try RunLock(in: root)
        defer { withExtendedLifetime(lock) {} }
        var pruned: [String] = []
        for id in try StateDirectory.runIDs(in: root) {
            let run = try StateDirectory.load(id, in: root)
            guard !run.needsRecovery, run.backupsPresent else { continue }
            let backups = RootPath.join(run.directory, "backups")
            for name in try root.directoryEntries(backups) {
                try SecretBackups.shredFile(RootPath.join(backups, name), in: root)
            }
            try root.removeTree(backups)
            pruned.append(id)
        }
        return pruned
    }
}

/// What `rollback` undid.
public struct RollbackReport: Sendable {
    public let runID: String
    public let undone: [String]
    /// Paths left as the run made them: secrets whose backups a boot-time run shredded, and the
    /// files tied to them (`--force`).
    public let kept: [String]
    public let durationMilliseconds: Int

    public var json: JSON {
        .object([("run_id", .string(runID)), ("result", .string("rolled-back")),
                 ("undone", .array(undone.map(JSON.string))), ("kept", .array(kept.map(JSON.string))),
                 ("duration_ms", .number(durationMilliseconds))])
    }
}

/// What `status` shows.
public struct StatusReport: Sendable {
    /// One recorded run as `status` shows it.
    public struct Run: Sendable {
        public let id: String
        public let startedAt: Int64?
        public let mode: String
        /// committed, rolled-back, failed, unfinished or corrupt.
        public let outcome: String
        public let tasks: [String]
        public let failure: String?
        public let canRollBack: Bool
        public let detail: String?
    }
    public let root: String
    public let runs: [Run]
    /// A run holds the lock now.
    public let runInProgress: Bool
    /// An interrupted run waits: the next `run` rolls it back first.
    public let recoveryPending: Bool

    public var json: JSON {
        .object([
            ("root", .string(root)),
            ("run_in_progress", .bool(runInProgress)),
            ("recovery_pending", .bool(recoveryPending)),
            ("runs", .array(runs.map { run in
                var members: [(String, JSON)] = [
                    ("run_id", .string(run.id)),
                    ("started", run.startedAt.map { .string(Clock.utcText($0)) } ?? .null),
                    ("mode", .string(run.mode)),
                    ("outcome", .string(run.outcome)),
                    ("tasks", .array(run.tasks.map(JSON.string))),
                    ("can_roll_back", .bool(run.canRollBack)),
                ]
                if let failure = run.failure { members.append(("failure", .string(failure))) }
                if let detail = run.detail { members.append(("remaining", .string(detail))) }
                return .object(members)
            })),
        ])
    }
}
