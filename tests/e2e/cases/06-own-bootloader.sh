#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 06-own-bootloader.sh BINARY: a guest that boots through its own bootloader, as an installed
# Debian does on UEFI, instead of QEMU's -kernel. make-image.sh --bootable lays the template
# and the standard payload (sanitize-clone enabled, not sealed) on a GPT disk: an EFI system
# partition with GRUB as \EFI\BOOT\BOOTX64.EFI and the Debian-style stub \EFI\debian\grub.cfg
# (search.fs_uuid <root UUID>), then the ext4 root with /boot/grub/grub.cfg (root=UUID=...)
# and an fstab naming the root and /boot/efi by UUID. boot.sh --uefi starts it with OVMF.
#
# Asserted from the guest's report: UEFI firmware, the boot settled as running with no failed
# unit, /proc/cmdline is exactly the one grub.cfg gave (BOOT_IMAGE=/vmlinuz root=UUID=<the
# image's root> ...), /boot/efi is the ESP by its vfat UUID, sanitize-clone.service succeeded.
# The ground case 08 (a clone's filesystem UUIDs changed through the next-boot path) stands on.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    new_case 06-own-bootloader
    local root_uuid esp_uuid report
    esp_uuid="$(random_vfat_uuid)"
    root_uuid="$("$E2E_DIR/make-image.sh" --bootable --esp-uuid "$esp_uuid" \
        --enable sanitize-clone.service --customize "$E2E_DIR/hooks/update-catalog.sh" \
        "$E2E_TEMPLATE_ROOT" "$E2E_PAYLOAD" "$case_dir/disk.raw")"
    boot_guest "own bootloader" --uefi --uuid "$(random_uuid)" --mac "$(random_mac)" \
        "$case_dir/disk.raw" "$case_dir/guest" || true
    report="$case_dir/guest/report.txt"
    if [[ -f "$report" ]]; then
        log "boot to poweroff under OVMF: $(grep -o 'BOOT_SECONDS=.*' "$case_dir/guest/boot.env" | cut -d= -f2) s"
        expect_equal "booted by UEFI firmware" "$(r firmware)" uefi
        expect_equal "the boot settled" "$(r e2e.settled_state)" running
        expect_equal "no failed units" "$(r failed_units)" ""
        expect_equal "the kernel command line is grub.cfg's" "$(r cmdline)" \
            "BOOT_IMAGE=/vmlinuz root=UUID=$root_uuid $E2E_KERNEL_CMDLINE"
        expect_equal "/boot/efi is the ESP, by its vfat UUID" "$(r boot_efi_uuid)" "$esp_uuid"
        expect_equal "sanitize-clone.service succeeded" "$(r unit.Result)" success
    fi
    end_case
}

main "$@"
