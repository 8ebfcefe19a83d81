#!/bin/bash
# make-image.sh [options] ROOTDIR PAYLOAD_DIR IMAGE: builds a raw,
# sparse ext4 disk image (no partition table) from a template root plus a test
# case's payload, and prints the filesystem UUID it used on stdout.
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
# Needs root (to keep the root's ownership while copying). Takes 5-10 seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    echo "usage: $E2E_SCRIPT [--uuid UUID] [--size SIZE] [--enable UNIT]... [--customize SCRIPT]... ROOTDIR PAYLOAD_DIR IMAGE" >&2
    exit 2
}

main() {
    local uuid="" size=1536M units=() customizations=()
    while (($# > 0)); do
        case "$1" in
            --uuid) uuid="${2:?--uuid needs a value}"; shift 2 ;;
            --size) size="${2:?--size needs a value}"; shift 2 ;;
            --enable) units+=("${2:?--enable needs a unit}"); shift 2 ;;
            --customize) customizations+=("${2:?--customize needs a script}"); shift 2 ;;
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

    local started staging
    started="$(now)"
    make_temp_dir staging "$(dirname "$image")"
    copy_tree "$root_dir" "$staging"
    overlay_payload "$payload_dir" "$staging"
    [[ -e "$payload_dir/etc/fstab" ]] || write_fstab "$staging" "$uuid"
    if ((${#units[@]} > 0)); then
        systemctl --root="$staging" --quiet enable "${units[@]}"
    fi
    local script
    for script in "${customizations[@]}"; do
        log "customizing with $script"
        "$script" "$staging" || die "$script failed on the image's root"
    done
    make_filesystem "$staging" "$uuid" "$size" "$image"
    log "made $image (UUID $uuid, $(seconds_since "$started") s)"
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

main "$@"
