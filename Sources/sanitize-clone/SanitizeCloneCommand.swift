import ArgumentParser
import SanitizeCloneKit

/// `sanitize-clone`: the root command and its subcommands.
struct SanitizeCloneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanitize-clone",
        abstract: "Give a cloned VM its own identity: machine-id, hostname, SSH host keys…",
        discussion: """
            Every change is journaled before it is made and can be rolled back; a dry run \
            changes nothing. Exit codes: 0 done, 1 a task failed and everything was rolled \
            back, 2 usage or input error (nothing changed), 4 rollback incomplete, 5 another \
            run holds the lock.

            Example:
              sanitize-clone plan --root /mnt/clone
              sanitize-clone run --root /mnt/clone --hostname web-07
            """,
        subcommands: [RunCommand.self, PlanCommand.self, RollbackCommand.self, StatusCommand.self,
                      TasksCommand.self, PruneCommand.self, SealCommand.self, DetectCommand.self, VerifyCommand.self,
                      TriggerCommand.self, CatConfigCommand.self]
    )
}

/// Options shared by `run` and `plan`.
struct RunArguments: ParsableArguments {
    @Option(help: "The root directory of the system to sanitize.")
    var root: String = "/"

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Option(help: ArgumentHelp("Run only these tasks (comma-separated); dependencies are not pulled in.", valueName: "tasks"))
    var only: String?

    @Option(help: ArgumentHelp("Leave these tasks out (comma-separated).", valueName: "tasks"))
    var skip: String?

    @Option(help: "The new hostname (over credentials and configuration).")
    var hostname: String?

    @Option(help: ArgumentHelp("A configuration file to use instead of <root>/etc/sanitize-clone/sanitize-clone.conf.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("A raw VM disk image to act on offline, instead of --root: its partitions are attached and its root mounted privately.", valueName: "file"))
    var image: String?

    @OptionGroup var platform: PlatformArguments

    @OptionGroup var devices: DeviceArguments

    @Flag(help: "With --root: let drop-in tasks (tasks.d/*.task) run their Exec=, chrooted into the root.")
    var allowExec = false

    @Flag(help: "With --root: probe new static IPv4 addresses (RFC 5227) on this machine's NICs named by --nic before writing them (always done on the running system).")
    var probeAddresses = false

    func validateTarget() throws { try validateImageTarget(image: image, root: root) }

    func options(dryRun: Bool) throws -> RunOptions {
        var options = RunOptions()
        options.dryRun = dryRun
        options.only = only.map { $0.split(separator: ",").map(String.init) }
        options.skip = skip.map { $0.split(separator: ",").map(String.init) } ?? []
        options.hostname = hostname
        options.configFile = config
        options.allowExec = allowExec
        options.probeAddresses = probeAddresses ? true : nil
        options.devices = devices.device
        if !platform.nic.isEmpty || platform.productUUID != nil || (image == nil && RootPath.normalized(root) == "/") {
            options.platform = try platform.facts(root: root)
        }
        if let failpoint = Output.environment("SANITIZE_CLONE_FAILPOINT"), !failpoint.isEmpty {
            options.failpoint = try Failpoint(parsing: failpoint)
        }
        return options
    }
}

/// `sanitize-clone run`.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the task graph: give the root a new identity (journaled, undoable).",
        discussion: """
            Examples:
              sanitize-clone run --root /mnt/clone --hostname web-07
              sanitize-clone run --root /mnt/clone --dry-run --json
              sanitize-clone run --only hostname,ssh-host-keys
            """)

    @OptionGroup var arguments: RunArguments

    @Flag(help: "Print the plan and change nothing at all.")
    var dryRun = false

    @Flag(help: "The boot service's mode: act only on a sealed template or a detected clone; record a fingerprint otherwise.")
    var auto = false

    @Flag(help: ArgumentHelp("With --auto: the VM generation ID changed (udev's NEW_VMGENID); take it as the clone signal.", visibility: .hidden))
    var generationChanged = false

    func validate() throws {
        try arguments.validateTarget()
        if auto && arguments.image != nil { throw ValidationError("--auto acts on the running system; --image is for an offline image.") }
    }

    func run() throws {
        if auto {
            try AutoRunExecution.execute(arguments, dryRun: dryRun, generationChanged: generationChanged)
        } else {
            try RunExecution.execute(arguments, dryRun: dryRun)
        }
    }
}

/// `sanitize-clone plan`: `run --dry-run`.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show every change a run would make (the same as run --dry-run).",
        discussion: """
            Example:
              sanitize-clone plan --root /mnt/clone --hostname web-07
            """)

    @OptionGroup var arguments: RunArguments

    func validate() throws { try arguments.validateTarget() }

    func run() throws {
        try RunExecution.execute(arguments, dryRun: true)
    }
}

/// Runs or plans, prints the report, exits with its code.
enum RunExecution {
    static func execute(_ arguments: RunArguments, dryRun: Bool) throws {
        let engine = RunEngine(tasks: TaskRegistry.all, logger: Output.logger)
        let report: RunReport
        do {
            let options = try arguments.options(dryRun: dryRun)
            let observer = arguments.json || dryRun ? nil : TerminalProgress.forStandardError()
            if let image = arguments.image {
                report = try ImageRun(engine: engine).run(image: image, options: options, observer: observer)
            } else {
                report = try engine.run(rootPath: arguments.root, options: options, observer: observer)
            }
        } catch {
            throw ExitCode(Output.fail(error, json: arguments.json))
        }
        if arguments.json {
            print(report.json.serialized())
        } else {
            print(ReportPrinter.text(for: report, root: arguments.image ?? arguments.root,
                                     target: arguments.image.map { "--image \($0)" }), terminator: "")
        }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}

/// `--device`: a block device of the clone that is not on the disk holding its `--root`.
struct DeviceArguments: ParsableArguments {
    @Option(help: ArgumentHelp("With --root: a block device of the clone (repeatable). Only the disk holding the root's filesystem and the devices named here are read (seal, verify), or may get new UUIDs or have them set back (run, rollback).", valueName: "device"))
    var device: [String] = []
}
