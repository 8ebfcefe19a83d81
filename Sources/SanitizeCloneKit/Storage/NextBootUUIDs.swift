/// The next-boot path for a running clone's own filesystems: their UUIDs can only change before
/// they are mounted, so the run leaves them to the clone's initramfs, built by initramfs-tools or
/// by dracut (`DracutNextBootModule`).
///
/// 1. The run (`fs-uuids` on the running system) picks the new UUIDs, rewrites the references read
///    after the initramfs (fstab, crypttab, `resume`) and writes `pendingFile`; the `initramfs`
///    task then installs the component that puts the tools and the pending list into the
///    initramfs (`InitramfsComponent` — initramfs-tools: `hookFile`, `scriptFile` (a `local-top`
///    script) and `premountScriptFile`; dracut: the module `95sanitize-clone` and the drop-in
///    that adds it) and rebuilds the initramfs. The boot loader's references stay as they are:
///    GRUB still finds the old UUIDs at the next boot.
/// 2. At the next boot the initramfs sets each new UUID before anything is mounted. With
///    initramfs-tools the script points `ROOT` (and `RESUME`) at the new root UUID through
///    `/conf/param.conf`, which the initramfs reads again after every script; with dracut a udev
///    rule keeps the old `/dev/disk/by-uuid/` name on the device for this boot (see
///    `DracutNextBootModule`).
/// 3. The boot service then finishes: the boot loader's references (grub.cfg, the EFI stub, BLS
///    entries, the kernel command line, GRUB's defaults) are rewritten and the pending list
///    removed; the `initramfs` task removes the component (no list is left) and rebuilds the
///    initramfs without it.
public enum NextBootUUIDs {
    /// `TYPE OLD NEW` per line.
    public static let pendingFile = "/etc/sanitize-clone/next-boot-uuids"
    public static let hookFile = "/etc/initramfs-tools/hooks/sanitize-clone-uuids"
    public static let scriptFile = "/etc/initramfs-tools/scripts/local-top/sanitize-clone-uuids"
    /// The init-premount script (`InitramfsComponent.premountScript`): the partition table and
    /// LVM identities, set before the local-top scripts look for the root.
    public static let premountScriptFile = "/etc/initramfs-tools/scripts/init-premount/sanitize-clone"
    /// Where the pending list is inside the initramfs.
    static let pendingInInitramfs = "/conf/sanitize-clone-uuids"

    /// The filesystem types the script can change (LUKS is opened by cryptroot before it runs),
    /// with the tool the clone must have for each (/sbin is /usr/sbin on a merged /usr, and a
    /// RHEL-like guest has only the latter).
    static let tools: [String: [String]] = [
        "ext2": ["/sbin/tune2fs", "/usr/sbin/tune2fs"], "ext3": ["/sbin/tune2fs", "/usr/sbin/tune2fs"],
        "ext4": ["/sbin/tune2fs", "/usr/sbin/tune2fs"], "xfs": ["/usr/sbin/xfs_admin"],
        "btrfs": ["/bin/btrfstune", "/usr/bin/btrfstune"], "swap": ["/sbin/swaplabel", "/usr/sbin/swaplabel"],
        "vfat": ["/sbin/fatlabel", "/usr/sbin/fatlabel"],
        StorageIdentityUndo.lvmType: ["/sbin/lvm", "/usr/sbin/lvm"],
    ]
    /// The package that installs each type's tool (Debian's name), for the messages.
    static let packages: [String: String] = [
        "ext2": "e2fsprogs", "ext3": "e2fsprogs", "ext4": "e2fsprogs", "xfs": "xfsprogs", "btrfs": "btrfs-progs",
        "swap": "util-linux", "vfat": "dosfstools", StorageIdentityUndo.lvmType: "lvm2",
    ]

    /// Why `root` cannot take the next-boot path for `type`, or nil when it can.
    static func obstacle(for type: String, in root: RootDirectory) throws -> String? {
        guard let candidates = tools[type] else { return "there is no next-boot path for \(type)" }
        switch try InitramfsComponent.builder(in: root) {
        case "update-initramfs": break
        case "dracut":
            // btrfs is left out: the kernel keeps the fsid it registered at the udev scan.
            guard DracutNextBootModule.types.contains(type) else {
                return "the clone builds its initramfs with dracut, whose next-boot path sets ext2/3/4, XFS, swap and vfat UUIDs and LVM identities, not \(type)"
            }
        default: return "the clone has neither initramfs-tools nor dracut"
        }
        for tool in candidates where try root.followedStatus(of: tool) != nil { return nil }
        return "the clone lacks \(candidates[0])\(packages[type].map { " (install \($0) in it)" } ?? "") to set it at boot"
    }

    /// Files read by the boot loader, rewritten only once the UUIDs are set (step 3).
    static func isBootLoaderFile(_ path: String) -> Bool {
        path.hasSuffix("grub.cfg") || path.hasPrefix("/boot/loader/") || path.hasPrefix("/efi/loader/")
            || path.hasPrefix("/boot/efi/loader/") || path == "/etc/kernel/cmdline" || path.hasPrefix("/etc/default/grub")
    }

    /// One pending change: a filesystem's UUID, or an LVM physical volume's PV UUID with its
    /// volume group's UUID (type `LVM2_member`, `oldGroup` and `newGroup` set).
    public struct Change: Sendable, Equatable {
        public let type: String
        public let old: String
        public let new: String
        public var oldGroup: String? = nil
        public var newGroup: String? = nil
    }

    /// The pending list's text: `TYPE OLD NEW`, and `LVM2_member OLDPV NEWPV OLDVG NEWVG`.
    static func text(_ changes: [Change]) -> String {
        "# sanitize-clone: identities the initramfs sets at the next boot (TYPE OLD NEW, LVM2_member OLDPV NEWPV OLDVG NEWVG)\n"
            + changes.map { change in
                let group = change.oldGroup.flatMap { old in change.newGroup.map { " \(old) \($0)" } } ?? ""
                return "\(change.type) \(change.old) \(change.new)\(group)\n"
            }.joined()
    }

    /// The pending changes recorded in `root`, or nil when there are none.
    public static func pending(in root: RootDirectory) throws -> [Change]? {
        guard let text = try root.readText(pendingFile) else { return nil }
        return text.split(whereSeparator: \.isNewline).compactMap { line -> Change? in
            let fields = line.split(separator: " ").map(String.init)
            guard !line.hasPrefix("#") else { return nil }
            if fields.count == 5, fields[0] == StorageIdentityUndo.lvmType {
                return Change(type: fields[0], old: fields[1], new: fields[2], oldGroup: fields[3], newGroup: fields[4])
            }
            guard fields.count == 3 else { return nil }
            return Change(type: fields[0], old: fields[1], new: fields[2])
        }
    }

    /// The initramfs-tools hook: the tools and the pending list go into the initramfs.
    public static let hook = """
        #!/bin/sh
        # Installed by sanitize-clone (removed again once the identities it waits for are set): puts
        # the tools that set them, and the list of identities to set, into the initramfs.
        \(InitramfsComponent.prereqsPreamble)
        [ -r \(pendingFile) ] || [ -r \(NextBootPartitionTables.pendingFile) ] || exit 0
        . /usr/share/initramfs-tools/hook-functions
        for tool in /sbin/blkid /sbin/e2fsck /sbin/tune2fs /sbin/swaplabel /usr/sbin/xfs_db /sbin/fatlabel /bin/btrfstune /usr/bin/btrfstune /sbin/lvm /sbin/sfdisk /usr/sbin/sfdisk /sbin/blockdev /usr/sbin/blockdev; do
        \t[ -x "$tool" ] && copy_exec "$tool"
        done
        # xfs_admin is a shell script around xfs_db.
        [ -x /usr/sbin/xfs_admin ] && copy_file script /usr/sbin/xfs_admin /usr/sbin/xfs_admin
        mkdir -p "$DESTDIR/conf"
        [ -r \(pendingFile) ] && cp \(pendingFile) "$DESTDIR\(pendingInInitramfs)"
        [ -r \(NextBootPartitionTables.pendingFile) ] && cp \(NextBootPartitionTables.pendingFile) "$DESTDIR\(NextBootPartitionTables.pendingInInitramfs)"
        exit 0

        """

    /// The local-top script: sets every pending UUID before anything is mounted, and points ROOT
    /// and RESUME at the new UUIDs. Every step is logged to /run/sanitize-clone-uuids.log (kept
    /// in the booted system's /run), which the boot service reads.
    public static let script = """
        #!/bin/sh
        # Installed by sanitize-clone (removed again once the new filesystem UUIDs are set).
        \(InitramfsComponent.prereqsPreamble)
        pending="${SANITIZE_CLONE_PENDING:-\(pendingInInitramfs)}"
        params="${SANITIZE_CLONE_PARAMS:-/conf/param.conf}"
        log="${SANITIZE_CLONE_LOG:-/run/sanitize-clone-uuids.log}"
        [ -r "$pending" ] || exit 0
        # Inside the initramfs (not when tested on a host): udev has the devices.
        initramfs=no
        if [ -r /scripts/functions ]; then
        \tinitramfs=yes
        \t. /scripts/functions
        \twait_for_udev 10
        fi
        while read -r type old new; do
        \tcase "$type" in ''|'#'*|\(StorageIdentityUndo.lvmType)) continue ;; esac
        \tdevice=$(blkid -c /dev/null -l -o device -t UUID="$old" 2>/dev/null)
        \tif [ -z "$device" ]; then
        \t\tif [ -n "$(blkid -c /dev/null -l -o device -t UUID="$new" 2>/dev/null)" ]; then
        \t\t\techo "done $type $old $new (already set)" >> "$log"
        \t\telse
        \t\t\techo "missing $type $old $new (no device has either UUID)" >> "$log"
        \t\tfi
        \t\tcontinue
        \tfi
        \tcase "$type" in
        \text2|ext3|ext4) e2fsck -f -p "$device" >> "$log" 2>&1; tune2fs -U "$new" "$device" >> "$log" 2>&1 ;;
        \txfs) xfs_admin -U "$new" "$device" >> "$log" 2>&1 ;;
        \tbtrfs) btrfstune -f -M "$new" "$device" >> "$log" 2>&1 ;;
        \tswap) swaplabel -U "$new" "$device" >> "$log" 2>&1 ;;
        \tvfat) fatlabel -i "$device" "$(echo "$new" | tr -d -)" >> "$log" 2>&1 ;;
        \t*) echo "skipped $type $old $new (type not handled here)" >> "$log"; continue ;;
        \tesac
        \tif [ "$(blkid -p -s UUID -o value "$device" 2>/dev/null)" = "$new" ]; then
        \t\techo "done $type $old $new $device" >> "$log"
        \t\tcase "$ROOT" in "UUID=$old"|"/dev/disk/by-uuid/$old") echo "ROOT=UUID=$new" >> "$params" ;; esac
        \t\tcase "$RESUME" in "UUID=$old"|"/dev/disk/by-uuid/$old") echo "RESUME=UUID=$new" >> "$params" ;; esac
        \telse
        \t\techo "failed $type $old $new $device" >> "$log"
        \tfi
        done < "$pending"
        # initramfs-tools finds the root with `blkid -l -t UUID=…`, which trusts blkid's cache: a
        # cache that still holds the old UUIDs would hide the new ones (never use it above either).
        # (Emptied, not removed: a minimal initramfs has no rm.)
        for cache in /run/blkid/blkid.tab /run/blkid/blkid.tab.old /etc/blkid.tab; do
        \t[ -s "$cache" ] && : > "$cache"
        done
        # Let udev see the new UUIDs (/dev/disk/by-uuid) before the root is looked for.
        if [ "$initramfs" = yes ] && command -v udevadm >/dev/null 2>&1; then
        \tudevadm trigger --action=change --subsystem-match=block >/dev/null 2>&1
        \tudevadm settle --timeout=10 >/dev/null 2>&1
        fi
        exit 0

        """
}
