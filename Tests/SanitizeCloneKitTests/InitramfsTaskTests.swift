import Foundation
import Logging
import Testing
@testable import SanitizeCloneKit

/// The `initramfs` task on fixture roots, planned after what an earlier task planned (the pending
/// list, crypttab): it installs the component for the root's builder while a list is pending,
/// removes it once none is, rebuilds only when a file the initramfs embeds changed (or says how),
/// and comes with `fs-uuids` even when only that task is asked for.
@Suite("The initramfs task", .requiresFileOwnership)
struct InitramfsTaskTests {
    static let pending = NextBootUUIDs.text([.init(type: "xfs", old: "0b7e5cc4-6a0e-4c8c-8d25-3f3a3e0d9d11", new: "9f3f0e2a-1111-4c8c-8d25-3f3a3e0d9d11")])

    func planning(_ root: FixtureRoot, allowExec: Bool = false) throws -> PlanningContext {
        let directory = try RootDirectory(path: root.path)
        var options = RunOptions()
        options.allowExec = allowExec
        return PlanningContext(root: directory, configuration: try Configuration.load(from: directory, keys: []), options: options,
                               deviceScope: .image([]))
    }

    func apply(_ decision: InitramfsTask.Decision, on root: FixtureRoot) throws {
        let task = InitramfsTask()
        let context = ApplyContext(root: try RootDirectory(path: root.path), runID: "initramfs-test", taskName: task.name, mode: .manual,
                                   audit: Audit(logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), runID: "initramfs-test")) { _, _ in }
        try task.apply(decision, in: context)
        try task.verify(decision, in: context)
    }

    @Test("a pending list planned on a dracut guest installs the module and the drop-in, directories first; the finishing run removes them all, the directory last")
    func dracutInstallAndRemove() throws {
        let root = try StorageNoteTests.dracutLike()
        defer { root.remove() }
        for name in ["initramfs-6.1.0-13-amd64.img", "initramfs-0-rescue-5f3c1a9e.img", "vmlinuz-6.1.0-13-amd64"] { try root.write("/boot/" + name, "x") }
        let task = InitramfsTask()

        let offline = try planning(root)
        offline.planText(Self.pending, for: NextBootUUIDs.pendingFile)
        let plan = try task.plan(in: offline)
        let decision = try #require(plan.decision)
        let directories = plan.changes.prefix { $0.action == "create-directory" }.map(\.path)
        #expect(directories.contains(DracutNextBootModule.directory) && directories.contains("/etc/dracut.conf.d"), "\(directories)")
        #expect(directories.enumerated().allSatisfy { index, path in directories[..<index].allSatisfy { !$0.hasPrefix(path + "/") } },
                "parents first: \(directories)")
        #expect(decision.writes.map(\.path) == [DracutNextBootModule.setupFile, DracutNextBootModule.hookFile,
                                                DracutNextBootModule.jobFile, DracutNextBootModule.dropInFile])
        #expect(!plan.changes.contains { $0.action == "rebuild" } && !decision.rebuild)
        #expect(plan.notes.contains { $0.contains("dracut --force --regenerate-all") && $0.contains(NextBootUUIDs.pendingFile) }, "\(plan.notes)")

        // With --allow-exec (or on the running system): every initramfs but the rescue image.
        let allowed = try planning(root, allowExec: true)
        allowed.planText(Self.pending, for: NextBootUUIDs.pendingFile)
        let rebuilds = try task.plan(in: allowed).changes.filter { $0.action == "rebuild" }
        #expect(rebuilds.map(\.path) == ["/boot/initramfs-6.1.0-13-amd64.img"] && rebuilds.allSatisfy { $0.new == "dracut --force --regenerate-all" })

        try apply(decision, on: root)
        #expect(root.mode(DracutNextBootModule.setupFile) == 0o755 && root.mode(DracutNextBootModule.hookFile) == 0o755)
        #expect(root.mode(DracutNextBootModule.dropInFile) == 0o644 && root.mode(DracutNextBootModule.directory) == 0o755)
        #expect(root.read(DracutNextBootModule.dropInFile)?.contains("add_dracutmodules+=\" sanitize-clone \"") == true)

        // Installed and the same list still pending: nothing to write again.
        try root.write(NextBootUUIDs.pendingFile, Self.pending)
        #expect(try task.plan(in: planning(root)).decision == nil, "nothing the initramfs embeds changes")

        // The finishing run removes the list: the component goes, the directory last.
        let finishing = try planning(root)
        finishing.planRemoval(of: NextBootUUIDs.pendingFile)
        let removal = try #require(try task.plan(in: finishing).decision)
        #expect(removal.writes.isEmpty && removal.removals.last == DracutNextBootModule.directory, "\(removal.removals)")
        try apply(removal, on: root)
        #expect(InitramfsComponent.installedPaths.allSatisfy { !root.exists($0) })
        #expect(root.exists("/usr/lib/dracut/modules.d") && root.exists("/etc/dracut.conf.d"), "only the module's own directory goes")
    }

    @Test("on an initramfs-tools guest the component is the hook and the two scripts; the rebuild is chrooted update-initramfs")
    func initramfsTools() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/usr/sbin/update-initramfs", "#!/bin/sh\n", mode: 0o755)
        try root.write("/boot/initrd.img-6.1.0-13-amd64", "x")
        let context = try planning(root, allowExec: true)
        context.planText(Self.pending, for: NextBootUUIDs.pendingFile)
        let plan = try InitramfsTask().plan(in: context)
        let decision = try #require(plan.decision)
        #expect(decision.writes.map(\.path) == [NextBootUUIDs.hookFile, NextBootUUIDs.scriptFile, NextBootUUIDs.premountScriptFile])
        #expect(plan.changes.filter { $0.action == "rebuild" }.map(\.path) == ["/boot/initrd.img-6.1.0-13-amd64"])
        let (program, arguments) = try InitramfsComponent.rebuildCommand(builder: "update-initramfs", in: context.root)
        #expect(program.path.hasSuffix("/chroot") && arguments == [root.path, "update-initramfs", "-u", "-k", "all"], "\(arguments)")
        let (dracut, dracutArguments) = try InitramfsComponent.rebuildCommand(builder: "dracut", in: context.root)
        #expect(dracut.path.hasSuffix("/chroot") && dracutArguments == [root.path, "dracut", "--force", "--regenerate-all", "--no-hostonly"])
    }

    @Test("a changed crypttab alone rebuilds (or says how) without installing anything; nothing changed: skipped")
    func embeddedConfigurationOnly() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/usr/sbin/update-initramfs", "#!/bin/sh\n", mode: 0o755)
        try root.write("/etc/crypttab", "root UUID=0b7e5cc4-6a0e-4c8c-8d25-3f3a3e0d9d11 none luks\n")
        let task = InitramfsTask()
        let unchanged = try task.plan(in: planning(root))
        #expect(unchanged.decision == nil && unchanged.skipReason?.contains("no file the initramfs embeds changes") == true)

        let context = try planning(root)
        context.planText("root UUID=9f3f0e2a-1111-4c8c-8d25-3f3a3e0d9d11 none luks\n", for: "/etc/crypttab")
        let plan = try task.plan(in: context)
        #expect(plan.decision == nil, "no component and no rebuild allowed: nothing to apply")
        #expect(plan.notes.contains { $0.contains("/etc/crypttab") && $0.contains("update-initramfs -u") }, "\(plan.notes)")
    }

    @Test("fs-uuids brings the initramfs task with it under --only, and skipping it while fs-uuids runs is refused")
    func comesWithFilesystemUUIDs() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let only = try InProcess.json(["plan", "--root", root.path, "--only", "fs-uuids", "--json"])
        #expect(only["tasks"]?.array?.compactMap { $0["name"]?.string } == ["fs-uuids", "initramfs"], "\(only)")
        let skipped = try InProcess.run(["plan", "--root", root.path, "--skip", "initramfs", "--json"])
        #expect(skipped.exitCode == 2 && skipped.stdout.contains("'fs-uuids' needs 'initramfs'"), "\(skipped)")
        let both = try InProcess.run(["plan", "--root", root.path, "--skip", "initramfs", "--skip", "fs-uuids", "--json"])
        #expect(both.exitCode == 0, "\(both)")
    }

    /// Stands in for `fs-uuids` on a running clone (the only place it leaves a pending list): it
    /// writes the list, so the initramfs task installs the component on a fixture root.
    struct PendingListFixture: SanitizeTask {
        let name = "fs-uuids"
        let summary = "writes the next-boot list, as fs-uuids does on a running clone"
        let followedBy = ["initramfs"]
        func plan(in context: PlanningContext) throws -> TaskPlan<String> {
            context.planText(InitramfsTaskTests.pending, for: NextBootUUIDs.pendingFile)
            return TaskPlan(changes: [Change(path: NextBootUUIDs.pendingFile, action: "create", old: nil, new: "the list",
                                             undo: .restorePath(followingSymlinks: false))], decision: InitramfsTaskTests.pending)
        }
        func apply(_ decision: String, in context: ApplyContext) throws {
            try context.root.writeFileAtomically(NextBootUUIDs.pendingFile, contents: Array(decision.utf8), attributes: FileAttributes(mode: 0o644))
            try context.changeApplied(0)
        }
        func verify(_ decision: String, in context: ApplyContext) throws {}
    }

    @Test("a failure before, at or after each of the component's changes rolls the run back: the root is exactly as it was",
          arguments: ["before-apply", "change-1", "change-2", "change-3", "change-4", "change-5", "change-6", "change-7", "change-8", "change-9", "after-apply"])
    func failureAtEveryChangeRollsBack(_ point: String) throws {
        let root = try StorageNoteTests.dracutLike()
        defer { root.remove() }
        try root.write("/etc/sanitize-clone/.keep", "")
        let engine = RunEngine(tasks: [PendingListFixture(), PartitionTableIDsTask(), InitramfsTask()], logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        var dry = RunOptions()
        dry.dryRun = true
        let planned = try engine.run(rootPath: root.path, options: dry)
        let changes = planned.tasks.first { $0.name == "initramfs" }?.changes ?? []
        // /usr/lib, /usr/lib/dracut, modules.d, 95sanitize-clone, /etc/dracut.conf.d, then four files.
        #expect(changes.count == 9, "\(changes.map { "\($0.action) \($0.path)" })")
        let before = try root.signature()
        var options = RunOptions()
        options.failpoint = try Failpoint(parsing: "initramfs:\(point):error")
        let report = try engine.run(rootPath: root.path, options: options)
        #expect(report.result == .rolledBack, "\(report.result) at \(point): \(report.tasks.map { "\($0.name) \($0.status) \($0.reason ?? "") \($0.error ?? "")" })")
        try expectUnchanged(root, since: before, "a failure at initramfs:\(point)")
    }
}
