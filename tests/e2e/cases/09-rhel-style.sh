#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 09-rhel-style.sh BINARY: the layout RHEL-family templates have — UEFI (OVMF) through the
# disk's own GRUB from a GPT disk with an ESP, an ext4 /boot, an LVM PV (VG "rhel") holding an
# XFS root LV and a swap LV, an initramfs made by dracut, NetworkManager only with a keyfile
# bound to the template's MAC — built from Debian 12 packages (E2E_FLAVOUR=rhel-style,
# make-image.sh --layout rhel-style), sanitize-clone installed and the template sealed offline.
#
# Clone A boots the sealed template's disk as a new VM (new MAC and UUID), with
# `[Storage] ChangeMountedFilesystems=yes`: boot 1 sanitizes it, installs the dracut module for
# the identities it uses and asks for the reboot (QEMU -no-reboot exits there, as in case 08:
# OVMF's warm reset is minutes under TCG); in boot 2 (a new QEMU) the module's initqueue job sets
# the GPT disk and partition GUIDs and then the PV's and VG's UUIDs, before lvm_scan activates
# the VG, and its pre-mount hook the XFS root's, /boot's, the swap's and the ESP's before they
# are mounted; the service
# finishes (boot-loader files, module removed, initramfs rebuilt): running, no failed unit, a new
# machine-id and hostname, NetworkManager up on the rebound keyfile, `verify` passing; boot 3 is
# "Not a clone".
# Clone B is another copy of the sealed disk sanitized offline (`run --image` with its NIC and
# product UUID, then `verify --image`) and booted once: running, no failed unit, no second run,
# and every storage identity (ESP serial, /boot, XFS root, swap, PV, VG, GPT disk and partition
# GUIDs) differs from the template's, with fstab, grub.cfg, the ESP's stub and the kernel
# command line following (the boot found them all).
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

STORAGE_KEYS=(root_uuid boot_uuid boot_efi_uuid swap_uuids lvm_pvs lvm_vgs disk_ptuuid)

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    new_case 09-rhel-style
    local template_dir="$E2E_CASES_WORK/rhel-style-template"
    E2E_FLAVOUR=rhel-style "$E2E_DIR/build-template.sh" "$template_dir" >&2
    local template_mac template_root_uuid template_machine_id esp_uuid report key value
    template_mac="$(random_mac)"
    esp_uuid="$(random_vfat_uuid)"
    template_machine_id="$(cat "$template_dir/root/etc/machine-id")"
    template_root_uuid="$(E2E_TEMPLATE_MAC="$template_mac" "$E2E_DIR/make-image.sh" --layout rhel-style --size 1536M \
        --esp-uuid "$esp_uuid" --customize "$E2E_DIR/hooks/nm-template-mac.sh" \
        --customize "$E2E_DIR/hooks/update-catalog.sh" --customize "$E2E_DIR/hooks/change-mounted-filesystems.sh" \
        --customize "$E2E_DIR/hooks/seal.sh" \
        "$template_dir/root" "$E2E_PAYLOAD" "$case_dir/template.raw")"
    local -A template
    while IFS='=' read -r key value; do template[$key]="$value"; done <"$case_dir/template.raw.ids"

    # Clone A: the first-boot path, and the dracut next-boot path for its mounted file systems.
    local mac_a uuid_a
    mac_a="$(random_mac)"
    uuid_a="$(random_uuid)"
    cp --sparse=always "$case_dir/template.raw" "$case_dir/a.raw"
    "$E2E_DIR/boot.sh" --uefi --timeout 600 --uuid "$uuid_a" --mac "$mac_a" "$case_dir/a.raw" "$case_dir/a-boot-1" || true
    expect_match "A, boot 1: the clone asked for its reboot once the run had committed" \
        "$(tr -d '\r' <"$case_dir/a-boot-1/console.log" | grep -E 'Committed:|reboot: Restarting system' | tr '\n' ' ')" \
        'Committed: .*reboot: Restarting system'
    boot_guest "A, boot 2" --uefi --timeout 600 --uuid "$uuid_a" --mac "$mac_a" "$case_dir/a.raw" "$case_dir/a-boot-2" || true
    report="$case_dir/a-boot-2/report.txt"
    local a_root=""
    if [[ -f "$report" ]]; then
        expect_equal "A: booted by UEFI firmware" "$(r firmware)" uefi
        expect_equal "A: the boot settled" "$(r e2e.settled_state)" running
        expect_equal "A: no failed units" "$(r failed_units)" ""
        expect_equal "A: the root is XFS" "$(r root_fstype)" xfs
        expect_match "A: dracut found the root on the LV" "$(r cmdline)" 'root=/dev/mapper/rhel-root .*rd.lvm.lv=rhel/root'
        expect_match "A: a machine-id of its own" "$(r machine_id)" '^[0-9a-f]{32}$'
        expect_not_equal "A: not the template's machine-id" "$(r machine_id)" "$template_machine_id"
        expect_match "A: a hostname derived from it" "$(r hostname)" '^clone-[0-9a-f]{8}$'
        expect_match "A: the connection is up" "$(r nm_active)" '^uplink:[a-z0-9]+:activated$'
        expect_equal "A: the keyfile is bound to A's MAC (any case)" "$(r nm_config_macs | tr 'A-F' 'a-f')" "mac-address=${mac_a,,}"
        expect_equal "A: the template's root UUID was $template_root_uuid" "${template[root_uuid]}" "$template_root_uuid"
        for key in root_uuid boot_uuid swap_uuids boot_efi_uuid; do
            expect_match "A: its $key is known" "$(r "$key")" '.'
            expect_not_equal "A: its $key is not the template's (set by dracut's hook)" "$(r "$key")" "${template[$key]}"
        done
        expect_match "A: the initramfs set the ESP's serial" "$(r next_boot_log)" "done vfat ${template[boot_efi_uuid]} "
        expect_match "A: its disk GUID is known" "$(r disk_ptuuid)" '^[0-9a-f-]{36}$'
        expect_not_equal "A: its disk GUID is not the template's (set by dracut's initqueue job)" "$(r disk_ptuuid)" "${template[disk_ptuuid]}"
        expect_disjoint "A: no partition GUID is the template's" "$(r disk_partuuids)" "${template[disk_partuuids]}"
        expect_match "A: the initramfs set the disk GUID" "$(r next_boot_log)" "done gpt-disk ${template[disk_ptuuid]} "
        expect_match "A: the initramfs set the XFS root" "$(r next_boot_log)" "done xfs ${template[root_uuid]} $(r root_uuid)"
        expect_match "A: the initramfs set /boot" "$(r next_boot_log)" "done ext4 ${template[boot_uuid]} $(r boot_uuid)"
        expect_match "A: the initramfs set the swap" "$(r next_boot_log)" "done swap ${template[swap_uuids]} $(r swap_uuids)"
        expect_match "A: the template's PV UUID is known" "${template[lvm_pvs]}" '^[A-Za-z0-9]{6}(-[A-Za-z0-9]{4}){5}-[A-Za-z0-9]{6}$'
        for key in lvm_pvs lvm_vgs; do
            expect_match "A: its $key is known" "$(r "$key")" '.'
            expect_not_equal "A: its $key is not the template's (set by dracut's initqueue job)" "$(r "$key")" "${template[$key]}"
        done
        expect_match "A: the VG keeps its name" "$(r lvm_vgs)" '^rhel:'
        expect_match "A: the initramfs set the PV and VG" "$(r next_boot_log)" "done LVM2_member ${template[lvm_pvs]} $(r lvm_pvs) /dev/"
        expect_equal "A: the module, drop-in and pending list are gone" "$(r next_boot_pending)" no
        expect_equal "A: the rebuilt initramfs holds no module" "$(r initramfs_has_module)" 0
        expect_equal "A: sanitize-clone verify passes" "$(r verify_exit)" 0
        expect_equal "A: two kernel boots" "$(r kernel_boots)" 2
        a_root="$(r root_uuid)"
    fi
    boot_guest "A, boot 3" --uefi --timeout 600 --uuid "$uuid_a" --mac "$mac_a" "$case_dir/a.raw" "$case_dir/a-boot-3" || true
    report="$case_dir/a-boot-3/report.txt"
    if [[ -f "$report" && -n "$a_root" ]]; then
        expect_equal "A, boot 3: the boot settled" "$(r e2e.settled_state)" running
        expect_equal "A, boot 3: no failed units" "$(r failed_units)" ""
        expect_equal "A, boot 3: the root keeps boot 2's UUID" "$(r root_uuid)" "$a_root"
        expect_equal "A, boot 3: the PV keeps boot 2's UUID" "$(r lvm_pvs)" "$(report="$case_dir/a-boot-2/report.txt" r lvm_pvs)"
        expect_match "A, boot 3: the service says not a clone" "$(r unit_said)" 'Not a clone'
    fi

    # Clone B: sanitized offline.
    local mac_b uuid_b run_exit=0 verify_exit=0
    mac_b="$(random_mac)"
    uuid_b="$(random_uuid)"
    cp --sparse=always "$case_dir/template.raw" "$case_dir/b.raw"
    "$E2E_BINARY" run --image "$case_dir/b.raw" --nic "ens3=$mac_b" --product-uuid "$uuid_b" --hostname clone-b --json \
        >"$case_dir/b-run.json" 2>"$case_dir/b-run.err" || run_exit=$?
    expect_equal "B: run --image exits 0" "$run_exit" 0
    "$E2E_BINARY" verify --image "$case_dir/b.raw" --nic "ens3=$mac_b" --product-uuid "$uuid_b" \
        >"$case_dir/b-verify.txt" 2>&1 || verify_exit=$?
    expect_equal "B: verify --image exits 0" "$verify_exit" 0
    boot_guest "B" --uefi --timeout 600 --uuid "$uuid_b" --mac "$mac_b" "$case_dir/b.raw" "$case_dir/b-boot" || true
    report="$case_dir/b-boot/report.txt"
    if [[ -f "$report" ]]; then
        expect_equal "B: the boot settled" "$(r e2e.settled_state)" running
        expect_equal "B: no failed units" "$(r failed_units)" ""
        expect_equal "B: the root is XFS" "$(r root_fstype)" xfs
        expect_equal "B: the hostname given offline" "$(r hostname)" clone-b
        expect_match "B: the service found it sanitized" "$(r unit_said)" 'Not a clone'
        expect_equal "B: one kernel boot" "$(r kernel_boots)" 1
        expect_match "B: the connection is up" "$(r nm_active)" '^uplink:[a-z0-9]+:activated$'
        expect_equal "B: the keyfile is bound to B's MAC (any case)" "$(r nm_config_macs | tr 'A-F' 'a-f')" "mac-address=${mac_b,,}"
        expect_equal "B: sanitize-clone verify passes" "$(r verify_exit)" 0
        if [[ -n "${template[lvm_pvs]:-}" ]]; then
            for key in "${STORAGE_KEYS[@]}"; do
                expect_match "B: its $key is known" "$(r "$key")" '.'
                expect_not_equal "B: its $key is not the template's" "$(r "$key")" "${template[$key]}"
            done
            expect_disjoint "B: no partition GUID is the template's" "$(r disk_partuuids)" "${template[disk_partuuids]}"
            expect_not_equal "B: not A's machine-id" "$(r machine_id)" "$(report="$case_dir/a-boot-2/report.txt" r machine_id)"
            expect_not_equal "B: not A's PV" "$(r lvm_pvs)" "$(report="$case_dir/a-boot-2/report.txt" r lvm_pvs)"
            expect_not_equal "B: not A's disk GUID" "$(r disk_ptuuid)" "$(report="$case_dir/a-boot-2/report.txt" r disk_ptuuid)"
            expect_not_equal "B: not A's ESP serial" "$(r boot_efi_uuid)" "$(report="$case_dir/a-boot-2/report.txt" r boot_efi_uuid)"
        fi
    fi
    end_case
}

main "$@"
