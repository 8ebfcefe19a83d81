#!/bin/bash
# report.sh: what a sanitize-clone guest reports on every boot, as key=value lines
# (run by the template's e2e-report.service once the boot has settled; see ../README.md).
# The same report serves every case: the host decides what to expect. Lean on purpose:
# every command costs 0.3-1 s under TCG. Longer outputs go to $E2E_ARTIFACTS.
set -u
BIN=/usr/bin/sanitize-clone
ART="${E2E_ARTIFACTS:-/run}"
# Journald MESSAGE_IDs from systemd/sanitize-clone.catalog.
ID_COMMITTED=ac32b14970f74fdb82bdb1d6d5c02cc8
ID_RECOVERY=a23e61924cb04dc1b0ddf17992a48a92
ID_ROLLED_BACK=27c15325b788433a92e01e1b0e58a5af
ID_STARTED=86346d0fd5d9410a9bc40b8fbbb2eab4

value() { printf '%s=%s\n' "$1" "$2"; }
# Entries with MESSAGE_ID=$1 in every journal on disk (-m: the directories of earlier
# machine-ids too, since a run changes the id the journal is filed under).
count_entries() { journalctl -m -q -o cat --no-pager "MESSAGE_ID=$1" 2>/dev/null | grep -c .; }
# This boot's entries from every journal directory (-b cannot be combined with -m).
BOOT_MATCH="_BOOT_ID=$(tr -d '-' </proc/sys/kernel/random/boot_id)"
this_boot() { journalctl -m -q --no-pager "$@" "$BOOT_MATCH" 2>&1; }

value boot_id "$(cat /proc/sys/kernel/random/boot_id)"
value system_state "$(systemctl is-system-running 2>/dev/null)"
value failed_units "$(systemctl --failed --plain --no-legend 2>/dev/null | awk '{ print $1 }' | paste -sd, -)"
value hostname "$(hostname)"
value etc_hostname "$(head -n 1 /etc/hostname 2>/dev/null)"
value hosts_names_hostname "$(grep -qw -- "$(hostname)" /etc/hosts && echo yes || echo no)"
value machine_id "$(cat /etc/machine-id 2>/dev/null)"
value machine_id_mounted "$(findmnt -n /etc/machine-id >/dev/null && echo yes || echo no)"
value dbus_machine_id "$(cat /var/lib/dbus/machine-id 2>/dev/null)"
value sshd "$(systemctl is-active ssh.service)"
# How it booted: the command line (GRUB's, with BOOT_IMAGE=, on a guest booted by its own
# bootloader), the firmware, and the ESP its fstab mounts (case 06).
value cmdline "$(cat /proc/cmdline)"
value firmware "$([[ -d /sys/firmware/efi ]] && echo uefi || echo bios)"
value boot_efi_uuid "$(findmnt -n -o UUID /boot/efi 2>/dev/null)"
# Filesystem UUIDs and their references (case 08).
value root_uuid "$(findmnt -n -o UUID / 2>/dev/null)"
value fstab_root "$(awk '$2 == "/" { print $1 }' /etc/fstab 2>/dev/null)"
value grub_cfg_root "$(grep -o 'root=UUID=[^ ]*' /boot/grub/grub.cfg 2>/dev/null | sort -u | paste -sd, -)"
value esp_stub_uuid "$(awk '/search.fs_uuid/ { print $2 }' /boot/efi/EFI/debian/grub.cfg 2>/dev/null)"
value next_boot_log "$(paste -sd';' /run/sanitize-clone-uuids.log 2>/dev/null)"
value next_boot_pending "$([[ -e /etc/sanitize-clone/next-boot-uuids || -e /etc/initramfs-tools/scripts/local-top/sanitize-clone-uuids || -e /etc/initramfs-tools/scripts/init-premount/sanitize-clone-lvm || -e /usr/lib/dracut/modules.d/95sanitize-clone || -e /etc/dracut.conf.d/90-sanitize-clone.conf ]] && echo yes || echo no)"
value initramfs_has_module "$(command -v lsinitrd >/dev/null && lsinitrd "/boot/initrd.img-$(uname -r)" 2>/dev/null | grep -c sanitize-clone)"
# Every storage identity of the disk (case 09, a RHEL-style layout: /boot, LVM, XFS, swap, GPT).
value root_fstype "$(findmnt -n -o FSTYPE / 2>/dev/null)"
value boot_uuid "$(findmnt -n -o UUID /boot 2>/dev/null)"
value swap_uuids "$(swapon --show=NAME --noheadings 2>/dev/null | xargs -r -n 1 blkid -o value -s UUID 2>/dev/null | paste -sd, -)"
value lvm_pvs "$(pvs --noheadings -o pv_uuid 2>/dev/null | tr -d ' ' | paste -sd, -)"
value lvm_vgs "$(vgs --noheadings -o vg_name,vg_uuid --separator : 2>/dev/null | tr -d ' ' | paste -sd, -)"
# The system disk: the one holding /boot (or /), never the results disk.
system_disk="/dev/$(lsblk -n -o PKNAME "$(findmnt -n -o SOURCE /boot 2>/dev/null || findmnt -n -o SOURCE /)" 2>/dev/null | head -n 1)"
value disk_ptuuid "$(blkid -p -o value -s PTUUID "$system_disk" 2>/dev/null)"
value disk_partuuids "$(lsblk -r -n -o PARTUUID "$system_disk" 2>/dev/null | sed '/^$/d' | paste -sd, -)"
value nm_active "$(nmcli -t -f NAME,DEVICE,STATE connection show --active 2>/dev/null | grep -v ':lo:' | paste -sd, -)"
value nm_config_macs "$(grep -h -o '^mac-address=.*' /etc/NetworkManager/system-connections/*.nmconnection 2>/dev/null | paste -sd, -)"

# Host keys: fingerprints of the public keys, and how many of each half exist (a half-done
# run would leave a private key without its .pub, or the reverse).
cat /etc/ssh/ssh_host_*_key.pub >/run/e2e-host-keys.pub 2>/dev/null
value ssh_fingerprints "$(ssh-keygen -lf /run/e2e-host-keys.pub 2>/dev/null | awk '{ print $2 }' | sort | paste -sd, -)"
value ssh_private_keys "$(find /etc/ssh -maxdepth 1 -name 'ssh_host_*_key' | wc -l)"
value ssh_public_keys "$(find /etc/ssh -maxdepth 1 -name 'ssh_host_*_key.pub' | wc -l)"
# Temporary files a killed run could leave (".NAME.TAG.N" next to the file it replaces).
value temp_leftovers "$({ find /etc/ssh /var/lib/dbus -maxdepth 1 -name '.*'
    find /etc -maxdepth 1 -name '.*' ! -name .pwd.lock ! -name .updated; } 2>/dev/null | paste -sd, -)"

# The unit and what it said this boot.
systemctl show sanitize-clone.service -p ActiveState -p Result -p ExecMainCode -p ExecMainStatus \
    -p ActiveEnterTimestampMonotonic -p InactiveExitTimestampMonotonic 2>/dev/null |
    sed 's/^/unit./'
this_boot -o short-monotonic -u sanitize-clone.service >"$ART/unit.txt"
value unit_said "$(grep -m 1 -o 'sanitize-clone: .*' "$ART/unit.txt")"
# The service must be done before D-Bus starts (it never waits for the bus).
value unit_exited_usec "$(systemctl show -P ExecMainExitTimestampMonotonic sanitize-clone.service)"
value dbus_started_usec "$(systemctl show -P InactiveExitTimestampMonotonic dbus.service)"
value first_boot_complete "$(systemctl is-active first-boot-complete.target)"
value identity_json "$([[ -f /var/lib/sanitize-clone/identity.json ]] && echo yes || echo no)"
value identity_sealed "$(grep -o '"sealed" *: *[a-z]*' /var/lib/sanitize-clone/identity.json 2>/dev/null | grep -o '[a-z]*$')"

# The network as networkd configured it (case 05). The boot settles before networkd may be done
# (a static address waits for IPv6 duplicate address detection): give links in "configuring"
# up to 20 s to finish, so the check reads networkd's result, not a moment of it.
for _ in $(seq 40); do
    networkctl list --no-legend --no-pager 2>/dev/null | awk '$2 != "lo" { print $5 }' | grep -q -x -E 'configuring|pending' || break
    sleep 0.5
done
value net_links "$(networkctl list --no-legend --no-pager 2>/dev/null | awk '$2 != "lo" { print $2 ":" $5 }' | paste -sd, -)"
value net_ipv4 "$(ip -4 -o addr show scope global 2>/dev/null | awk '{ print $2 "=" $4 }' | paste -sd, -)"
value net_config_macs "$(grep -h -o 'MACAddress=.*' /etc/systemd/network/*.network 2>/dev/null | paste -sd, -)"
value net_template_address "$(grep -l -s '10\.0\.2\.50' /etc/systemd/network/*.network | wc -l)"
value unit_probe "$(grep -m 1 -o '[0-9.]* is free on [a-z0-9]*' "$ART/unit.txt")"

"$BIN" verify >"$ART/verify.txt" 2>&1
value verify_exit "$?"
"$BIN" status --json >"$ART/status.json" 2>&1
value status_exit "$?"
value status_outcomes "$(grep -o '"outcome":"[a-z-]*"' "$ART/status.json" | cut -d'"' -f4 | paste -sd, -)"
value recovery_pending "$(grep -o '"recovery_pending":[a-z]*' "$ART/status.json" | cut -d: -f2)"

value journal_started "$(count_entries "$ID_STARTED")"
value journal_committed "$(count_entries "$ID_COMMITTED")"
value journal_recovery "$(count_entries "$ID_RECOVERY")"
value journal_rolled_back "$(count_entries "$ID_ROLLED_BACK")"
value kernel_boots "$(journalctl -m -q -F _BOOT_ID 2>/dev/null | grep -c .)"
this_boot -o short-monotonic >"$ART/journal-boot.txt"
# PID 1's "Found ordering cycle" / "Job ... deleted to break ordering cycle", in every boot
# on disk (a case that reboots reports only after the last one).
value ordering_cycles "$(journalctl -m -q -o cat --no-pager _PID=1 2>/dev/null | grep -ci 'ordering cycle')"
value failpoint "$(grep -o 'sanitize_clone.failpoint=[^ ]*' /proc/cmdline | cut -d= -f2)"
