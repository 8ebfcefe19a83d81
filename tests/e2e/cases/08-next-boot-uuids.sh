#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 08-next-boot-uuids.sh BINARY: a running clone's own root filesystem gets a new UUID through the
# next-boot path, on a disk that boots through its own boot loader (UEFI, GRUB reading Debian's
# stub on the ESP), so fstab, grub.cfg, the EFI stub and the initramfs are all exercised.
#
# Boot 1 (sealed clone): the run rewrites fstab, installs the initramfs hook, rebuilds the
# initramfs and asks for a reboot, at which QEMU (-no-reboot) exits. Boot 2 (a new QEMU: OVMF
# takes about four minutes to come back from a warm reset under TCG, a cold start seconds): the initramfs sets the root's new UUID before it is
# mounted (ROOT follows through param.conf), the service then rewrites grub.cfg and the EFI stub
# and removes the hook. Boot 3 (the same disk again): GRUB, the kernel command line and the
# mounted root all use the new UUID; no failed units. The ESP keeps its vfat id (the template
# has no fatlabel), as the plan says.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    new_case 08-next-boot-uuids
    local old_root esp_uuid report new_root mac
    esp_uuid="$(random_vfat_uuid)"
    mac="$(random_mac)"
    old_root="$("$E2E_DIR/make-image.sh" --bootable --esp-uuid "$esp_uuid" --customize "$E2E_DIR/hooks/change-mounted-filesystems.sh" \
        --customize "$E2E_DIR/hooks/seal.sh" \
        "$E2E_TEMPLATE_ROOT" "$E2E_PAYLOAD" "$case_dir/disk.raw")"
    echo "$old_root" >"$case_dir/old-root-uuid"

    # Boot 1 hands back no report: the clone reboots before its report is due.
    "$E2E_DIR/boot.sh" --uefi --timeout 600 --mac "$mac" "$case_dir/disk.raw" "$case_dir/boot-1" || true
    expect_match "boot 1: the clone asked for its reboot once the run had committed" \
        "$(tr -d '\r' <"$case_dir/boot-1/console.log" | grep -E 'Committed:|reboot: Restarting system' | tr '\n' ' ')" \
        'Committed: .*reboot: Restarting system'
    boot_guest "boot 2" --uefi --timeout 600 --mac "$mac" "$case_dir/disk.raw" "$case_dir/boot-2" || true
    report="$case_dir/boot-2/report.txt"
    if [[ -f "$report" ]]; then
        new_root="$(r root_uuid)"
        expect_equal "boot 2: the boot settled" "$(r e2e.settled_state)" running
        expect_equal "boot 2: no failed units" "$(r failed_units)" ""
        expect_match "boot 2: the root has a new UUID" "$new_root" '^[0-9a-f-]{36}$'
        expect_not_equal "boot 2: not the template's root UUID" "$new_root" "$old_root"
        expect_match "boot 2: the initramfs set it" "$(r next_boot_log)" "done ext4 $old_root $new_root"
        expect_equal "boot 2: GRUB still started the kernel with the old UUID" "$(r cmdline)" \
            "BOOT_IMAGE=/vmlinuz root=UUID=$old_root $E2E_KERNEL_CMDLINE"
        expect_equal "boot 2: fstab names the new UUID" "$(r fstab_root)" "UUID=$new_root"
        expect_equal "boot 2: grub.cfg now names the new UUID" "$(r grub_cfg_root)" "root=UUID=$new_root"
        expect_equal "boot 2: the EFI stub now names the new UUID" "$(r esp_stub_uuid)" "$new_root"
        expect_equal "boot 2: the hook and the pending list are gone" "$(r next_boot_pending)" no
        expect_equal "boot 2: the ESP kept its vfat id" "$(r boot_efi_uuid)" "$esp_uuid"
        expect_equal "boot 2: sanitize-clone verify passes" "$(r verify_exit)" 0
        expect_equal "boot 2: two kernel boots" "$(r kernel_boots)" 2
    fi

    boot_guest "boot 3" --uefi --mac "$mac" "$case_dir/disk.raw" "$case_dir/boot-3" || true
    report="$case_dir/boot-3/report.txt"
    if [[ -f "$report" && -n "${new_root:-}" ]]; then
        expect_equal "boot 3: the boot settled" "$(r e2e.settled_state)" running
        expect_equal "boot 3: no failed units" "$(r failed_units)" ""
        expect_equal "boot 3: GRUB found the root by its new UUID" "$(r cmdline)" \
            "BOOT_IMAGE=/vmlinuz root=UUID=$new_root $E2E_KERNEL_CMDLINE"
        expect_equal "boot 3: the mounted root has the new UUID" "$(r root_uuid)" "$new_root"
        expect_match "boot 3: the service says not a clone" "$(r unit_said)" 'Not a clone'
    fi
    end_case
}

main "$@"
