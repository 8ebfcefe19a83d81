/// A site's own task, dropped in as `/etc/sanitize-clone/tasks.d/NAME.task` inside the root:
///
/// ```ini
/// [Task]
/// Description=Give the Salt minion its own id and key
/// After=hostname
/// Backup=/etc/salt/minion_id /etc/salt/pki/minion/minion.pem
/// Exec=rm -f /etc/salt/pki/minion/minion.pem && echo "$SANITIZE_HOSTNAME" > /etc/salt/minion_id
/// ```
///
/// `Exec=` runs with `/bin/sh -c` and `SANITIZE_ROOT`, `SANITIZE_RUN_ID`, `SANITIZE_HOSTNAME`,
/// `SANITIZE_MACHINE_ID` in its environment; the `Backup=` paths are journaled before it runs so
/// rollback restores them, and a non-zero exit fails the task and rolls the whole run back. A dry
/// run lists drop-ins without running them. With `--root`, a drop-in runs chrooted into the root,
/// and only when `--allow-exec` is given: it is the guest's code.
public struct DropInTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let command: String
        let backups: [String]
        let hostname: String
        let machineID: String
    }

    /// Where drop-ins live inside the root.
    public static let directory = "/etc/sanitize-clone/tasks.d"
    static let keys: [ConfigurationKey] = ["Description", "After", "Before", "Exec", "Backup"].map {
        ConfigurationKey(section: "Task", name: $0, summary: "", defaultValue: "")
    }

    public let name: String
    public let summary: String
    public let runsAfter: [String]
    /// Tasks that must run after this one.
    public let before: [String]
    /// Drop-ins use the new hostname and machine-id, so they are planned after those tasks.
    public let plannedAfter = ["machine-id", "hostname"]
    public let file: String
    public let command: String
    public let backups: [String]

    /// Every drop-in of `root`, in file-name order. A malformed file is an `InputError` naming
    /// the file and line.
    public static func load(from root: RootDirectory) throws -> [DropInTask] {
        try root.directoryEntries(directory).filter { $0.hasSuffix(".task") && !$0.hasPrefix(".") }.map { entry in
            let file = RootPath.join(directory, entry)
            let name = String(entry.dropLast(".task".count))
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw InputError("\(file): a drop-in's name may hold letters, digits, '-' and '_' only (rename the file)")
            }
            var settings = Configuration(keys: keys)
            try settings.merge(text: try root.readText(file) ?? "", file: file)
            let command = settings.value("Task", "Exec")
            guard !command.isEmpty else { throw InputError("\(file): no Exec= line (say what the task runs)") }
            let backups = settings.value("Task", "Backup").split(separator: " ").map(String.init)
            for path in backups where !RootPath.isSafeJournalPath(path) {
                throw InputError("\(file): Backup=\(path) is not an absolute path without '..'")
            }
            let list = { (key: String) in settings.value("Task", key).split(separator: " ").map(String.init) }
            let description = settings.value("Task", "Description")
            return DropInTask(name: name, summary: description.isEmpty ? "drop-in \(file)" : description,
                              runsAfter: list("After"), before: list("Before"), file: file, command: command, backups: backups)
        }
    }

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        let root = context.root
        if !root.isLiveSystem && !context.options.allowExec {
            return .skip("\(file) runs a program from the root: with --root it runs only with --allow-exec (chrooted into the root)")
        }
        guard try root.followedStatus(of: "/bin/sh") != nil else {
            throw InputError("\(file): the root has no /bin/sh to run Exec= with")
        }
        let hostname = try context.identity.staticHostname ?? root.readText("/etc/hostname")?.trimmingWhitespace() ?? ""
        let machineID = try context.identity.machineID ?? MachineID.parse(root.readText("/etc/machine-id")) ?? ""
        var changes = backups.map { path in
            Change(path: path, action: "backup", old: "(kept for rollback)", new: "(as Exec= leaves it)")
        }
        changes.append(Change(path: file, action: "exec", old: nil, new: command, undo: .coveredByOtherChanges))
        return TaskPlan(changes: changes, decision: Decision(command: command, backups: backups, hostname: hostname, machineID: machineID))
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        let root = context.root
        let environment = Program.defaultEnvironment + [
            "SANITIZE_ROOT=/", "SANITIZE_RUN_ID=\(context.runID)",
            "SANITIZE_HOSTNAME=\(decision.hostname)", "SANITIZE_MACHINE_ID=\(decision.machineID)",
        ]
        let result: ProgramOutput
        if root.isLiveSystem {
            result = try Program(path: "/bin/sh").run(["-c", decision.command], environment: environment)
        } else {
            result = try Program.find("chroot", package: "coreutils").run([root.hostPath, "/bin/sh", "-c", decision.command], environment: environment)
        }
        guard result.exitCode == 0 else {
            throw InputError("\(file): Exec= exited with \(result.exitCode): \(result.output.trimmingWhitespace().split(whereSeparator: \.isNewline).first.map(String.init) ?? "no output")")
        }
        for index in 0...decision.backups.count { try context.changeApplied(index) }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {}
}
