/// The dracut module that sets a running clone's own filesystem UUIDs at the next boot
/// (`NextBootUUIDs`, step 2, on a clone whose initramfs dracut builds).
///
/// What dracut does, and why the module is built this way (dracut 059, systemd 252–256):
/// - `dracut-pre-mount.service` runs the `pre-mount` hooks after `dracut-initqueue.service` and
///   `cryptsetup.target` (LVM is active and LUKS open by then: too late for PV, VG or LUKS
///   identities) and before `sysroot.mount` and `systemd-fsck-root.service`: every filesystem is
///   still unmounted. The hooks are *sourced* by `dracut-pre-mount.sh`, so the hook never exits.
/// - For `root=UUID=OLD`, dracut's `rootfs-generator.sh` makes the initqueue wait for
///   `/dev/disk/by-uuid/OLD` and `initrd.target` want its device unit; systemd's fstab-generator
///   writes `sysroot.mount` with `What=/dev/disk/by-uuid/OLD` and, in the initrd, its own
///   `systemd-fsck-root.service` with `BindsTo=` that device unit (`write_fsck_sysroot_service`).
///   systemd's device units follow udev's database (a device's `DEVLINKS`), not /dev: once the
///   UUID changes and udev sees it, a link made by hand would still let `mount` work, but the
///   device unit of the old name would go, and the fsck unit bound to it (which `sysroot.mount`
///   requires) would fail. So a udev rule (made by `module-setup.sh` from the pending list) gives a device with the new UUID the
///   old by-uuid name *as well*, for as long as the module is in the initramfs: the units keep
///   their device, with no unit rewritten and no daemon-reload while the boot is under way. A boot
///   interrupted before step 3 (the boot loader still naming the old UUID) boots the same way.
/// - LVM identities are set earlier, by an initqueue job (`NextBootVolumeGroups`).
/// - dracut has no `conf/param.conf`; nothing needs one: a `root=/dev/mapper/VG-LV` root (RHEL's
///   default) does not name the filesystem's UUID at all, and `root=UUID=OLD` keeps working
///   through the rule.
/// - swap and /boot are used only by the real root's systemd, from the fstab step 1 rewrote to
///   the new UUIDs: they only need their UUIDs set before the switch-root.
/// - XFS refuses a UUID change while its log holds changes: the hook replays the log by mounting
///   the filesystem read-write in the initramfs and unmounting it, never with `xfs_repair -L`
///   (which discards the log) and never with `nouuid`.
public enum DracutNextBootModule {
    /// dracut reads modules only from its own directory; the module is `sanitize-clone`.
    public static let directory = "/usr/lib/dracut/modules.d/95sanitize-clone"
    public static let setupFile = directory + "/module-setup.sh"
    public static let hookFile = directory + "/sanitize-clone-uuids.sh"
    static let rulesFile = directory + "/61-sanitize-clone-uuids.rules"
    /// The initqueue job that sets the partition table's and LVM's identities (`job`).
    public static let jobFile = directory + "/sanitize-clone-settled.sh"
    /// Adds the module to every initramfs dracut builds while the change is pending.
    public static let dropInFile = "/etc/dracut.conf.d/90-sanitize-clone.conf"

    /// The filesystem types the hook sets.
    static let types: Set<String> = ["ext2", "ext3", "ext4", "xfs", "swap", "vfat", StorageIdentityUndo.lvmType]

    /// The module's files and the drop-in, with their modes (`InitramfsComponent`).
    static let files: [(path: String, contents: String, mode: UInt32)] = [
        (setupFile, moduleSetup, 0o755), (hookFile, hook, 0o755), (jobFile, job, 0o755),
        (dropInFile, dropIn, 0o644),
    ]

    /// What the component's removal removes, the directory last (`rulesFile`: what versions
    /// before 0.9 installed beside the module).
    static let installedPaths = [setupFile, hookFile, jobFile, rulesFile, dropInFile, directory]

    /// The drop-in that adds the module.
    public static let dropIn = """
        # Installed by sanitize-clone (removed again once the identities it waits for are set).
        add_dracutmodules+=" sanitize-clone "

        """

    /// Where module-setup.sh puts the udev rule in the initramfs.
    static let rulesInInitramfs = "/etc/udev/rules.d/61-sanitize-clone-uuids.rules"

    /// module-setup.sh: dracut calls `check`, `installkernel` and `install` when it builds.
    public static let moduleSetup = """
        #!/bin/bash
        # Installed by sanitize-clone (removed again once the identities it waits for are set): puts
        # the tools that set them, the list of identities to set, a pre-mount hook, an initqueue job
        # and a udev rule into the initramfs. Does nothing while no list is pending.

        # Only when added by name (\(dropInFile)).
        check() {
            return 255
        }

        depends() {
            return 0
        }

        # The hook mounts an XFS filesystem to replay its log: its driver is needed even when the
        # initramfs is built for this host only.
        installkernel() {
            if grep -q '^xfs ' "${dracutsysrootdir-}\(NextBootUUIDs.pendingFile)" 2>/dev/null; then
                hostonly='' instmods xfs
            fi
        }

        install() {
            local pending="${dracutsysrootdir-}\(NextBootUUIDs.pendingFile)"
            local tables="${dracutsysrootdir-}\(NextBootPartitionTables.pendingFile)"
            [ -r "$pending" ] || [ -r "$tables" ] || return 0
            [ -r "$pending" ] && inst_simple \(NextBootUUIDs.pendingFile)
            [ -r "$tables" ] && inst_simple \(NextBootPartitionTables.pendingFile)
            # xfs_admin is a shell script around xfs_db (and expr).
            inst_multiple -o blkid e2fsck tune2fs xfs_admin xfs_db expr swaplabel fatlabel udevadm mount umount mkdir
            sanitize_clone_rules "$pending" "$tables" "${initdir}\(rulesInInitramfs)"
            inst_hook pre-mount 10 "$moddir/sanitize-clone-uuids.sh"
            # The partition table's and LVM's identities: a settled job sorting before lvm_scan's
            # (see NextBootPartitionTables, NextBootVolumeGroups).
            if [ -r "$tables" ] || grep -q '^\(StorageIdentityUndo.lvmType) ' "$pending" 2>/dev/null; then
                inst_multiple -o lvm grep sed rm tr cat readlink sfdisk blockdev sleep
                inst_hook initqueue/settled 00 "$moddir/sanitize-clone-settled.sh"
            fi
        }

        # The udev rule that keeps the old by-uuid name on a device that has its new UUID, for the
        # boots this initramfs makes (after 60-persistent-storage.rules and 13-dm-disk.rules, which
        # set ID_FS_UUID), and the old by-partuuid name on a partition that has its new GUID: one
        # line per filesystem and GPT partition in the lists; a value that is not plain hex digits
        # and dashes gets none.
        sanitize_clone_rules() {
            local type old new rest
            mkdir -p "${3%/*}" || return 1
            {
                echo "# Made by sanitize-clone's dracut module for the boots that set new filesystem UUIDs: a device"
                echo "# with its new UUID keeps its old /dev/disk/by-uuid/ name too, which the kernel command line and"
                echo "# the units made from it (sysroot.mount, systemd-fsck-root.service) still name."
                [ -r "$1" ] && while read -r type old new rest; do
                    case "$type" in ''|'#'*|\(StorageIdentityUndo.lvmType)) continue ;; esac
                    case "$old:$new" in *[!0-9A-Fa-f:-]*|:*|*:) continue ;; esac
                    printf 'ACTION!="remove", SUBSYSTEM=="block", ENV{ID_FS_UUID}=="%s", SYMLINK+="disk/by-uuid/%s"\\n' "$new" "$old"
                done < "$1"
                [ -r "$2" ] && while read -r type old new rest; do
                    [ "$type" = gpt-partition ] || continue
                    case "$old:$new" in *[!0-9A-Fa-f:-]*|:*|*:) continue ;; esac
                    printf 'ACTION!="remove", SUBSYSTEM=="block", ENV{ID_PART_ENTRY_UUID}=="%s", SYMLINK+="disk/by-partuuid/%s"\\n' "$(echo "$new" | tr 'A-F' 'a-f')" "$old"
                done < "$2"
            } > "$3"
        }

        """

    /// The pre-mount hook: sets every pending UUID while nothing is mounted and logs every step to
    /// /run/sanitize-clone-uuids.log (kept in the booted system's /run), which the boot service
    /// reads. dracut sources it: it keeps its names to itself and never exits.
    public static let hook = """
        #!/bin/sh
        # Installed by sanitize-clone (removed again once the new filesystem UUIDs are set).
        # Sourced by dracut-pre-mount before sysroot.mount: sets each pending filesystem UUID.
        _sanitize_clone_xfs() {
            # xfs_admin refuses while the log holds changes: replay it by mounting read-write and
            # unmounting (never xfs_repair -L, which discards the log; never nouuid).
            xfs_admin -U "$_sc_new" "$_sc_device" >> "$_sc_log" 2>&1
            [ "$(blkid -p -s UUID -o value "$_sc_device" 2>/dev/null)" = "$_sc_new" ] && return 0
            echo "replaying the log of $_sc_device" >> "$_sc_log"
            mkdir -p "$_sc_replay"
            if mount -t xfs -o rw "$_sc_device" "$_sc_replay" >> "$_sc_log" 2>&1; then
                umount "$_sc_replay" >> "$_sc_log" 2>&1 && xfs_admin -U "$_sc_new" "$_sc_device" >> "$_sc_log" 2>&1
            fi
        }

        _sanitize_clone_uuids() {
            _sc_pending="${SANITIZE_CLONE_PENDING:-\(NextBootUUIDs.pendingFile)}"
            _sc_log="${SANITIZE_CLONE_LOG:-/run/sanitize-clone-uuids.log}"
            _sc_replay="${SANITIZE_CLONE_REPLAY:-/run/sanitize-clone-xfs-replay}"
            [ -r "$_sc_pending" ] || return 0
            while read -r _sc_type _sc_old _sc_new; do
                case "$_sc_type" in ''|'#'*|\(StorageIdentityUndo.lvmType)) continue ;; esac
                _sc_device=$(blkid -c /dev/null -l -o device -t UUID="$_sc_old" 2>/dev/null)
                if [ -z "$_sc_device" ]; then
                    if [ -n "$(blkid -c /dev/null -l -o device -t UUID="$_sc_new" 2>/dev/null)" ]; then
                        echo "done $_sc_type $_sc_old $_sc_new (already set)" >> "$_sc_log"
                    else
                        echo "missing $_sc_type $_sc_old $_sc_new (no device has either UUID)" >> "$_sc_log"
                    fi
                    continue
                fi
                case "$_sc_type" in
                ext2|ext3|ext4) e2fsck -f -p "$_sc_device" >> "$_sc_log" 2>&1; tune2fs -U "$_sc_new" "$_sc_device" >> "$_sc_log" 2>&1 ;;
                xfs) _sanitize_clone_xfs ;;
                swap) swaplabel -U "$_sc_new" "$_sc_device" >> "$_sc_log" 2>&1 ;;
                vfat) fatlabel -i "$_sc_device" "$(echo "$_sc_new" | tr -d -)" >> "$_sc_log" 2>&1 ;;
                *) echo "skipped $_sc_type $_sc_old $_sc_new (type not handled here)" >> "$_sc_log"; continue ;;
                esac
                if [ "$(blkid -p -s UUID -o value "$_sc_device" 2>/dev/null)" = "$_sc_new" ]; then
                    echo "done $_sc_type $_sc_old $_sc_new $_sc_device" >> "$_sc_log"
                else
                    echo "failed $_sc_type $_sc_old $_sc_new $_sc_device" >> "$_sc_log"
                fi
            done < "$_sc_pending"
            # In the initramfs (not when tested on a host): let udev see the new UUIDs, so the
            # by-uuid names of both are there before sysroot.mount starts.
            if [ -f /lib/dracut-lib.sh ] && command -v udevadm > /dev/null 2>&1; then
                udevadm trigger --action=change --subsystem-match=block > /dev/null 2>&1
                udevadm settle --timeout=10 > /dev/null 2>&1
            fi
        }

        _sanitize_clone_uuids
        unset -f _sanitize_clone_uuids _sanitize_clone_xfs
        unset _sc_pending _sc_log _sc_replay _sc_type _sc_old _sc_new _sc_device

        """

    /// The initqueue "settled" job (sourced on every pass of the initqueue's loop, before
    /// lvm_scan): the partition table's new identifiers, then the LVM physical volume's.
    public static let job = """
        #!/bin/sh
        # Installed by sanitize-clone (removed again once the identities it waits for are set).
        # Sourced by the initqueue before lvm_scan: gives the clone's partition table and LVM
        # physical volume their new identifiers before anything uses the disk.
        \(NextBootPartitionTables.function)
        \(NextBootVolumeGroups.function)
        _sanitize_clone_tables "${SANITIZE_CLONE_TABLES:-\(NextBootPartitionTables.pendingFile)}"
        _sanitize_clone_lvm \(NextBootUUIDs.pendingFile)
        unset -f _sanitize_clone_tables _sanitize_clone_disk _sanitize_clone_reread _sanitize_clone_lvm

        """
}
