/// Recovery, rollback, status and prune: what the engine does with runs already journaled.
extension RunEngine {
    /// Rolls back every interrupted run found in `root` (the caller holds the lock) and returns
    /// their ids. A run directory without a journal record (nothing was changed) is removed with a
    /// notice. A foreign journal is never followed: a boot-time run (`mode` auto) sets it aside
    /// and goes on, any other run throws `ForeignJournalError` (exit 4). Throws
    /// `CorruptJournalError` or `RollbackIncompleteError` (exit 4).
    func recoverUnfinishedRuns(in root: RootDirectory, trust: JournalTrust, scope: DeviceScope, mode: RunOptions.Mode,
                               failpoint: Failpoint?, observer: (any RunObserver)?) throws -> [String] {
        try StateDirectory.removeStagingDirectories(in: root)
        var recovered: [String] = []
        for id in try StateDirectory.runIDs(in: root) {
            let audit = Audit(logger: logger, runID: id)
            switch try StateDirectory.read(id, in: root, trust: trust) {
            case .empty:
                try root.removeTree(RootPath.join(StateDirectory.runsPath, id))
                let message = "Run \(id) left no journal record (stopped before its first change): removed its directory"
                observer?.message(message)
                audit.record(.notice, message)
            case .foreign:
                guard mode == .auto else { throw ForeignJournalError(runID: id, root: root) }
                let place = try StateDirectory.setAside(id, in: root)
                let message = "Run \(id) has a journal this machine did not write for this root (an offline run elsewhere, or planted): set aside in \(place), never followed"
                observer?.message(message)
                audit.record(.notice, message)
            case .recorded(let run):
                guard run.needsRecovery else { continue }
                observer?.message("Recovering interrupted run \(id): undoing its changes first")
                audit.record(.recovery, "Recovering interrupted run \(id): undoing \(run.undoEntries.count) journaled change(s)")
                let remaining = try undo(run, in: root, trust: trust, scope: scope, audit: audit, failpoint: failpoint, skipSecrets: false)
                guard remaining.isEmpty else { throw RollbackIncompleteError(runID: id, remaining: remaining) }
                recovered.append(id)
            }
        }
        return recovered
    }

    /// Undoes `run` completely, recording progress in its journal. Returns what is left.
    func undo(_ run: RecordedRun, in root: RootDirectory, trust: JournalTrust, scope: DeviceScope, audit: Audit,
              failpoint: Failpoint?, skipSecrets: Bool) throws -> [String] {
        let journal = try JournalAppender(root: root, run: run, trust: trust)
        try journal.append([JournalRecord(.rollbackStarted)], sync: true)
        let undoer = Undoer(root: try root.withTemporaryTag(run.id), kinds: trust.undoKinds, scope: scope, runID: run.id,
                            runDirectory: run.directory, audit: audit, failpoint: failpoint, record: { try journal.append($0, sync: $1) })
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

    /// Where the journals of a root are bound and which devices its undo may touch: the image
    /// mounted at the root (`--image`, with its devices), or `--device` paths beside a `--root`.
    public struct RootBinding: Sendable {
        public var image: String?
        public var blockDevices: [BlockDeviceIdentity]?
        public var devices: [String]

        public init(image: String? = nil, blockDevices: [BlockDeviceIdentity]? = nil, devices: [String] = []) {
            self.image = image
            self.blockDevices = blockDevices
            self.devices = devices
        }
    }

    /// Undoes a finished run completely (`sanitize-clone rollback`).
    ///
    /// Refuses (`InputError`, exit 2) when a file the run wrote has changed since, unless `force`.
    /// Throws `ForeignJournalError` (exit 4) for a journal this machine did not write for this
    /// root, `RollbackIncompleteError` (exit 4) when an undo action fails.
    public func rollback(rootPath: String, target: RollbackTarget, force: Bool, failpoint: Failpoint? = nil,
                         binding: RootBinding = RootBinding()) throws -> RollbackReport {
        let started = Clock.monotonicNanoseconds()
        let root = try openRoot(rootPath)
        guard try !StateDirectory.runIDs(in: root).isEmpty else {
            throw InputError("no run recorded under \(rootPath) (see 'sanitize-clone status')")
        }
        let lock = try RunLock(in: root)
        defer { withExtendedLifetime(lock) {} }
        let trust = try self.trust(for: root, image: binding.image, creatingKey: false)
        let scope = try deviceScope(of: root, blockDevices: binding.blockDevices, named: binding.devices, image: binding.image)
        let (id, run) = try rollbackCandidate(root: root, trust: trust, target: target, force: force)
        if let failpoint {
            let tasks = run.undoEntries.compactMap(\.task).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            try failpoint.requireReachable(in: tasks.map { task in
                Failpoint.Reach(task: task, applies: false, changes: 0, undos: run.undoEntries.filter { $0.task == task }.count)
            })
        }
        let audit = Audit(logger: logger, runID: id)
        let remaining = try undo(run, in: root, trust: trust, scope: scope, audit: audit, failpoint: failpoint, skipSecrets: run.secretsShredded)
        guard remaining.isEmpty else { throw RollbackIncompleteError(runID: id, remaining: remaining) }
        let kept = run.undoEntries.compactMap { entry -> String? in
            guard run.secretsShredded, case .restore(let snapshot) = entry.action, snapshot.needsSecretBackup else { return nil }
            return snapshot.path
        }
        let undone = run.undoEntries.filter { entry in
            if case .restore(let snapshot) = entry.action { return !kept.contains(snapshot.path) }
            return true
        }
        return RollbackReport(runID: id, undone: undone.map { $0.action.summary(kinds: trust.undoKinds) }, kept: kept,
                              durationMilliseconds: Clock.millisecondsSince(started))
    }

    /// Checks that `target` can be rolled back in `rootPath` without changing anything (the same
    /// refusals `rollback` gives): `rollback --image` asks before it sets the image's UUIDs back.
    public func checkRollback(rootPath: String, target: RollbackTarget, force: Bool, binding: RootBinding = RootBinding()) throws {
        let root = try openRoot(rootPath)
        guard try !StateDirectory.runIDs(in: root).isEmpty else {
            throw InputError("no run recorded under \(rootPath) (see 'sanitize-clone status')")
        }
        let trust = try self.trust(for: root, image: binding.image, creatingKey: false)
        _ = try rollbackCandidate(root: root, trust: trust, target: target, force: force)
    }

    /// The run `target` names, once every refusal is checked.
    func rollbackCandidate(root: RootDirectory, trust: JournalTrust, target: RollbackTarget, force: Bool) throws -> (String, RecordedRun) {
        let ids = try StateDirectory.runIDs(in: root)
        let rootOption = root.isLiveSystem ? "" : " --root \(root.hostPath)"
        let id: String
        switch target {
        case .run(let requested):
            guard ids.contains(requested) else {
                throw InputError("no run \(requested) under \(root.hostPath) (see 'sanitize-clone status\(rootOption)')")
            }
            id = requested
        case .last:
            guard let newest = try ids.reversed().first(where: { try StateDirectory.load($0, in: root, trust: trust).outcome != .rolledBack }) else {
                throw InputError("no run to roll back under \(root.hostPath) (see 'sanitize-clone status\(rootOption)')")
            }
            id = newest
        }
        let run = try StateDirectory.load(id, in: root, trust: trust)
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

    /// The recorded runs of `rootPath`, oldest first: its own, foreign ones still in `runs/`
    /// (outcome "foreign") and those set aside (outcome "set-aside").
    public func status(rootPath: String, binding: RootBinding = RootBinding()) throws -> StatusReport {
        let root = try openRoot(rootPath)
        let trust = try self.trust(for: root, image: binding.image, creatingKey: false)
        var runs: [StatusReport.Run] = []
        let foreignReason = "not written by this machine for this root; never followed (set it aside with 'sanitize-clone prune --discard-foreign')"
        for id in try StateDirectory.runIDs(in: root) {
            do {
                switch try StateDirectory.read(id, in: root, trust: trust) {
                case .recorded(let run):
                    runs.append(StatusReport.Run(id: id, startedAt: run.startedAt, mode: run.mode, outcome: run.outcome.rawValue,
                                                 tasks: run.appliedTasks, failure: run.failure.map { "\($0.task): \($0.reason)" },
                                                 canRollBack: run.backupsPresent && run.outcome == .committed,
                                                 detail: run.incompleteDetail))
                case .foreign:
                    runs.append(StatusReport.Run(id: id, startedAt: nil, mode: "?", outcome: "foreign", tasks: [], failure: nil,
                                                 canRollBack: false, detail: nil, note: foreignReason))
                case .empty:
                    runs.append(StatusReport.Run(id: id, startedAt: nil, mode: "?", outcome: "empty", tasks: [], failure: nil, canRollBack: false,
                                                 detail: nil, note: "no journal record: nothing was changed; the next run removes it"))
                }
            } catch {
                runs.append(StatusReport.Run(id: id, startedAt: nil, mode: "?", outcome: "corrupt", tasks: [], failure: "\(error)",
                                             canRollBack: false, detail: nil))
            }
        }
        for name in try root.directoryEntries(StateDirectory.foreignPath).sorted() {
            runs.append(StatusReport.Run(id: name, startedAt: nil, mode: "?", outcome: "set-aside", tasks: [], failure: nil, canRollBack: false,
                                         detail: nil, note: "a foreign journal set aside in \(StateDirectory.foreignPath); never followed (remove it with 'sanitize-clone prune --discard-foreign')"))
        }
        let locked = RunLock.isHeld(in: root)
        let waiting = !locked && runs.contains { ["unfinished", "failed", "corrupt"].contains($0.outcome) }
        return StatusReport(root: root.hostPath, runs: runs, runInProgress: locked, recoveryPending: waiting,
                            foreignJournals: runs.contains { $0.outcome == "foreign" })
    }

    /// Removes the backups of every finished run (`sanitize-clone prune`); their journals stay so
    /// `status` still lists them. With `discardForeign`, foreign run directories (in `runs/` or
    /// set aside) are shredded and removed whole. Returns the runs pruned or discarded.
    public func prune(rootPath: String, discardForeign: Bool = false, binding: RootBinding = RootBinding()) throws -> [String] {
        let root = try openRoot(rootPath)
        guard try root.status(of: StateDirectory.path)?.kind == .directory else { return [] }
        let lock = try RunLock(in: root)
        defer { withExtendedLifetime(lock) {} }
        let trust = try self.trust(for: root, image: binding.image, creatingKey: false)
        var pruned: [String] = []
        for id in try StateDirectory.runIDs(in: root) {
            let reading = try StateDirectory.read(id, in: root, trust: trust)
            guard case .recorded(let run) = reading else {
                if discardForeign, case .foreign = reading {
                    try SecretBackups.shredRunDirectory(RootPath.join(StateDirectory.runsPath, id), in: root)
                    pruned.append(id)
                }
                continue
            }
            guard !run.needsRecovery, run.backupsPresent else { continue }
            let backups = RootPath.join(run.directory, "backups")
            for name in try root.directoryEntries(backups) {
                try SecretBackups.shredFile(RootPath.join(backups, name), in: root)
            }
            try root.removeTree(backups)
            pruned.append(id)
        }
        if discardForeign {
            for name in try root.directoryEntries(StateDirectory.foreignPath).sorted() {
                try SecretBackups.shredRunDirectory(RootPath.join(StateDirectory.foreignPath, name), in: root)
                pruned.append(name)
            }
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
        /// Why a run is not followed (foreign, set aside, empty).
        public var note: String? = nil
    }
    public let root: String
    public let runs: [Run]
    /// A run holds the lock now.
    public let runInProgress: Bool
    /// An interrupted run waits: the next `run` rolls it back first.
    public let recoveryPending: Bool
    /// A journal this machine did not write for this root is in `runs/`: manual runs refuse
    /// until it is set aside (`prune --discard-foreign`); a boot-time run sets it aside itself.
    public let foreignJournals: Bool

    public var json: JSON {
        .object([
            ("root", .string(root)),
            ("run_in_progress", .bool(runInProgress)),
            ("recovery_pending", .bool(recoveryPending)),
            ("foreign_journals", .bool(foreignJournals)),
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
                if let note = run.note { members.append(("note", .string(note))) }
                return .object(members)
            })),
        ])
    }
}
