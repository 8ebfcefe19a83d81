#!/bin/bash
# make-image.sh [options] ROOTDIR PAYLOAD_DIR IMAGE: builds a raw,
# sparse ext4 disk image (no partition table) from a template root plus a test
# case's payload, and prints the filesystem UUID it used on stdout. With --bootable
# the image is instead a GPT disk that boots through its own GRUB under UEFI (the
# root filesystem's UUID is still what it prints).
#
#   ROOTDIR      a root made by build-template.sh (OUTDIR/root); it is not modified
#   PAYLOAD_DIR  a DESTDIR-style tree copied over the root, owned by root in the
#                image: e.g. usr/local/lib/e2e/report.sh (run by e2e-report.service),
#                usr/local/sbin/sanitize-clone, etc/systemd/system/*.service and their
#                *.wants/ symlinks. Use usr/lib, not lib: /lib is a symlink in the root.
#                Pass an empty directory for no payload.
#   IMAGE        the disk image to write (replaced atomically)
#
# Unless the payload brings its own etc/fstab, the image's /etc/fstab mounts
# UUID=<the image's UUID> on / (as the Debian installer writes it), so the root is
# remounted read-write after the kernel mounts it read-only.
#
# Options:
#   --uuid UUID         filesystem UUID (default: random)
#   --size SIZE         filesystem size, mkfs.ext4 syntax (default 1536M; the file is sparse)
#   --enable UNIT       `systemctl --root enable UNIT` after the overlay (repeatable); the
#                       unit's [Install] section decides where it is wanted
#   --customize SCRIPT  run `SCRIPT ROOT` on the host, after the overlay and before mkfs,
#                       with ROOT the image's future contents (repeatable); e.g. to seal
#                       the image offline with `sanitize-clone --root "$1"`
#   --bootable          a GPT disk laid out as Debian's installer does on UEFI, booted by
#                       `boot.sh --uefi` (OVMF, no -kernel):
#                         1: EFI system partition, FAT32, 64 MiB: \EFI\BOOT\BOOTX64.EFI (GRUB
#                            built with grub-mkimage, prefix /EFI/debian, its embedded
#                            config naming no UUID: it reads the stub) and the stub
#                            \EFI\debian\grub.cfg (`search.fs_uuid <root UUID> root`, then
#                            the root's /boot/grub/grub.cfg), as with Debian's signed GRUB
#                         2: the ext4 root, --size (give it with a K, M or G suffix)
#                       and in the root /boot/grub/grub.cfg (one entry: /vmlinuz and
#                       /initrd.img with root=UUID=<root UUID> and boot.sh's command line,
#                       found by `search --fs-uuid`) and, unless the payload brings an
#                       fstab, a /boot/efi line naming the ESP by its vfat UUID. Both are
#                       written before the --customize scripts run. No loop device, no
#                       mount: mkfs.ext4 -E offset, mkfs.vfat --offset, mtools.
#                       Host packages: fdisk dosfstools mtools grub-efi-amd64-bin.
#   --esp-uuid ID       the ESP's vfat volume id, XXXX-XXXX (default: random; --bootable)
#   --layout rhel-style a GPT disk as RHEL's installer lays it out on UEFI (implies --bootable):
#                       1: the ESP as above; 2: ext4 /boot (512 MiB, by UUID in fstab, holding
#                       grub/grub.cfg, vmlinuz-* and initrd.img-*); 3: an LVM PV with VG "rhel":
#                       LV swap (256 MiB) and LV root (XFS, --size; --uuid is its UUID), both by
#                       /dev/mapper name in fstab, and root=/dev/mapper/rhel-root
#                       rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap on the command line. The host
#                       has no device-mapper: LVM writes its metadata in userspace and the LVs
#                       are reached through loop devices at their offsets (this layout needs a
#                       loop device and a mount). For a root made with E2E_FLAVOUR=rhel-style.
#                       IMAGE.ids gets the file systems', LVM's and the partition table's ids,
#                       key=value as guest/report.sh names them.
# Needs root (to keep the root's ownership while copying). Takes 5-10 seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    echo "usage: $E2E_SCRIPT [--uuid UUID] [--size SIZE] [--enable UNIT]... [--customize SCRIPT]... [--bootable [--esp-uuid ID]] [--layout rhel-style] ROOTDIR PAYLOAD_DIR IMAGE" >&2
    exit 2
}

main() {
    local uuid="" size=1536M units=() customizations=() bootable=0 esp_uuid="" layout=plain boot_uuid swap_uuid
    while (($# > 0)); do
        case "$1" in
            --uuid) uuid="${2:?--uuid needs a value}"; shift 2 ;;
            --size) size="${2:?--size needs a value}"; shift 2 ;;
            --enable) units+=("${2:?--enable needs a unit}"); shift 2 ;;
            --customize) customizations+=("${2:?--customize needs a script}"); shift 2 ;;
            --bootable) bootable=1; shift ;;
            --esp-uuid) esp_uuid="${2:?--esp-uuid needs a value}"; shift 2 ;;
            --layout) layout="${2:?--layout needs a value}"; shift 2 ;;
            -h | --help) usage ;;
            -*) echo "unknown option: $1" >&2; usage ;;
            *) break ;;
        esac
    done
    (($# == 3)) || usage
    local root_dir="$1" payload_dir="$2" image="$3"
    need_root
    need_commands mkfs.ext4 tar
    [[ -d "$root_dir/etc" && -d "$root_dir/usr" ]] || die "$root_dir does not look like a root made by build-template.sh"
    [[ -d "$payload_dir" ]] || die "payload $payload_dir is not a directory (pass an empty one for no payload)"
    [[ -n "$uuid" ]] || uuid="$(cat /proc/sys/kernel/random/uuid)"
    case "$layout" in
        plain) ;;
        rhel-style) bootable=1; need_rhel_style_tools ;;
        *) die "--layout $layout: expected rhel-style" ;;
    esac
    boot_uuid="$(cat /proc/sys/kernel/random/uuid)"
    swap_uuid="$(cat /proc/sys/kernel/random/uuid)"
    if ((bootable)); then
        need_bootable_tools
        [[ "${size^^}" =~ ^[0-9]+[KMGT]$ ]] || die "--size $size: give it with a K, M or G suffix for --bootable"
        [[ -n "$esp_uuid" ]] || esp_uuid="$(random_vfat_uuid)"
        [[ "$esp_uuid" =~ ^[0-9A-F]{4}-[0-9A-F]{4}$ ]] || die "--esp-uuid $esp_uuid: expected XXXX-XXXX in upper-case hex"
    elif [[ -n "$esp_uuid" ]]; then
        die "--esp-uuid needs --bootable"
    fi

    local started staging
    started="$(now)"
    make_temp_dir staging "$(dirname "$image")"
    copy_tree "$root_dir" "$staging"
    overlay_payload "$payload_dir" "$staging"
    if [[ "$layout" == rhel-style ]]; then
        [[ -e "$payload_dir/etc/fstab" ]] || write_rhel_style_fstab "$staging" "$boot_uuid" "$esp_uuid"
        write_rhel_style_grub_config "$staging" "$boot_uuid"
    else
        [[ -e "$payload_dir/etc/fstab" ]] || write_fstab "$staging" "$uuid"
    fi
    if ((bootable)) && [[ "$layout" == plain ]]; then
        [[ -e "$payload_dir/etc/fstab" ]] || write_esp_fstab_line "$staging" "$esp_uuid"
        write_grub_config "$staging" "$uuid"
    fi
    if ((${#units[@]} > 0)); then
        systemctl --root="$staging" --quiet enable "${units[@]}"
    fi
    local script
    for script in "${customizations[@]}"; do
        log "customizing with $script"
        "$script" "$staging" || die "$script failed on the image's root"
    done
    if [[ "$layout" == rhel-style ]]; then
        make_rhel_style_disk "$staging" "$uuid" "$boot_uuid" "$esp_uuid" "$swap_uuid" "$size" "$image"
        printf 'root_uuid=%s\nboot_uuid=%s\nboot_efi_uuid=%s\nswap_uuids=%s\n%s\n' "$uuid" "$boot_uuid" "$esp_uuid" "$swap_uuid" \
            "$RHEL_STYLE_LVM_IDS" >"$image.ids"
        log "made $image (GPT: ESP $esp_uuid, /boot $boot_uuid, LVM $VG_NAME: XFS root $uuid, swap $swap_uuid, $(seconds_since "$started") s)"
    elif ((bootable)); then
        make_bootable_disk "$staging" "$uuid" "$esp_uuid" "$size" "$image"
        log "made $image (GPT: ESP $esp_uuid, root UUID $uuid, $(seconds_since "$started") s)"
    else
        make_filesystem "$staging" "$uuid" "$size" "$image"
        log "made $image (UUID $uuid, $(seconds_since "$started") s)"
    fi
    echo "$uuid"
}

copy_tree() {
    local source="$1" target="$2"
    cp -a --reflink=auto "$source/." "$target/"
    # The temporary directory was made 0700: the image's / must be 0755 root:root,
    # or every service running as another user fails.
    chown 0:0 "$target"
    chmod 755 "$target"
}

# Copies PAYLOAD over the root as root-owned files; existing directory symlinks in
# the root (/lib -> usr/lib, ...) are followed, not replaced.
overlay_payload() {
    local payload="$1" target="$2"
    tar -C "$payload" -cf - . |
        tar -C "$target" -xf - --no-same-owner --keep-directory-symlink
    if [[ -e "$payload/usr/local/lib/e2e/report.sh" && ! -x "$payload/usr/local/lib/e2e/report.sh" ]]; then
        warn "$payload/usr/local/lib/e2e/report.sh is not executable: e2e-report.service will skip it"
    fi
}

write_fstab() {
    local root="$1" uuid="$2"
    cat >"$root/etc/fstab" <<EOF
# /etc/fstab: written by tests/e2e/make-image.sh
UUID=$uuid	/	ext4	errors=remount-ro	0	1
EOF
}

# mkfs.ext4 -d fills the filesystem from a directory: no loop device, no mount.
make_filesystem() {
    local source="$1" uuid="$2" size="$3" image="$4" partial
    partial="$image.partial.$$"
    on_exit rm -f "$partial"
    rm -f "$partial"
    # mkfs.ext4 says "Creating regular file" on stdout even with -q: keep stdout for the UUID.
    mkfs.ext4 -q -F -L root -U "$uuid" -d "$source" "$partial" "$size" >&2
    mv -f "$partial" "$image"
}


# --- --bootable: a GPT disk with an EFI system partition and GRUB ---------------------

MIB=$((1024 * 1024))
SECTOR=512
# Partition 1 at 1 MiB (sfdisk's and the installers' alignment), the root right after it.
ESP_START_MIB=1
ESP_SIZE_MIB=64
GRUB_EFI_DIR=/usr/lib/grub/x86_64-efi
# Everything the embedded config, the stub and the root's grub.cfg use: the image has no
# module directory GRUB could load more from.
GRUB_MODULES=(part_gpt fat ext2 normal configfile search search_fs_uuid linux echo test)

need_bootable_tools() {
    local command missing=()
    for command in sfdisk mkfs.vfat mmd mcopy grub-mkimage numfmt; do
        command -v "$command" >/dev/null 2>&1 || missing+=("$command")
    done
    [[ -d "$GRUB_EFI_DIR" ]] || missing+=("$GRUB_EFI_DIR")
    ((${#missing[@]} == 0)) ||
        die "--bootable needs ${missing[*]} (try: apt-get install -y fdisk dosfstools mtools grub-efi-amd64-bin)"
}

# The ESP by its vfat UUID, as the Debian installer writes it.
write_esp_fstab_line() {
    local root="$1" esp_uuid="$2"
    printf 'UUID=%s\t/boot/efi\tvfat\tumask=0077\t0\t1\n' "$esp_uuid" >>"$root/etc/fstab"
}

# /boot/grub/grub.cfg in the shape update-grub gives it, with the one entry that matters.
# Read-only, as update-grub leaves it (a tool rewriting it must keep that).
write_grub_config() {
    local root="$1" uuid="$2"
    local link
    for link in vmlinuz initrd.img; do
        [[ -L "$root/$link" || -f "$root/$link" ]] || die "$root has no /$link for grub.cfg to load"
    done
    mkdir -p "$root/boot/grub" "$root/boot/efi"
    grub_cfg --bootable "$uuid" 'Debian GNU/Linux' debian "/vmlinuz root=UUID=$uuid $E2E_KERNEL_CMDLINE" /initrd.img \
        >"$root/boot/grub/grub.cfg"
    chmod 444 "$root/boot/grub/grub.cfg"
}

# grub.cfg's text in the shape update-grub gives it, with the one entry that matters: OPTION
# (the make-image.sh option it is written for), the UUID of the file system GRUB searches,
# the entry's title and class, the `linux` line's path and arguments, the initrd's path.
grub_cfg() {
    local option="$1" uuid="$2" title="$3" class="$4" linux="$5" initrd="$6"
    cat <<GRUB_CFG
# /boot/grub/grub.cfg: written by tests/e2e/make-image.sh $option
set default=0
set timeout=0
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root $uuid

menuentry '$title' --class $class --class gnu-linux --class os {
	insmod part_gpt
	insmod ext2
	search --no-floppy --fs-uuid --set=root $uuid
	echo 'Loading Linux ...'
	linux $linux
	echo 'Loading initial ramdisk ...'
	initrd $initrd
}
GRUB_CFG
}

# The stub Debian's grub-install writes beside its signed grubx64.efi: it finds the file
# system with UUID and reads grub.cfg from PREFIX there (default /boot/grub; /grub when /boot
# is a file system of its own).
write_grub_stub() {
    local uuid="$1" prefix="${2:-/boot/grub}"
    cat <<GRUB_STUB
search.fs_uuid $uuid root
set prefix=(\$root)'$prefix'
configfile \$prefix/grub.cfg
GRUB_STUB
}

# Embedded in BOOTX64.EFI. It names no UUID: the ones it leads to live in files a tool can
# rewrite (the stub, grub.cfg), as with Debian's signed GRUB, whose embedded config reads
# the grub.cfg beside it. $prefix is (the ESP)/EFI/debian: the device GRUB was loaded from.
write_grub_embedded_config() {
    # shellcheck disable=SC2016 # $prefix is GRUB's variable
    echo 'configfile $prefix/grub.cfg'
}

make_bootable_disk() {
    local source="$1" uuid="$2" esp_uuid="$3" size="$4" image="$5" partial root_mib root_start_mib
    root_mib=$((($(numfmt --from=iec "${size^^}") + MIB - 1) / MIB))
    root_start_mib=$((ESP_START_MIB + ESP_SIZE_MIB))
    partial="$image.partial.$$"
    on_exit rm -f "$partial"
    rm -f "$partial"
    # One MiB more at the end for the backup GPT.
    truncate -s $(((root_start_mib + root_mib + 1) * MIB)) "$partial"
    sfdisk --quiet "$partial" >&2 <<PARTITIONS
label: gpt
start=$((ESP_START_MIB * MIB / SECTOR)), size=$((ESP_SIZE_MIB * MIB / SECTOR)), type=U, name="EFI System Partition"
start=$((root_start_mib * MIB / SECTOR)), size=$((root_mib * MIB / SECTOR)), type=L, name="root"
PARTITIONS
    # mkfs.ext4 says "Creating regular file" on stdout even with -q: keep stdout for the UUID.
    mkfs.ext4 -q -F -L root -U "$uuid" -E "offset=$((root_start_mib * MIB))" -d "$source" \
        "$partial" "${root_mib}M" >&2
    make_esp "$partial" "$uuid" "$esp_uuid"
    mv -f "$partial" "$image"
}

# FAT32 written at the ESP's offset (the host kernel has no vfat: nothing is mounted), then
# filled with mtools through IMAGE@@OFFSET.
make_esp() {
    make_esp_with_stub "$1" "$3" "$(write_grub_stub "$2")"
}

# The ESP with BOOTX64.EFI and STUB as \EFI\debian\grub.cfg.
make_esp_with_stub() {
    local disk="$1" esp_uuid="$2" stub="$3" build_dir esp start_sector output
    start_sector=$((ESP_START_MIB * MIB / SECTOR))
    make_temp_dir build_dir "$(dirname "$disk")"
    # -s 1: enough clusters for FAT32 in 64 MiB; -h: the partition's start, as on a real disk.
    # Its banner and its "block count mismatch" (the image goes on past the ESP) are noise.
    output="$(mkfs.vfat -F 32 -s 1 -n EFI -i "${esp_uuid//-/}" -h "$start_sector" --offset "$start_sector" \
        "$disk" $((ESP_SIZE_MIB * 1024)) 2>&1)" || die "mkfs.vfat failed on the ESP of $disk: $output"
    write_grub_embedded_config >"$build_dir/embedded.cfg"
    printf '%s\n' "$stub" >"$build_dir/grub.cfg"
    grub-mkimage --format=x86_64-efi --directory="$GRUB_EFI_DIR" --prefix=/EFI/debian \
        --config="$build_dir/embedded.cfg" --output="$build_dir/BOOTX64.EFI" "${GRUB_MODULES[@]}"
    esp="$disk@@$((start_sector * SECTOR))"
    # MTOOLS_SKIP_CHECK: mtools would question mkfs.vfat's geometry fields on an image file.
    MTOOLS_SKIP_CHECK=1 mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/debian
    MTOOLS_SKIP_CHECK=1 mcopy -i "$esp" "$build_dir/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
    MTOOLS_SKIP_CHECK=1 mcopy -i "$esp" "$build_dir/grub.cfg" ::/EFI/debian/grub.cfg
}

# --- --layout rhel-style: ESP, ext4 /boot, an LVM PV with an XFS root LV and a swap LV ---

# As RHEL's installer lays a UEFI disk out (VG "rhel", LVs root and swap, / on XFS, /boot on
# ext4 by UUID, the LVs by /dev/mapper name), with Debian 12's packages. The host has no
# device-mapper: LVM writes the PV and VG metadata in userspace (--driverloaded n, LVs never
# activated), and each LV is reached through a loop device at the offset its one segment
# has on the PV (pe_start + first extent × extent size) to make and fill its file system.
# Needs a loop device and a mount of the XFS root (the only layout here that does).
BOOT_SIZE_MIB=512
SWAP_SIZE_MIB=256
VG_NAME=rhel
RHEL_STYLE_LVM_IDS=""

need_rhel_style_tools() {
    need_bootable_tools
    local command missing=()
    for command in pvcreate vgcreate lvcreate lvs pvs mkfs.xfs mkswap losetup mount; do
        command -v "$command" >/dev/null 2>&1 || missing+=("$command")
    done
    ((${#missing[@]} == 0)) || die "--layout rhel-style needs ${missing[*]} (try: apt-get install -y lvm2 xfsprogs util-linux)"
}

# fstab as Anaconda writes it: the LVs by mapper name, /boot and the ESP by UUID.
write_rhel_style_fstab() {
    local root="$1" boot_uuid="$2" esp_uuid="$3"
    cat >"$root/etc/fstab" <<EOF
# /etc/fstab: written by tests/e2e/make-image.sh --layout rhel-style
/dev/mapper/$VG_NAME-root	/	xfs	defaults	0 0
UUID=$boot_uuid	/boot	ext4	defaults	1 2
UUID=$esp_uuid	/boot/efi	vfat	umask=0077,shortname=winnt	0 2
/dev/mapper/$VG_NAME-swap	none	swap	defaults	0 0
EOF
}

# /boot/grub/grub.cfg on the /boot file system (paths relative to it), RHEL's command line.
write_rhel_style_grub_config() {
    local root="$1" boot_uuid="$2" kernel initrd
    kernel="$(cd "$root/boot" && ls vmlinuz-* | head -n 1)"
    initrd="$(cd "$root/boot" && ls initrd.img-* | head -n 1)"
    [[ -n "$kernel" && -n "$initrd" ]] || die "$root/boot has no vmlinuz-* and initrd.img-* for grub.cfg"
    mkdir -p "$root/boot/grub" "$root/boot/efi"
    grub_cfg "--layout rhel-style" "$boot_uuid" 'Red Hat-style Linux' rhel \
        "/$kernel root=/dev/mapper/$VG_NAME-root ro rd.lvm.lv=$VG_NAME/root rd.lvm.lv=$VG_NAME/swap resume=/dev/mapper/$VG_NAME-swap ${E2E_KERNEL_CMDLINE#ro }" \
        "/$initrd" >"$root/boot/grub/grub.cfg"
    chmod 444 "$root/boot/grub/grub.cfg"
}

# Detaches a loop device if it is still attached (a cleanup action).
detach_loop() {
    losetup "$1" >/dev/null 2>&1 && losetup -d "$1"
    return 0
}

# LVM confined to one loop device, no device-mapper, no udev, no devices file.
lvm_on() {
    local device="$1"; shift
    local command="$1"; shift
    "$command" --driverloaded n --config "devices { filter = [ \"a|^$device\$|\", \"r|.*|\" ] use_devicesfile = 0 } activation { udev_sync = 0 udev_rules = 0 monitoring = 0 } backup { backup = 0 archive = 0 } global { locking_type = 0 }" "$@" 2>/dev/null
}

# Attaches the LV NAME of the PV on DEVICE (itself at byte PV_OFFSET in DISK) as a loop
# device of DISK; prints the loop device.
attach_logical_volume() {
    local disk="$1" device="$2" pv_offset="$3" name="$4" pe_start extent ranges start end
    pe_start="$(lvm_on "$device" pvs --noheadings --units b --nosuffix -o pe_start "$device" | tr -d ' ')"
    extent="$(lvm_on "$device" vgs --noheadings --units b --nosuffix -o vg_extent_size "$VG_NAME" | tr -d ' ')"
    ranges="$(lvm_on "$device" lvs --noheadings -o seg_pe_ranges "$VG_NAME/$name" | tr -d ' ')"
    # One segment on one PV: "<pv>:<first>-<last>".
    [[ "$ranges" =~ ^[^:]+:([0-9]+)-([0-9]+)$ ]] || die "LV $VG_NAME/$name is not one linear segment: $ranges"
    start="${BASH_REMATCH[1]}"; end="${BASH_REMATCH[2]}"
    losetup --find --show --offset $((pv_offset + pe_start + start * extent)) \
        --sizelimit $(((end - start + 1) * extent)) "$disk"
}

make_rhel_style_disk() {
    local source="$1" root_uuid="$2" boot_uuid="$3" esp_uuid="$4" swap_uuid="$5" size="$6" image="$7"
    local partial pv_mib boot_start_mib pv_start_mib pv_device root_device swap_device mount_dir
    pv_mib=$((($(numfmt --from=iec "${size^^}") + MIB - 1) / MIB + SWAP_SIZE_MIB + 8))
    boot_start_mib=$((ESP_START_MIB + ESP_SIZE_MIB))
    pv_start_mib=$((boot_start_mib + BOOT_SIZE_MIB))
    partial="$image.partial.$$"
    on_exit rm -f "$partial"
    rm -f "$partial"
    truncate -s $(((pv_start_mib + pv_mib + 1) * MIB)) "$partial"
    sfdisk --quiet "$partial" >&2 <<PARTITIONS
label: gpt
start=$((ESP_START_MIB * MIB / SECTOR)), size=$((ESP_SIZE_MIB * MIB / SECTOR)), type=U, name="EFI System Partition"
start=$((boot_start_mib * MIB / SECTOR)), size=$((BOOT_SIZE_MIB * MIB / SECTOR)), type=L, name="boot"
start=$((pv_start_mib * MIB / SECTOR)), size=$((pv_mib * MIB / SECTOR)), type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name="lvm"
PARTITIONS
    mkfs.ext4 -q -F -L boot -U "$boot_uuid" -E "offset=$((boot_start_mib * MIB))" -d "$source/boot" \
        "$partial" "${BOOT_SIZE_MIB}M" >&2

    pv_device="$(losetup --find --show --offset $((pv_start_mib * MIB)) --sizelimit $((pv_mib * MIB)) "$partial")"
    on_exit detach_loop "$pv_device"
    lvm_on "$pv_device" pvcreate -q "$pv_device" >&2 || die "pvcreate failed on $pv_device"
    lvm_on "$pv_device" vgcreate -q "$VG_NAME" "$pv_device" >&2 || die "vgcreate failed"
    lvm_on "$pv_device" lvcreate -q --activate n --zero n -L "${SWAP_SIZE_MIB}M" -n swap "$VG_NAME" >&2 || die "lvcreate swap failed"
    lvm_on "$pv_device" lvcreate -q --activate n --zero n -l 100%FREE -n root "$VG_NAME" >&2 || die "lvcreate root failed"
    # The LVM ids as guest/report.sh prints them (lvm_pvs, lvm_vgs), for IMAGE.ids.
    RHEL_STYLE_LVM_IDS="lvm_pvs=$(lvm_on "$pv_device" pvs --noheadings -o pv_uuid "$pv_device" | tr -d ' ')
lvm_vgs=$(lvm_on "$pv_device" vgs --noheadings -o vg_name,vg_uuid --separator : "$VG_NAME" | tr -d ' ')"

    swap_device="$(attach_logical_volume "$partial" "$pv_device" $((pv_start_mib * MIB)) swap)"
    on_exit detach_loop "$swap_device"
    mkswap -q -L swap -U "$swap_uuid" "$swap_device" >&2
    root_device="$(attach_logical_volume "$partial" "$pv_device" $((pv_start_mib * MIB)) root)"
    on_exit detach_loop "$root_device"
    mkfs.xfs -q -f -L root -m uuid="$root_uuid" "$root_device" >&2
    make_temp_dir mount_dir "$(dirname "$image")"
    mount -t xfs "$root_device" "$mount_dir"
    on_exit unmount_if_mounted "$mount_dir"
    tar -C "$source" --exclude=./boot/* -cf - . | tar -C "$mount_dir" -xpf - --numeric-owner --xattrs --xattrs-include='*'
    mkdir -p "$mount_dir/boot"
    umount "$mount_dir"
    sync
    for device in "$root_device" "$swap_device" "$pv_device"; do
        blockdev --flushbufs "$device" 2>/dev/null || true
        losetup -d "$device"
    done

    make_esp_with_stub "$partial" "$esp_uuid" "$(write_grub_stub "$boot_uuid" /grub)"
    # The partition table's ids as report.sh prints them (blkid's PTUUID, lsblk's PARTUUIDs).
    local number partuuids=()
    for number in 1 2 3; do partuuids+=("$(sfdisk --part-uuid "$partial" "$number" | tr 'A-F' 'a-f')"); done
    RHEL_STYLE_LVM_IDS+="
disk_ptuuid=$(blkid -p -o value -s PTUUID "$partial")
disk_partuuids=$(IFS=,; echo "${partuuids[*]}")"
    mv -f "$partial" "$image"
}

main "$@"
