/// The next-boot path for a running clone's own LVM physical volume: new PV and VG UUIDs, set in
/// the initramfs before the volume group's LVs are used (`NextBootUUIDs`, step 2).
///
/// A VG's UUID cannot change while one of its LVs is active (`vgchange --uuid` refuses, and the
/// device-mapper tables name it), and a running clone's root lives on them. So the initramfs sets
/// them, as `LVMIdentityChanger` does on a host (the same values the run chose and journaled, so
/// that the references it rewrote match):
/// 1. `pvck --dump metadata` saves the VG metadata; a copy has the old PV and VG UUIDs replaced;
/// 2. `pvck --repairtype pv_header` writes a label with the new PV UUID (data, metadata areas and
///    size kept), then `vgcfgrestore` writes the edited metadata; a failed restore writes the old
///    label back;
/// 3. `pvs` reads both back; every step goes to the log the boot service reads.
/// Every LVM command is confined to the one device (a filter naming it alone, no devices file),
/// as on the host.
///
/// Where it runs:
/// - dracut (`DracutNextBootModule`) activates LVM from `lvm_scan`, a job its udev rule queues in
///   the initqueue's "settled" jobs once a PV appears; the module's job `00-sanitize-clone-lvm.sh`
///   sorts before it in the same pass, so nothing is active yet. It runs on every pass until each
///   PV named has been found (a PV appears when its disk's driver is loaded).
/// - initramfs-tools: udev activates a complete VG itself at coldplug (lvm2's 69-lvm.rules runs
///   `vgchange -aay` directly when systemd is not running), before any script. The init-premount
///   script (`InitramfsComponent.premountScript`), which runs before the local-top scripts look
///   for the root and nothing is mounted, deactivates the VG, sets the identities and activates
///   it again.
public enum NextBootVolumeGroups {
    /// The shell function `_sanitize_clone_lvm`, POSIX sh, its names prefixed `_sc_` (dracut
    /// sources its hooks). Reads `SANITIZE_CLONE_PENDING`, `SANITIZE_CLONE_LOG` and
    /// `SANITIZE_CLONE_LVM_WORK` when set (tests on a host); returns 0 always.
    public static let function = #"""
        _sanitize_clone_lvm() {
        	_sc_pending="${SANITIZE_CLONE_PENDING:-$1}"
        	_sc_log="${SANITIZE_CLONE_LOG:-/run/sanitize-clone-uuids.log}"
        	_sc_work="${SANITIZE_CLONE_LVM_WORK:-/run/sanitize-clone-lvm}"
        	[ -r "$_sc_pending" ] || return 0
        	[ -e "$_sc_work/finished" ] && return 0
        	mkdir -p "$_sc_work" || return 0
        	_sc_waiting=no
        	while read -r _sc_type _sc_old _sc_new _sc_oldvg _sc_newvg; do
        		[ "$_sc_type" = LVM2_member ] || continue
        		case "$_sc_old:$_sc_new:$_sc_oldvg:$_sc_newvg" in
        		*[!A-Za-z0-9:-]*|:*|*::*|*:) echo "failed LVM2_member $_sc_old $_sc_new (a malformed line in the pending list)" >> "$_sc_log"; continue ;;
        		esac
        		_sc_device=$(blkid -c /dev/null -l -o device -t UUID="$_sc_old" 2>/dev/null)
        		if [ -z "$_sc_device" ]; then
        			if [ -n "$(blkid -c /dev/null -l -o device -t UUID="$_sc_new" 2>/dev/null)" ]; then
        				echo "done LVM2_member $_sc_old $_sc_new (already set)" >> "$_sc_log"
        			else
        				_sc_waiting=yes
        			fi
        			continue
        		fi
        		case "$_sc_device" in
        		*[!A-Za-z0-9/_]*) echo "failed LVM2_member $_sc_old $_sc_new $_sc_device (a device name LVM's filter is not given)" >> "$_sc_log"; continue ;;
        		esac
        		_sc_filter="[\"a|^$_sc_device\$|\", \"r|.*|\"]"
        		_sc_devices="devices { filter=$_sc_filter global_filter=$_sc_filter use_devicesfile=0 obtain_device_list_from_udev=0 hints=\"none\" scan_lvs=0 }"
        		_sc_config="$_sc_devices activation { udev_sync=0 udev_rules=0 monitoring=0 } global { activation=0 } backup { backup=0 archive=0 }"
        		_sc_vg=$(lvm pvs --config "$_sc_config" --noheadings -o vg_name "$_sc_device" 2>/dev/null)
        		_sc_vg=$(echo $_sc_vg)
        		rm -f "$_sc_work/current.vg" "$_sc_work/wanted.vg"
        		if [ -z "$_sc_vg" ] || ! lvm pvck --config "$_sc_config" --dump metadata -f "$_sc_work/current.vg" "$_sc_device" >> "$_sc_log" 2>&1 \
        			|| ! grep -q "\"$_sc_oldvg\"" "$_sc_work/current.vg"; then
        			echo "failed LVM2_member $_sc_old $_sc_new $_sc_device (its volume group is not the one with UUID $_sc_oldvg)" >> "$_sc_log"
        			continue
        		fi
        		sed -e "s/\"$_sc_old\"/\"$_sc_new\"/g" -e "s/\"$_sc_oldvg\"/\"$_sc_newvg\"/g" "$_sc_work/current.vg" > "$_sc_work/wanted.vg"
        		_sc_active=$(lvm lvs --config "$_sc_devices" --noheadings -o lv_active "$_sc_vg" 2>/dev/null)
        		_sc_reactivate=no
        		case "$_sc_active" in
        		*active*)
        			if lvm vgchange --config "$_sc_devices" -an "$_sc_vg" >> "$_sc_log" 2>&1; then
        				_sc_reactivate=yes
        			else
        				echo "failed LVM2_member $_sc_old $_sc_new $_sc_device (its volume group $_sc_vg could not be deactivated)" >> "$_sc_log"
        				continue
        			fi
        			;;
        		esac
        		_sc_force=
        		grep -q 'thin-pool' "$_sc_work/wanted.vg" && _sc_force=--force
        		if lvm pvck --config "$_sc_config" -y --repairtype pv_header --settings pv_uuid="$_sc_new" -f "$_sc_work/wanted.vg" "$_sc_device" >> "$_sc_log" 2>&1; then
        			if ! lvm vgcfgrestore --config "$_sc_config" $_sc_force --yes -f "$_sc_work/wanted.vg" "$_sc_vg" >> "$_sc_log" 2>&1; then
        				lvm pvck --config "$_sc_config" -y --repairtype pv_header --settings pv_uuid="$_sc_old" -f "$_sc_work/current.vg" "$_sc_device" >> "$_sc_log" 2>&1
        			fi
        		fi
        		_sc_now=$(lvm pvs --config "$_sc_config" --noheadings -o pv_uuid,vg_uuid "$_sc_device" 2>/dev/null)
        		if [ "$(echo $_sc_now)" = "$_sc_new $_sc_newvg" ]; then
        			echo "done LVM2_member $_sc_old $_sc_new $_sc_device" >> "$_sc_log"
        		else
        			echo "failed LVM2_member $_sc_old $_sc_new $_sc_device (LVM shows: $(echo $_sc_now))" >> "$_sc_log"
        		fi
        		if [ "$_sc_reactivate" = yes ]; then
        			lvm vgchange --config "$_sc_devices" -ay "$_sc_vg" >> "$_sc_log" 2>&1
        		fi
        		# Let udev see the new PV UUID.
        		if [ -z "$SANITIZE_CLONE_PENDING" ] && command -v udevadm > /dev/null 2>&1; then
        			udevadm trigger --action=change "$_sc_device" > /dev/null 2>&1
        		fi
        	done < "$_sc_pending"
        	[ "$_sc_waiting" = no ] && : > "$_sc_work/finished"
        	unset _sc_pending _sc_log _sc_work _sc_waiting _sc_type _sc_old _sc_new _sc_oldvg _sc_newvg _sc_device _sc_filter _sc_devices _sc_config _sc_vg _sc_active _sc_reactivate _sc_force _sc_now
        	return 0
        }

        """#
}
