import Logging

/// `sanitize-clone run --auto`: what the first-boot service does.
///
/// It acts only when the template was sealed or this machine is a clone of the one its root
/// records; otherwise it leaves the machine alone — recording a fingerprint on a machine that has
/// none (the template's own boot), saying "not a clone" on an unchanged one. After a successful
/// run the record is updated, so later boots change nothing. A sealed clone fails forward: if the
/// run fails, what the sealed template lacks (a machine-id, host keys) is still created.
public struct AutoRun: Sendable {
    /// What happened.
    public struct Outcome: Sendable {
        public var verdict: CloneDetector.Verdict
        public var reasons: [String]
        /// The run's report, when one ran.
        public var report: RunReport?
        /// A reboot is due so every service starts under the new identity.
        public var rebootNeeded: Bool
        /// What was created anyway after a failed run on a sealed clone.
        public var failForward: [String]
        /// One line for the console and `systemctl status`.
        public var summary: String

        /// 0 when nothing was to be done or the run committed; else the report's code.
        public var exitCode: Int32 { report?.exitCode ?? 0 }
    }

    public let engine: RunEngine

    public init(engine: RunEngine) { self.engine = engine }

    /// Runs the boot-time decision and, for a clone, the task graph in `.auto` mode.
    /// `generationChanged` (the vmgenid udev rule) takes a VM generation change as the clone signal.
    public func run(rootPath: String, options: RunOptions, platform: PlatformFacts, generationChanged: Bool = false,
                    observer: (any RunObserver)? = nil) throws -> Outcome {
        let root = try engine.openRoot(rootPath)
        // The boot after a run that left identities to the initramfs: finish that first (the
        // tasks whose lists are pending; the initramfs task comes with them).
        let pendingTasks = try InitramfsComponent.pendingTasks(in: root)
        if root.isLiveSystem, !options.dryRun, !pendingTasks.isEmpty {
            var finishing = options
            finishing.mode = .auto
            finishing.only = pendingTasks
            finishing.platform = platform
            let report = try engine.run(rootPath: rootPath, options: finishing, observer: observer)
            ServiceNotifier.status("Identities set by the initramfs; boot loader references updated (run \(report.runID))")
        }
        let recorded = try RecordedIdentity.load(from: root)
        let uninitialized = try MachineID.isUninitialized(in: root)
        var (verdict, reasons) = CloneDetector(recorded: recorded, platform: platform).decide(machineIDUninitialized: uninitialized)
        if generationChanged && verdict == .sameMachine {
            verdict = .clone
            reasons.append("the VM generation ID changed (a live fork or snapshot restore)")
        }

        switch verdict {
        case .unrecorded:
            if !options.dryRun { try Self.identityToRecord(of: root, platform: platform, devices: options.devices, logger: engine.logger).save(to: root) }
            return Outcome(verdict: verdict, reasons: reasons, report: nil, rebootNeeded: false, failForward: [],
                           summary: "Not a clone: this machine's identity is now recorded in \(RecordedIdentity.path)")
        case .sameMachine:
            // A manual run sanitized this root without knowing its machine: record it now, so a
            // clone of this machine is recognised later.
            if var known = recorded, known.machine.isEmpty, !RecordedIdentity.Fingerprint(of: platform).isEmpty {
                known.machine = RecordedIdentity.Fingerprint(of: platform)
                known.recordedAt = Clock.nowMilliseconds()
                if !options.dryRun { try known.save(to: root) }
                return Outcome(verdict: verdict, reasons: reasons, report: nil, rebootNeeded: false, failForward: [],
                               summary: "Not a clone: sanitized before this boot; this machine's fingerprint is now recorded in \(RecordedIdentity.path)")
            }
            return Outcome(verdict: verdict, reasons: reasons, report: nil, rebootNeeded: false, failForward: [],
                           summary: "Not a clone: \(reasons.last ?? "")")
        case .sealed, .clone:
            break
        }

        ServiceNotifier.status(verdict == .sealed ? "Sealed template: giving this clone its own identity…" : "Clone detected: giving it its own identity…")
        var runOptions = options
        runOptions.mode = .auto
        runOptions.boot = BootFacts(templateMachineID: recorded?.template.machineID, productUUID: platform.productUUID)
        runOptions.platform = platform
        let report: RunReport
        do {
            report = try engine.run(rootPath: rootPath, options: runOptions, observer: observer)
        } catch {
            // A refusal before any change (exit 2, e.g. a file that cannot be changed) or a recovery
            // that could not finish (exit 4) leaves a sealed clone as unreachable as a failed run:
            // fail forward here too. Not when another run holds the lock: that one is at work.
            if verdict == .sealed, !options.dryRun, !(error is LockHeldError),
               let created = try? FailForward.createMissingIdentity(in: root, configuration: try loadConfiguration(root, options), tasks: engine.tasks),
               !created.isEmpty {
                let summary = "The run failed (\(error)); created what the sealed template lacked: \(created.joined(separator: ", "))"
                engine.logger.error("\(summary)")
                ServiceNotifier.status(summary)
            }
            throw error
        }
        if options.dryRun {
            return Outcome(verdict: verdict, reasons: reasons, report: report, rebootNeeded: false, failForward: [], summary: "Planned (dry run)")
        }

        guard report.result == .committed else {
            let created = verdict == .sealed ? try FailForward.createMissingIdentity(in: root, configuration: try loadConfiguration(root, options), tasks: engine.tasks) : []
            let summary = "The run failed and was rolled back" + (created.isEmpty ? "" : "; created what the sealed template lacked: \(created.joined(separator: ", "))")
            ServiceNotifier.status(summary)
            return Outcome(verdict: verdict, reasons: reasons, report: report, rebootNeeded: false, failForward: created, summary: summary)
        }

        var updated = try recorded ?? RecordedIdentity.current(of: root, platform: platform, sealed: false)
        updated.machine = RecordedIdentity.Fingerprint(of: platform)
        updated.sealed = false
        updated.recordedAt = Clock.nowMilliseconds()
        try updated.save(to: root)

        let machineIDChanged = report.tasks.contains { $0.name == "machine-id" && $0.status == .applied }
        let uuidsAtNextBoot = try !InitramfsComponent.pendingTasks(in: root).isEmpty
        let configuration = try loadConfiguration(root, options)
        let reboot = (machineIDChanged || uuidsAtNextBoot) && root.isLiveSystem && configuration.flag("Boot", "RebootAfterMachineIDChange")
        let summary = "This clone has its own identity (run \(report.runID))" + (reboot ? "; rebooting once so every service starts with it" : "")
        ServiceNotifier.status(summary)
        return Outcome(verdict: verdict, reasons: reasons, report: report, rebootNeeded: reboot, failForward: [], summary: summary)
    }

    /// The identity an unrecorded machine records at its first boot, with its storage identities
    /// when they can be read: a device blkid, LVM or sfdisk cannot read must not keep the machine
    /// from recording the rest (it is logged, and the record says nothing of storage then).
    static func identityToRecord(of root: RootDirectory, platform: PlatformFacts, devices: [String], logger: Logger) throws -> RecordedIdentity {
        do {
            return try RecordedIdentity.current(of: root, platform: platform, sealed: false, storageScope: try DeviceScope.of(root, named: devices))
        } catch {
            logger.warning("The storage identities could not be recorded (\(error)); verify will not compare them")
            return try RecordedIdentity.current(of: root, platform: platform, sealed: false)
        }
    }

    private func loadConfiguration(_ root: RootDirectory, _ options: RunOptions) throws -> Configuration {
        try Configuration.load(from: root, keys: engine.configurationKeys, mainFileOverride: options.configFile)
    }

    /// Asks systemd to reboot without waiting (`systemctl --no-block reboot`, through PID 1's
    /// private socket: the system bus may not run yet).
    public static func requestReboot() throws {
        try Program.find("systemctl", package: "systemd").run(["--no-block", "reboot"]).check()
    }
}

/// Creates what a sealed template lacks when its first boot's run failed, so the clone stays
/// reachable: each task's `createMissing` (a valid machine-id, the host keys sshd needs), by the
/// same policy its `apply` follows. Not journaled: it only creates what is missing.
enum FailForward {
    static func createMissingIdentity(in root: RootDirectory, configuration: Configuration, tasks: [any SanitizeTask]) throws -> [String] {
        try tasks.flatMap { try $0.createMissing(in: root, configuration: configuration) }
    }
}
