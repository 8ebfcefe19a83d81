/// sanitize-clone's part of a clone's initramfs: one component per initramfs builder
/// (initramfs-tools, dracut) for every identity that can only change before the root is used.
///
/// A task that leaves work to the next boot writes its own pending list (`pendingLists`: today
/// the filesystem and LVM identities of `NextBootUUIDs`). The `initramfs` task (`InitramfsTask`)
/// then installs the component while a list is pending, removes it once none is left, and
/// rebuilds the initramfs whenever a file the initramfs embeds changed. The component's files are
/// the same on every clone and for every list: what they do at boot depends only on the pending
/// lists the initramfs was built with (none: they do nothing).
///
/// - initramfs-tools: a hook (copies the tools and the lists), an `init-premount` script (the
///   partition table, `NextBootPartitionTables`, then LVM identities, `NextBootVolumeGroups`) and
///   a `local-top` script (filesystem UUIDs).
/// - dracut: the module `95sanitize-clone` (`DracutNextBootModule`: its `module-setup.sh` makes
///   the udev rule from the list when dracut builds), and the drop-in that adds it.
public enum InitramfsComponent {
    /// The pending lists the component's scripts read, each with the task that writes it and
    /// finishes it at the boot after (`AutoRun` runs those first).
    public static let pendingLists = [(path: NextBootUUIDs.pendingFile, task: "fs-uuids"),
                                      (path: NextBootPartitionTables.pendingFile, task: "partition-table-ids")]

    /// The tasks whose lists are pending in `root`.
    public static func pendingTasks(in root: RootDirectory) throws -> [String] {
        try pendingLists.filter { try root.regularFileStatus(of: $0.path) != nil }.map(\.task)
    }

    /// Configuration files the initramfs embeds that a task may rewrite: a change to one needs a
    /// rebuild too.
    static let embeddedConfiguration = ["/etc/crypttab", "/etc/initramfs-tools/conf.d/resume", "/etc/uswsusp.conf"]

    /// Every file whose change needs a rebuild.
    static var inputs: [String] { pendingLists.map(\.path) + embeddedConfiguration }

    /// The tool that builds the root's initramfs: "update-initramfs" (initramfs-tools), "dracut",
    /// or nil when it has neither.
    static func builder(in root: RootDirectory) throws -> String? {
        if try root.followedStatus(of: "/usr/sbin/update-initramfs") != nil { return "update-initramfs" }
        for path in ["/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut"] where try root.followedStatus(of: path) != nil { return "dracut" }
        return nil
    }

    /// The component's files for `builder` ("update-initramfs" or "dracut"), with their modes.
    static func files(for builder: String) -> [(path: String, contents: String, mode: UInt32)] {
        guard builder == "dracut" else {
            return [(NextBootUUIDs.hookFile, NextBootUUIDs.hook, 0o755), (NextBootUUIDs.scriptFile, NextBootUUIDs.script, 0o755),
                    (NextBootUUIDs.premountScriptFile, premountScript, 0o755)]
        }
        return DracutNextBootModule.files
    }

    /// Everything either builder's component may have installed, in the order of removal (a
    /// directory after what it holds; the rule file older versions installed included).
    static let installedPaths = [NextBootUUIDs.hookFile, NextBootUUIDs.scriptFile, NextBootUUIDs.premountScriptFile]
        + DracutNextBootModule.installedPaths

    /// One rebuild change per initramfs in /boot: `initrd.img-VERSION` (Debian's name, dracut's
    /// too there) or `initramfs-VERSION.img` (dracut on RHEL and Fedora; not the rescue image).
    /// The image is journaled like any file: a rollback puts the old one back.
    static func rebuilds(in root: RootDirectory) throws -> [Change] {
        let command = try builder(in: root) == "dracut" ? "dracut --force --regenerate-all" : "update-initramfs -u"
        return try root.directoryEntries("/boot").sorted().filter {
            $0.hasPrefix("initrd.img-") || ($0.hasPrefix("initramfs-") && $0.hasSuffix(".img") && !$0.contains("-rescue-") && !$0.hasSuffix("kdump.img"))
        }.map {
            Change(path: "/boot/\($0)", action: "rebuild", old: nil, new: command)
        }
    }

    /// The command that rebuilds every initramfs of the root with its own builder: the running
    /// system's tool (the service may not chroot); a root's, chrooted. dracut in a chroot is
    /// told not to build for "this host", which would be the build host.
    static func rebuildCommand(builder: String?, in root: RootDirectory) throws -> (Program, [String]) {
        if builder == "dracut" {
            guard !root.isLiveSystem else { return (try Program.find("dracut", package: "dracut"), ["--force", "--regenerate-all"]) }
            let (chroot, arguments) = try Program.chrooted(into: root, program: "dracut")
            return (chroot, arguments + ["--force", "--regenerate-all", "--no-hostonly"])
        }
        guard !root.isLiveSystem else { return (try Program.find("update-initramfs", package: "initramfs-tools"), ["-u", "-k", "all"]) }
        let (chroot, arguments) = try Program.chrooted(into: root, program: "update-initramfs")
        return (chroot, arguments + ["-u", "-k", "all"])
    }

    /// The note when the initramfs embeds a changed file (`changed`) and this run may not rebuild
    /// it (a root other than the running system's, without `--allow-exec`), naming the clone's
    /// own tool; nil when it may.
    static func rebuildNote(changed: [String], in root: RootDirectory, mayRun: Bool) throws -> String? {
        guard !mayRun else { return nil }
        let what = "the initramfs embeds \(changed.joined(separator: ", ")), which this run changes"
        // A root that shows neither tool is taken for initramfs-tools' (an unpacked root may lack
        // /usr/sbin), as before.
        if try builder(in: root) == "dracut" {
            return "\(what): rebuild it in the clone with 'dracut --force --regenerate-all', or run again with --allow-exec"
        }
        return "\(what): run update-initramfs -u in the clone, or run again with --allow-exec"
    }

    /// What every initramfs-tools hook and script begins with: it answers `prereqs` (none).
    static let prereqsPreamble = """
        PREREQ=""
        prereqs() { echo "$PREREQ"; }
        case "$1" in
        prereqs) prereqs; exit 0 ;;
        esac
        """

    /// initramfs-tools' init-premount script: udev has activated the volume groups it found at
    /// coldplug (lvm2's 69-lvm.rules, without systemd), and nothing is mounted. When a partition
    /// table change is pending, every VG is deactivated first (the kernel reads a table again only
    /// while no partition is in use) and activated again at the end, as udev had.
    static let premountScript = """
        #!/bin/sh
        # Installed by sanitize-clone (removed again once the identities it waits for are set):
        # gives the clone's partition table and LVM physical volume their new identifiers before
        # the root is looked for. Does nothing when no list names one.
        \(prereqsPreamble)
        uuids="${SANITIZE_CLONE_PENDING:-\(NextBootUUIDs.pendingInInitramfs)}"
        tables="${SANITIZE_CLONE_TABLES:-\(NextBootPartitionTables.pendingInInitramfs)}"
        params="${SANITIZE_CLONE_PARAMS:-/conf/param.conf}"
        lvm=no tables_pending=no
        grep -q '^\(StorageIdentityUndo.lvmType) ' "$uuids" 2>/dev/null && lvm=yes
        grep -q -e '^gpt-' -e '^mbr-' "$tables" 2>/dev/null && tables_pending=yes
        [ "$lvm" = yes ] || [ "$tables_pending" = yes ] || exit 0
        if [ -r /scripts/functions ]; then
        \t. /scripts/functions
        \twait_for_udev 10
        fi
        reactivate=no
        if [ "$tables_pending" = yes ] && command -v lvm > /dev/null 2>&1 && [ -z "${SANITIZE_CLONE_TABLES_WORK:-}" ]; then
        \tlvm vgchange -an >> "${SANITIZE_CLONE_LOG:-/run/sanitize-clone-uuids.log}" 2>&1 && reactivate=yes
        fi
        \(NextBootPartitionTables.function)
        \(NextBootVolumeGroups.function)
        _sanitize_clone_tables "$tables" "$params"
        _sanitize_clone_lvm "$uuids"
        [ "$reactivate" = yes ] && lvm vgchange -aay >> "${SANITIZE_CLONE_LOG:-/run/sanitize-clone-uuids.log}" 2>&1
        exit 0

        """
}
