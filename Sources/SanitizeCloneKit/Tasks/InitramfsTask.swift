/// Keeps the clone's initramfs in step with the files it embeds: while a task has left an
/// identity to the next boot (a pending list of `InitramfsComponent`), the component that sets it
/// is installed; once no list is left, it is removed; and whenever one of those files, or the
/// configuration the initramfs embeds (crypttab, `resume`), changed in this run, every initramfs
/// in /boot is rebuilt with the clone's own builder (initramfs-tools or dracut).
///
/// It runs after the tasks that write those files (`fs-uuids`, `partition-table-ids`) (they name it in `followedBy`, so it comes
/// with them even under `--only`). The rebuilt images are journaled like any file: a rollback
/// puts the old ones back. On a root other than the running system's, the clone's builder is run
/// chrooted only with `--allow-exec`; otherwise the plan says how to rebuild.
public struct InitramfsTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        /// The component's directories the root lacks, parents first.
        let directories: [String]
        let writes: [(path: String, contents: String, mode: UInt32)]
        /// The component's files once nothing is pending, a directory after its contents.
        let removals: [String]
        let rebuild: Bool
        let builder: String?
    }

    public let name = "initramfs"
    public let summary = "Install the initramfs component while an identity waits for the next boot, and rebuild the initramfs after a change to a file it embeds"
    public let runsAfter = ["fs-uuids", "partition-table-ids"]
    public let expectedCost = TaskCost.medium

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        var changed: [String] = []
        for path in InitramfsComponent.inputs where try context.plannedText(path) != context.root.readText(path) { changed.append(path) }
        guard !changed.isEmpty else { return .skip("no file the initramfs embeds changes in this run") }
        let builder = try InitramfsComponent.builder(in: context.root)
        let pending = try InitramfsComponent.pendingLists.contains { try context.plannedText($0.path) != nil }

        var changes: [Change] = []
        var directories: [String] = []
        var writes: [(path: String, contents: String, mode: UInt32)] = []
        var removals: [String] = []
        if pending {
            // A root that shows neither tool is taken for initramfs-tools' (an unpacked root may
            // lack /usr/sbin); the fs-uuids plan has said why a builder is needed.
            for file in InitramfsComponent.files(for: builder ?? "update-initramfs") where try context.root.readText(file.path) != file.contents {
                writes.append(file)
            }
            directories = try context.root.missingDirectories(for: writes.map(\.path))
            changes += directories.map {
                Change(path: $0, action: "create-directory", old: nil, new: "initramfs component", undo: .restorePath(followingSymlinks: false))
            }
            for write in writes {
                let exists = try context.root.status(of: write.path) != nil
                changes.append(Change(path: write.path, action: exists ? "write" : "create", old: exists ? "an older initramfs component" : nil,
                                      new: "initramfs component", undo: .restorePath(followingSymlinks: false)))
            }
        } else {
            removals = try InitramfsComponent.installedPaths.filter { try context.root.status(of: $0) != nil }
            changes += removals.map {
                Change(path: $0, action: "delete", old: "initramfs component", new: nil, undo: .restorePath(followingSymlinks: false))
            }
        }
        var notes: [String] = []
        let mayRun = context.root.isLiveSystem || context.options.allowExec
        if let note = try InitramfsComponent.rebuildNote(changed: changed, in: context.root, mayRun: mayRun) {
            notes.append(note)
        } else {
            changes += try InitramfsComponent.rebuilds(in: context.root)
        }
        guard !changes.isEmpty else { return .skip("nothing to install or rebuild", notes: notes) }
        return TaskPlan(changes: changes, decision: Decision(directories: directories, writes: writes, removals: removals,
                                                             rebuild: mayRun, builder: builder),
                        notes: notes)
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        var index = 0
        for directory in decision.directories {
            try context.root.makeDirectory(directory, attributes: FileAttributes(mode: 0o755))
            try context.changeApplied(index)
            index += 1
        }
        let writes = decision.writes.map {
            RootDirectory.FileWrite(path: $0.path, contents: Array($0.contents.utf8), attributes: FileAttributes(mode: $0.mode))
        }
        let start = index
        try context.root.writeFilesAtomically(writes) { offset in try context.changeApplied(start + offset) }
        index += writes.count
        for path in decision.removals {
            if try context.root.status(of: path)?.kind == .directory {
                try context.root.removeEmptyDirectory(path)
            } else {
                try context.root.removeFile(path)
            }
            try context.changeApplied(index)
            index += 1
        }
        guard decision.rebuild else { return }
        let (program, arguments) = try InitramfsComponent.rebuildCommand(builder: decision.builder, in: context.root)
        let output = try program.run(arguments).check()
        context.notice("Rebuilt the initramfs: \(output.output.split(whereSeparator: \.isNewline).last ?? "")")
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for write in decision.writes where try context.root.readText(write.path) != write.contents {
            throw VerificationError("\(write.path) does not hold the initramfs component")
        }
        for path in decision.removals where try context.root.status(of: path) != nil {
            throw VerificationError("\(path) is still there")
        }
    }
}
