import ArgumentParser
import SanitizeCloneKit

/// `sanitize-clone rollback`.
struct RollbackCommand: ParsableCommand, ActsOnRoot {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Undo a finished run completely, from its journal.",
        discussion: """
            Refuses (exit 2) when a file the run wrote has changed since, unless --force.

            Examples:
              sanitize-clone rollback --root /mnt/clone --last
              sanitize-clone rollback 20261127T052237-3fa2c1
              sanitize-clone rollback --image clone.raw --last
            """)

    @OptionGroup var target: RootOptions

    @Option(help: ArgumentHelp("A raw VM disk image a 'run --image' changed (also after one was interrupted).", valueName: "file"))
    var image: String?

    @Flag(help: "Roll back the newest run not yet rolled back.")
    var last = false

    @Argument(help: "The run to roll back (see 'sanitize-clone status').")
    var runID: String?

    @Flag(help: "Roll back even over files changed since the run.")
    var force = false

    @OptionGroup var devices: DeviceArguments

    func validate() throws {
        guard last != (runID != nil) else {
            throw ValidationError("Give either --last or a RUN_ID (see 'sanitize-clone status').")
        }
        try validateImageTarget(image: image, root: root)
    }

    func run() throws {
        let engine = RunEngine(tasks: TaskRegistry.all, logger: Output.logger)
        try Output.reportingErrors(json: json) {
            var failpoint: Failpoint?
            if let text = Output.environment("SANITIZE_CLONE_FAILPOINT"), !text.isEmpty { failpoint = try Failpoint(parsing: text) }
            let target: RunEngine.RollbackTarget = runID.map { .run($0) } ?? .last
            let report = try image.map { try ImageRun(engine: engine).rollback(image: $0, target: target, force: force) }
                ?? engine.rollback(rootPath: root, target: target, force: force, failpoint: failpoint,
                                   binding: RunEngine.RootBinding(devices: devices.device))
            if json {
                print(report.json.serialized())
            } else {
                print("Run \(report.runID) rolled back: \(report.undone.count) change(s) undone in \(report.durationMilliseconds) ms.")
                if !report.kept.isEmpty {
                    print("Kept as the run left them (the template's secrets were shredded at boot): \(report.kept.joined(separator: ", "))")
                }
            }
        }
    }
}

/// `sanitize-clone status`.
struct StatusCommand: ParsableCommand, ActsOnRoot {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "List recorded runs, how they ended, and whether one waits for recovery.",
        discussion: """
            Example:
              sanitize-clone status --root /mnt/clone --json
            """)

    @OptionGroup var target: RootOptions

    func run() throws {
        let engine = RunEngine(tasks: TaskRegistry.all, logger: Output.logger)
        try Output.reportingErrors(json: json) {
            let report = try engine.status(rootPath: root)
            print(json ? report.json.serialized() : ReportPrinter.text(for: report), terminator: json ? "\n" : "")
        }
    }
}

/// `sanitize-clone tasks`.
struct TasksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks",
        abstract: "Show the task graph in execution order.",
        discussion: """
            With --root, the root's drop-in tasks (etc/sanitize-clone/tasks.d) are included.

            Examples:
              sanitize-clone tasks
              sanitize-clone tasks --root /mnt/template
              sanitize-clone tasks --dot | dot -Tsvg > tasks.svg
            """)

    @Option(help: "Include the drop-in tasks of this root.")
    var root: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Flag(help: "Print the graph as Graphviz dot.")
    var dot = false

    func run() throws {
        let engine = RunEngine(tasks: TaskRegistry.all, logger: Output.logger)
        try Output.reportingErrors(json: json) {
            let ordered = try engine.orderedTasks(includingDropInsOf: root)
            if dot {
                print(TaskGraph.dot(ordered), terminator: "")
            } else if json {
                let tasks = ordered.map { task in
                    JSON.object([("name", .string(task.name)), ("summary", .string(task.summary)),
                                 ("runs_after", .array(task.runsAfter.map(JSON.string))),
                                 ("planned_after", .array(task.plannedAfter.map(JSON.string)))])
                }
                print(JSON.object([("tasks", .array(tasks))]).serialized())
            } else {
                for (index, task) in ordered.enumerated() {
                    var after = task.runsAfter.isEmpty ? "" : "  (after \(task.runsAfter.joined(separator: ", ")))"
                    if !task.plannedAfter.isEmpty { after += "  (uses the plan of \(task.plannedAfter.joined(separator: ", ")))" }
                    print("\(index + 1). \(task.name)\(after)\n   \(task.summary)")
                }
            }
        }
    }
}

/// `sanitize-clone prune`.
struct PruneCommand: ParsableCommand, ActsOnRoot {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove the backups of finished runs (they hold the template's old secrets).",
        discussion: """
            Pruned runs stay listed by 'status' but can no longer be rolled back. With \
            --discard-foreign, journals this machine did not write for this root (planted, \
            copied, or written by another host) are shredded and removed whole.

            Examples:
              sanitize-clone prune --root /mnt/clone
              sanitize-clone prune --root /mnt/clone --discard-foreign
            """)

    @OptionGroup var target: RootOptions

    @Flag(help: "Also remove the run directories whose journals this machine did not write for this root.")
    var discardForeign = false

    func run() throws {
        let engine = RunEngine(tasks: TaskRegistry.all, logger: Output.logger)
        try Output.reportingErrors(json: json) {
            let pruned = try engine.prune(rootPath: root, discardForeign: discardForeign)
            if json {
                print(JSON.object([("result", .string("pruned")), ("runs", .array(pruned.map(JSON.string)))]).serialized())
            } else {
                print(pruned.isEmpty ? "No backups to prune." : "Pruned the backups of \(pruned.count) run(s): \(pruned.joined(separator: ", ")).")
            }
        }
    }
}

/// `sanitize-clone cat-config`.
struct CatConfigCommand: ParsableCommand, ActsOnRoot {
    static let configuration = CommandConfiguration(
        commandName: "cat-config",
        abstract: "Show the effective configuration, each value with the file and line it came from.",
        discussion: """
            Reads <root>/etc/sanitize-clone/sanitize-clone.conf, then conf.d/*.conf in order, as a run would.

            Examples:
              sanitize-clone cat-config
              sanitize-clone cat-config --root /mnt/template --json
            """)

    @OptionGroup var target: RootOptions

    @Option(help: ArgumentHelp("A configuration file to use instead of <root>/etc/sanitize-clone/sanitize-clone.conf.", valueName: "file"))
    var config: String?

    func run() throws {
        let engine = RunEngine(tasks: TaskRegistry.all, logger: Output.logger)
        try Output.reportingErrors(json: json) {
            let configuration = try Configuration.load(from: RootDirectory(path: root), keys: engine.configurationKeys, mainFileOverride: config)
            let values = configuration.effectiveValues
            if json {
                print(JSON.object([("keys", .array(values.map { entry in
                    JSON.object([("section", .string(entry.key.section)), ("name", .string(entry.key.name)), ("value", .string(entry.value)),
                                 ("default", .string(entry.key.defaultValue)), ("source", .string(entry.source)),
                                 ("summary", .string(entry.key.summary))])
                }))]).serialized())
                return
            }
            print("# The configuration a run on \(root) uses; each value's source follows it (default: not set in any file).")
            var section = ""
            for entry in values {
                if entry.key.section != section {
                    section = entry.key.section
                    print("\n[\(section)]")
                }
                print("# \(entry.key.summary)")
                print("\(entry.key.name)=\(entry.value)    # \(entry.source)")
            }
        }
    }
}
