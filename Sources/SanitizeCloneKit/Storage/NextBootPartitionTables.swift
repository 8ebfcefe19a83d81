/// The next-boot path for a running clone's own partition table: a new GPT disk GUID and
/// partition GUIDs (or MBR disk identifier), set in the initramfs before anything uses the disk.
///
/// The kernel learns a partition's GUID only by reading the table (`BLKRRPART`), which it refuses
/// while a partition is in use — and a running clone uses its disk. So `partition-table-ids` on a
/// running clone writes `pendingFile` (`gpt-disk OLD NEW`, `gpt-partition OLD NEW`, `mbr-disk OLD
/// NEW`; OLD as blkid prints it, NEW as sfdisk takes it) and the initramfs component
/// (`InitramfsComponent`) sets them with the clone's sfdisk (`--no-reread`), then has the kernel
/// read the table again (`blockdev --rereadpt`); when it cannot (a partition is in use), the old
/// value is written back and the step logged `failed`, so the kernel, the table and the references
/// never disagree. Everything is logged to the log `NextBootUUIDs` uses.
///
/// Where it runs: before the LVM job (`NextBootVolumeGroups`), in dracut's initqueue job (before
/// `lvm_scan` activates anything) and in initramfs-tools' init-premount script (which deactivates
/// the volume groups udev activated, around both).
public enum NextBootPartitionTables {
    /// `TYPE OLD NEW` per line.
    public static let pendingFile = "/etc/sanitize-clone/next-boot-partition-tables"
    /// Where the list is inside an initramfs-tools initramfs.
    static let pendingInInitramfs = "/conf/sanitize-clone-partition-tables"

    /// One pending change.
    public struct Change: Sendable, Equatable {
        /// "gpt-disk", "gpt-partition" or "mbr-disk".
        public let type: String
        /// As blkid prints it (PTUUID, PARTUUID): lower case, an MBR identifier without `0x`.
        public let old: String
        /// As sfdisk takes it: a GUID, or `0x` and 8 hex digits.
        public let new: String

        /// The new value as blkid will print it.
        var newAsBlkidPrintsIt: String {
            (new.lowercased().hasPrefix("0x") ? String(new.dropFirst(2)) : new).lowercased()
        }
    }

    static let types: Set<String> = ["gpt-disk", "gpt-partition", "mbr-disk"]

    /// The list's text.
    static func text(_ changes: [Change]) -> String {
        "# sanitize-clone: partition table identifiers the initramfs sets at the next boot (TYPE OLD NEW)\n"
            + changes.map { "\($0.type) \($0.old) \($0.new)\n" }.joined()
    }

    /// The pending changes recorded in `root`, or nil when there are none.
    public static func pending(in root: RootDirectory) throws -> [Change]? {
        guard let text = try root.readText(pendingFile) else { return nil }
        return text.split(whereSeparator: \.isNewline).compactMap { line -> Change? in
            let fields = line.split(separator: " ").map(String.init)
            guard !line.hasPrefix("#"), fields.count == 3, types.contains(fields[0]) else { return nil }
            return Change(type: fields[0], old: fields[1], new: fields[2])
        }
    }

    /// The shell function `_sanitize_clone_tables LIST [PARAMS]`, POSIX sh, its names prefixed
    /// `_sc_` (dracut sources its jobs). PARAMS: initramfs-tools' `/conf/param.conf`, which gets
    /// `ROOT=PARTUUID=NEW` when `ROOT` names a changed partition. Reads `SANITIZE_CLONE_LOG` and
    /// `SANITIZE_CLONE_TABLES_WORK` when set (tests on a host); returns 0 always.
    public static let function = #"""
        # The whole disk whose partition table has the identifier $1 (blkid -p reads PTUUID; its
        # -t lookup does not find a partitioned disk by it).
        _sanitize_clone_disk() {
        	for _sc_entry in /sys/class/block/*; do
        		[ -e "$_sc_entry/partition" ] && continue
        		[ "$(blkid -p -o value -s PTUUID "/dev/${_sc_entry##*/}" 2>/dev/null)" = "$1" ] && { echo "/dev/${_sc_entry##*/}"; break; }
        	done
        	unset _sc_entry
        }

        # Has the kernel read the table of $1 again. sfdisk's close makes udev probe the disk and
        # its partitions again (its inotify watch), and a partition open for that makes the
        # kernel refuse: wait for udev first, and try again a moment later
        # (SANITIZE_CLONE_REREAD_TRIES times, 5 unless set).
        _sanitize_clone_reread() {
        	_sc_tries=${SANITIZE_CLONE_REREAD_TRIES:-5}
        	while :; do
        		command -v udevadm > /dev/null 2>&1 && udevadm settle --timeout=5 > /dev/null 2>&1
        		blockdev --rereadpt "$1" >> "$_sc_log" 2>&1 && return 0
        		_sc_tries=$((_sc_tries - 1))
        		[ "$_sc_tries" -gt 0 ] || return 1
        		sleep 1
        	done
        }

        _sanitize_clone_tables() {
        	_sc_pending="$1"
        	_sc_params="${2:-}"
        	_sc_log="${SANITIZE_CLONE_LOG:-/run/sanitize-clone-uuids.log}"
        	_sc_work="${SANITIZE_CLONE_TABLES_WORK:-/run/sanitize-clone-tables}"
        	[ -r "$_sc_pending" ] || return 0
        	[ -e "$_sc_work/finished" ] && return 0
        	mkdir -p "$_sc_work" || return 0
        	_sc_waiting=no
        	while read -r _sc_type _sc_old _sc_new _sc_rest; do
        		case "$_sc_type" in gpt-disk|gpt-partition|mbr-disk) ;; *) continue ;; esac
        		case "$_sc_old:$_sc_new" in
        		*[!0-9A-Fa-fx:-]*|:*|*:) echo "failed $_sc_type $_sc_old $_sc_new (a malformed line in the pending list)" >> "$_sc_log"; continue ;;
        		esac
        		_sc_now=$(echo "$_sc_new" | sed -e 's/^0[xX]//' | tr 'A-F' 'a-f')
        		if [ "$_sc_type" = gpt-partition ]; then
        			_sc_device=$(blkid -c /dev/null -l -o device -t "PARTUUID=$_sc_old" 2>/dev/null)
        			_sc_already=$(blkid -c /dev/null -l -o device -t "PARTUUID=$_sc_now" 2>/dev/null)
        		else
        			_sc_device=$(_sanitize_clone_disk "$_sc_old")
        			_sc_already=$(_sanitize_clone_disk "$_sc_now")
        		fi
        		if [ -z "$_sc_device" ]; then
        			if [ -n "$_sc_already" ]; then
        				echo "done $_sc_type $_sc_old $_sc_new (already set)" >> "$_sc_log"
        			else
        				_sc_waiting=yes
        			fi
        			continue
        		fi
        		case "$_sc_type" in
        		gpt-partition)
        			_sc_name=${_sc_device##*/}
        			_sc_number=$(cat "/sys/class/block/$_sc_name/partition" 2>/dev/null)
        			_sc_disk=$(readlink -f "/sys/class/block/$_sc_name/..")
        			_sc_disk="/dev/${_sc_disk##*/}"
        			set -- --part-uuid "$_sc_disk" "$_sc_number"
        			_sc_back="$_sc_old"
        			;;
        		gpt-disk) _sc_disk="$_sc_device"; set -- --disk-id "$_sc_disk"; _sc_back="$_sc_old" ;;
        		*) _sc_disk="$_sc_device"; set -- --disk-id "$_sc_disk"; _sc_back="0x$_sc_old" ;;
        		esac
        		if ! sfdisk --no-reread "$@" "$_sc_new" >> "$_sc_log" 2>&1; then
        			echo "failed $_sc_type $_sc_old $_sc_new $_sc_device (sfdisk could not write it)" >> "$_sc_log"
        			continue
        		fi
        		# A partition's GUID reaches the kernel (and udev's by-partuuid names) only when it
        		# reads the table again; it refuses while a partition is in use: then back.
        		if [ "$_sc_type" != gpt-disk ] && ! _sanitize_clone_reread "$_sc_disk"; then
        			sfdisk --no-reread "$@" "$_sc_back" >> "$_sc_log" 2>&1
        			echo "failed $_sc_type $_sc_old $_sc_new $_sc_device (the kernel could not read the table again: a partition of $_sc_disk is in use; the old value is back)" >> "$_sc_log"
        			continue
        		fi
        		if [ "$_sc_type" = gpt-partition ]; then
        			_sc_set=$(blkid -p -o value -s PART_ENTRY_UUID "$_sc_device" 2>/dev/null)
        		else
        			_sc_set=$(blkid -p -o value -s PTUUID "$_sc_disk" 2>/dev/null)
        		fi
        		if [ "$_sc_set" = "$_sc_now" ]; then
        			echo "done $_sc_type $_sc_old $_sc_new $_sc_device" >> "$_sc_log"
        			if [ -n "$_sc_params" ]; then
        				case "$_sc_type:${ROOT:-}" in
        				"gpt-partition:PARTUUID=$_sc_old") echo "ROOT=PARTUUID=$_sc_now" >> "$_sc_params" ;;
        				"mbr-disk:PARTUUID=$_sc_old-"*) echo "ROOT=PARTUUID=$_sc_now-${ROOT##*-}" >> "$_sc_params" ;;
        				esac
        			fi
        		else
        			echo "failed $_sc_type $_sc_old $_sc_new $_sc_device (blkid reads $_sc_set)" >> "$_sc_log"
        		fi
        		if [ -z "${SANITIZE_CLONE_TABLES_WORK:-}" ] && command -v udevadm > /dev/null 2>&1; then
        			udevadm trigger --action=change "$_sc_disk" > /dev/null 2>&1
        			udevadm settle --timeout=10 > /dev/null 2>&1
        		fi
        	done < "$_sc_pending"
        	[ "$_sc_waiting" = no ] && : > "$_sc_work/finished"
        	unset _sc_pending _sc_params _sc_log _sc_work _sc_waiting _sc_type _sc_old _sc_new _sc_rest _sc_now _sc_already _sc_tries _sc_device _sc_name _sc_number _sc_disk _sc_back _sc_set
        	return 0
        }

        """#
}
