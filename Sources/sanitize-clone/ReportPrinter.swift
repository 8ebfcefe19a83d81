import SanitizeCloneKit

/// The text views of reports, for people.
enum ReportPrinter {
    /// The plan or the outcome of a run.
    /// `target` is how the command line named what the run acted on: "--root DIR" or "--image FILE".
    static func text(for report: RunReport, root: String, target: String? = nil) -> String {
        let target = target ?? "--root \(root)"
        var out = ""
        for id in report.recoveredRuns {
            out += "Recovered interrupted run \(id): its changes were undone first.\n"
        }
        out += report.dryRun ? "Plan for \(root) (dry run: nothing is changed)\n" : "Run \(report.runID) on \(root)\n"
        for task in report.tasks {
            out += "\n\(task.name): \(task.status.rawValue)\(task.reason.map { " (\($0))" } ?? "")\n"
            for change in task.changes {
                let values = [change.displayedOld ?? "(none)", change.displayedNew ?? "(none)"].joined(separator: " → ")
                out += "  \(change.action) \(change.path): \(values)\n"
                if let diff = change.diff, !diff.isEmpty {
                    out += diff.split(separator: "\n").map { "      \($0)\n" }.joined()
                }
            }
            for note in task.notes { out += "  note: \(note)\n" }
            if let error = task.error { out += "  error: \(error)\n" }
        }
        let changes = report.tasks.reduce(0) { $0 + $1.changes.count }
        let active = report.tasks.filter { $0.status != .skipped }.count
        out += "\n"
        switch report.result {
        case .planned:
            out += "\(changes) change(s) in \(active) task(s) planned. Nothing was changed. Apply with: sanitize-clone run \(target)\n"
        case .committed:
            out += "Committed: \(changes) change(s) in \(active) task(s), \(report.durationMilliseconds) ms.\n"
            out += "Undo with: sanitize-clone rollback \(target) --last\n"
        case .rolledBack:
            if let failure = report.failure {
                out += "Every task applied, but \(failure); every change was rolled back. The system is as it was. Fix the cause (the journal's file system) and run again.\n"
            } else {
                out += "A task failed; every change was rolled back. The system is as it was. See the error above, fix it, and run again.\n"
            }
        case .failed:
            out += "A task failed and the rollback is INCOMPLETE. Left to do:\n"
            out += report.remaining.map { "  - \($0)\n" }.joined()
            out += "Fix the cause, then: sanitize-clone rollback \(target) \(report.runID)\n"
        }
        return out
    }

    /// The new SSH fingerprints as a block an administrator compares on first connect.
    static func fingerprintBlock(for report: RunReport, root: String) -> String {
        let keys = report.tasks.flatMap(\.changes).filter { $0.path.hasSuffix(".pub") }.compactMap(\.new).filter { $0.contains("SHA256:") }
        guard !keys.isEmpty, report.result == .committed else { return "" }
        var out = "\n-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
        for key in keys { out += "\(key)\n" }
        return out + "-----END SSH HOST KEY FINGERPRINTS-----\n"
    }

    /// The `status` view.
    static func text(for report: StatusReport) -> String {
        var out = "Runs recorded under \(report.root):\n"
        if report.runs.isEmpty { out += "  none\n" }
        for run in report.runs {
            let started = run.startedAt.map(Clock.utcText) ?? "?"
            out += "  \(run.id)  \(started)  \(run.mode)  \(run.outcome)"
            if !run.tasks.isEmpty { out += "  [\(run.tasks.joined(separator: ", "))]" }
            out += run.canRollBack ? "  (can be rolled back)\n" : "\n"
            if let failure = run.failure { out += "      failed: \(failure)\n" }
            if let detail = run.detail { out += "      left to undo: \(detail)\n" }
            if let note = run.note { out += "      \(note)\n" }
        }
        if report.runInProgress { out += "A run is in progress now.\n" }
        if report.foreignJournals {
            let option = report.root == "/" ? "" : " --root \(report.root)"
            out += "A foreign journal is never followed; 'sanitize-clone run' and 'rollback' refuse (exit 4) until it is set aside with 'sanitize-clone prune --discard-foreign\(option)'.\n"
        }
        if report.recoveryPending {
            out += "An interrupted run waits for recovery: the next 'sanitize-clone run' undoes it first (or run 'sanitize-clone rollback RUN_ID').\n"
        }
        return out
    }
}
