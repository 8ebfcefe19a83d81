#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SanitizeCloneKit

/// The platform facts for a `--root` that is not the running system (never the build host's).
struct PlatformArguments: ParsableArguments {
    @Option(help: ArgumentHelp("With --root: the DMI product UUID of the machine the root belongs to.", valueName: "uuid"))
    var productUUID: String?

    @Option(help: ArgumentHelp("With --root: a NIC of the machine the root belongs to, NAME=MAC or NAME=MAC,PCI-ADDRESS (repeatable).", valueName: "name=mac"))
    var nic: [String] = []

    /// The running system's facts for `/`, else those given.
    func facts(root: String) throws -> PlatformFacts {
        if productUUID == nil && nic.isEmpty && RootPath.normalized(root) == "/" { return PlatformFacts.live() }
        let interfaces = try nic.map { entry in
            do { return try NetworkInterface(parsing: entry) } catch { throw InputError("--nic \(error)") }
        }
        return PlatformFacts(productUUID: productUUID, interfaces: interfaces)
    }
}

/// `run --auto`: what the boot service runs.
enum AutoRunExecution {
    static func execute(_ arguments: RunArguments, dryRun: Bool, generationChanged: Bool) throws {
        let engine = RunEngine(tasks: TaskRegistry.all, logger: Output.logger)
        let outcome: AutoRun.Outcome
        do {
            var options = try arguments.options(dryRun: dryRun)
            // The kernel command line is the running system's: it never speaks for another root.
            if options.failpoint == nil, RootPath.normalized(arguments.root) == "/", let failpoint = KernelCommandLine.failpoint() {
                options.failpoint = try Failpoint(parsing: failpoint)
            }
            let platform = try arguments.platform.facts(root: arguments.root)
            outcome = try AutoRun(engine: engine).run(rootPath: arguments.root, options: options, platform: platform,
                                                      generationChanged: generationChanged)
        } catch {
            ServiceNotifier.status("Failed: \(error)")
            throw ExitCode(Output.fail(error, json: arguments.json))
        }
        if arguments.json {
            var members: [(String, JSON)] = [("verdict", .string(outcome.verdict.rawValue)),
                                             ("reasons", .array(outcome.reasons.map(JSON.string))),
                                             ("summary", .string(outcome.summary)),
                                             ("reboot", .bool(outcome.rebootNeeded))]
            if let report = outcome.report { members.append(("run", report.json)) }
            if !outcome.failForward.isEmpty { members.append(("created", .array(outcome.failForward.map(JSON.string)))) }
            print(JSON.object(members).serialized())
        } else {
            print("sanitize-clone: \(outcome.summary)")
            for reason in outcome.reasons { print("  because \(reason)") }
            if let report = outcome.report {
                print(ReportPrinter.text(for: report, root: arguments.root), terminator: "")
                print(ReportPrinter.fingerprintBlock(for: report, root: arguments.root), terminator: "")
            }
        }
        if outcome.rebootNeeded && !dryRun {
            do { try AutoRun.requestReboot() } catch { Output.logger.error("Could not request the reboot: \(error)") }
        }
        if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
    }
}

/// Reads `sanitize_clone.failpoint=` from the kernel command line (for the boot tests).
enum KernelCommandLine {
    static func failpoint() -> String? {
        guard let text = try? RootDirectory(path: "/proc").readTextLeniently("cmdline") else { return nil }
        return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("sanitize_clone.failpoint=") }
            .map { String($0.dropFirst("sanitize_clone.failpoint=".count)) }
    }
}

/// `sanitize-clone seal`.
struct SealCommand: ParsableCommand, ActsOnRoot {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Prepare a template before capture: record its identity, remove what clones must not share.",
        discussion: """
            Records the template's identity and fingerprint, writes 'uninitialized' to \
            /etc/machine-id, removes /var/lib/dbus/machine-id, the SSH private host keys, DHCP \
            leases, the random seed and every sanitize-clone journal, and enables \
            sanitize-clone.service. Not undoable: capture the template right after.

            Examples:
              sanitize-clone seal --dry-run --root /mnt/template
              sanitize-clone seal --poweroff
            """)

    @OptionGroup var target: RootOptions

    @Flag(help: "Show what would be done and change nothing.")
    var dryRun = false

    @Flag(help: "Power off right after sealing (live system only).")
    var poweroff = false

    @OptionGroup var devices: DeviceArguments

    @OptionGroup var platform: PlatformArguments

    func run() throws {
        try Output.reportingErrors(json: json) {
            let directory = try RootDirectory(path: root)
            let seal = Seal()
            let steps = dryRun ? try seal.plan(root: directory)
                : try seal.seal(root: directory, platform: try platform.facts(root: root), devices: devices.device)
            if json {
                let items = steps.map { JSON.object([("path", .string($0.path)), ("action", .string($0.action)), ("detail", .string($0.detail))]) }
                print(JSON.object([("result", .string(dryRun ? "planned" : "sealed")), ("steps", .array(items))]).serialized())
            } else {
                print(dryRun ? "Sealing \(root) would:" : "Sealed \(root):")
                for step in steps { print("  \(step.action) \(step.path): \(step.detail)") }
                if !dryRun { print("Capture the template now; do not boot it again before cloning (or seal again).") }
            }
            if poweroff && !dryRun && directory.isLiveSystem {
                try Program.find("systemctl", package: "systemd").run(["poweroff"]).check()
            }
        }
    }
}

/// `sanitize-clone detect`.
struct DetectCommand: ParsableCommand, ActsOnRoot {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Show the virtualization in use and whether this machine is a clone, with the reasons.",
        discussion: """
            Exits 0 whatever the verdict. With --record, a machine with no recorded identity has
            its fingerprint recorded (as the package's postinst does on a booted system); nothing
            else is ever changed.

            Examples:
              sanitize-clone detect --json
              sanitize-clone detect --record
            """)

    @OptionGroup var target: RootOptions

    @OptionGroup var platform: PlatformArguments

    @Flag(help: "Record this machine's identity and fingerprint when none is recorded yet (changes no identity).")
    var record = false

    func run() throws {
        try Output.reportingErrors(json: json) {
            let directory = try RootDirectory(path: root)
            let facts = try platform.facts(root: root)
            if record, try RecordedIdentity.load(from: directory) == nil {
                try RecordedIdentity.current(of: directory, platform: facts, sealed: false).save(to: directory)
                if !json { print("Recorded this machine's identity in \(RecordedIdentity.path).") }
            }
            let virtualization = Virtualization.detect()
            let uninitialized = try MachineID.isUninitialized(in: directory)
            let (verdict, reasons) = CloneDetector(recorded: try RecordedIdentity.load(from: directory), platform: facts)
                .decide(machineIDUninitialized: uninitialized)
            if json {
                print(JSON.object([
                    ("virtualization", .object([("kind", .string(virtualization.kind)), ("name", .optional(virtualization.name)),
                                                ("evidence", .array(virtualization.evidence.map(JSON.string)))])),
                    ("product_uuid", .optional(facts.productUUID)),
                    ("macs", .array(facts.permanentMACs.map(JSON.string))),
                    ("interfaces", .array(facts.interfaces.map { nic in
                        .object([("name", .string(nic.name)), ("mac", .string(nic.mac)), ("permanent_mac", .string(nic.permanentMAC)),
                                 ("pci_address", .optional(nic.pciAddress)), ("physical", .bool(nic.isPhysical))])
                    })),
                    ("verdict", .string(verdict.rawValue)),
                    ("reasons", .array(reasons.map(JSON.string))),
                ]).serialized())
            } else {
                print("Virtualization: \(virtualization.kind)\(virtualization.name.map { " (\($0))" } ?? "")")
                for line in virtualization.evidence { print("  \(line)") }
                print("Product UUID: \(facts.productUUID ?? "none")")
                print("Permanent MACs: \(facts.permanentMACs.isEmpty ? "none" : facts.permanentMACs.joined(separator: ", "))")
                for nic in facts.interfaces {
                    print("  \(nic.name) \(nic.mac)\(nic.permanentMAC == nic.mac ? "" : " (permanent \(nic.permanentMAC))")"
                          + (nic.pciAddress.map { " at PCI \($0)" } ?? "") + (nic.isPhysical ? "" : " (virtual)"))
                }
                print("Verdict: \(verdict.rawValue)")
                for reason in reasons { print("  because \(reason)") }
            }
        }
    }
}

/// `sanitize-clone verify`.
struct VerifyCommand: ParsableCommand, ActsOnRoot {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Prove the clone: every identity differs from the template's and is consistent.",
        discussion: """
            Every check ends passed, pending (the initramfs sets it at the next boot), kept \
            (still the template's because this guest or its configuration keeps it by design, \
            e.g. a running clone's mounted filesystem while ChangeMountedFilesystems=no, or a \
            partition table outside --image; the line says why and what changes it) or failed \
            (a run should have changed it). Exits 0 when nothing failed, 1 listing what did; \
            with --strict, kept identities fail too. With --image, the image is \
            attached and its root mounted read-only; every fstab UUID must name one of its \
            partitions. The filesystem, swap, LUKS, LVM PV/VG and partition table identities in \
            view are compared with the template's (as seal recorded them); with --root, name \
            the clone's disks with --device.

            Examples:
              sanitize-clone verify --root /mnt/clone --json
              sanitize-clone verify --image web-07.raw
              sanitize-clone verify --strict
            """)

    @OptionGroup var target: RootOptions

    @OptionGroup var platform: PlatformArguments

    @Option(help: ArgumentHelp("A raw VM disk image to verify offline (read-only), instead of --root.", valueName: "file"))
    var image: String?

    @OptionGroup var devices: DeviceArguments

    @Flag(help: "Fail on identities kept by design too: a clone must share no storage identity with its template.")
    var strict = false

    func validate() throws {
        try validateImageTarget(image: image, root: root)
        if image != nil && !devices.device.isEmpty { throw ValidationError("--device goes with --root; --image brings its own partitions.") }
    }

    func run() throws {
        let checks = try Output.reportingErrors(json: json) {
            if let image {
                return try ImageRun.inspect(image: image) { rootPath, partitions in
                    try CloneVerification().checks(root: try RootDirectory(path: rootPath), interfaces: try platform.facts(root: rootPath).interfaces,
                                                   devices: partitions, image: image)
                }
            }
            return try CloneVerification().checks(root: try RootDirectory(path: root), interfaces: try platform.facts(root: root).interfaces,
                                                  named: devices.device)
        }
        let failed = checks.filter { !$0.passed(strict: strict) }
        let pending = checks.filter(\.pending)
        let kept = checks.filter(\.kept)
        if json {
            let items = checks.map { check in
                JSON.object([("check", .string(check.name)), ("state", .string(check.state.rawValue)), ("passed", .bool(check.passed(strict: strict))),
                             ("pending", .bool(check.pending)), ("kept", .bool(check.kept))]
                            + (check.reason.map { [("reason", JSON.string($0))] } ?? []) + [("detail", .string(check.detail))])
            }
            print(JSON.object([("result", .string(failed.isEmpty ? "verified" : "failed")), ("strict", .bool(strict)),
                               ("pending", .number(pending.count)), ("kept", .number(kept.count)), ("checks", .array(items))]).serialized())
        } else {
            let marks: [CloneCheck.State: String] = [.passed: "✔", .pending: "↻", .kept: strict ? "✘" : "⚠", .failed: "✘"]
            for check in checks { print("\(marks[check.state] ?? "?") \(check.name): \(check.detail)") }
            let target = image.map { "--image \($0)" } ?? "--root \(root)"
            if failed.isEmpty {
                print("Verified: this clone has its own, consistent identity."
                      + (pending.isEmpty ? "" : " \(pending.count) change(s) pending: reboot to complete them.")
                      + (kept.isEmpty ? "" : " \(kept.count) storage identit\(kept.count == 1 ? "y" : "ies") kept by design (⚠), each saying how to change it; --strict fails on them."))
            } else {
                print("\(failed.count) check(s) failed\(strict && !kept.isEmpty ? " (\(kept.count) kept by design, failed with --strict)" : ""). Fix each as it says, or with: sanitize-clone run \(target)")
            }
        }
        if !failed.isEmpty { throw ExitCode(1) }
    }
}

/// `sanitize-clone trigger`.
struct TriggerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger",
        abstract: "Run sanitize-clone.service now, over the system bus, and follow it (the run is logged under the unit).",
        discussion: """
            The service runs 'run --auto': it acts only on a sealed template or a detected clone. \
            Exits 0 when the unit's job is done, 1 when it failed (see 'systemctl status \
            sanitize-clone.service').

            Example:
              sanitize-clone trigger
            """)

    @Option(help: "The unit to run.")
    var unit = "sanitize-clone.service"

    @Option(help: "How long to wait for the run, in seconds.")
    var timeout = 900

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        // A oneshot with RemainAfterExit= stays active after its boot-time run: restart it.
        let result = try Output.reportingErrors(json: json) {
            try SystemdManager(bus: try SystemBus()).restartUnitAndWait(unit, timeout: .seconds(timeout))
        }
        if json {
            print(JSON.object([("unit", .string(unit)), ("result", .string(result))]).serialized())
        } else {
            print("\(unit): \(result). Its output: journalctl -u \(unit) -b")
        }
        if result != "done" { throw ExitCode(1) }
    }
}
