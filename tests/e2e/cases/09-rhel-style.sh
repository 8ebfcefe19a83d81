#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 09-rhel-style.sh BINARY: the layout RHEL-family templates have — UEFI (OVMF) through the
# disk's own GRUB from a GPT disk with an ESP, an ext4 /boot, an LVM PV (VG "rhel") holding an
# XFS root LV and a swap LV, an initramfs made by dracut, NetworkManager only with a keyfile
# bound to the template's MAC — built from Debian 12 packages (E2E_FLAVOUR=rhel-style,
# make-image.sh --layout rhel-style).
#
# Boot 1: the template itself (sanitize-clone enabled): it boots to running, no failed unit,
# its root is XFS on the LV, its NetworkManager connection is up; its report gives every
# storage identity. Then a copy of its disk is sanitized offline (`run --image` with the
# clone's NIC and product UUID, `verify --image`), and boot 2 starts it as a new VM (new MAC
# and UUID): running, no failed unit, every storage identity (ESP serial, /boot, XFS root,
# swap, PV, VG, GPT disk and partition GUIDs) differs from the template's, fstab and grub.cfg
# follow (the boot found them), the connection is up on the new MAC, `verify` passes.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    new_case 09-rhel-style
    E2E_FLAVOUR=rhel-style "$E2E_DIR/build-template.sh" "$E2E_CASES_WORK/rhel-style-template" >&2
    local template_mac clone_mac clone_uuid esp_uuid report
    template_mac="$(random_mac)"
    clone_mac="$(random_mac)"
    clone_uuid="$(random_uuid)"
    esp_uuid="$(random_vfat_uuid)"
    E2E_TEMPLATE_MAC="$template_mac" "$E2E_DIR/make-image.sh" --layout rhel-style --size 1536M --esp-uuid "$esp_uuid" \
        --enable sanitize-clone.service --customize "$E2E_DIR/hooks/nm-template-mac.sh" \
        --customize "$E2E_DIR/hooks/update-catalog.sh" \
        "$E2E_CASES_WORK/rhel-style-template/root" "$E2E_PAYLOAD" "$case_dir/template.raw" >/dev/null

    boot_guest "the RHEL-style template" --uefi --timeout 600 --uuid "$(random_uuid)" --mac "$template_mac" \
        "$case_dir/template.raw" "$case_dir/template" || true
    report="$case_dir/template/report.txt"
    [[ -f "$report" ]] || { end_case; return; }
    expect_equal "template: booted by UEFI firmware" "$(r firmware)" uefi
    expect_equal "template: the boot settled" "$(r e2e.settled_state)" running
    expect_equal "template: no failed units" "$(r failed_units)" ""
    expect_equal "template: the root is XFS" "$(r root_fstype)" xfs
    expect_match "template: dracut's command line (root on the LV)" "$(r cmdline)" 'root=/dev/mapper/rhel-root .*rd.lvm.lv=rhel/root'
    expect_match "template: the connection is up" "$(r nm_active)" '^uplink:[a-z0-9]+:activated$'
    local -A template
    local key
    for key in root_uuid boot_uuid boot_efi_uuid swap_uuids lvm_pvs lvm_vgs disk_ptuuid disk_partuuids; do
        template[$key]="$(r "$key")"
        expect_match "template: its $key is known" "${template[$key]}" '.'
    done

    cp --sparse=always "$case_dir/template.raw" "$case_dir/clone.raw"
    local run_exit=0 verify_exit=0
    "$E2E_BINARY" run --image "$case_dir/clone.raw" --nic "ens3=$clone_mac" --product-uuid "$clone_uuid" \
        --hostname clone-r --json >"$case_dir/run.json" 2>"$case_dir/run.err" || run_exit=$?
    expect_equal "run --image exits 0" "$run_exit" 0
    "$E2E_BINARY" verify --image "$case_dir/clone.raw" --nic "ens3=$clone_mac" --product-uuid "$clone_uuid" \
        >"$case_dir/verify.txt" 2>&1 || verify_exit=$?
    expect_equal "verify --image exits 0" "$verify_exit" 0

    boot_guest "the clone sanitized offline" --uefi --timeout 600 --uuid "$clone_uuid" --mac "$clone_mac" \
        "$case_dir/clone.raw" "$case_dir/clone" || true
    report="$case_dir/clone/report.txt"
    if [[ -f "$report" ]]; then
        expect_equal "clone: the boot settled" "$(r e2e.settled_state)" running
        expect_equal "clone: no failed units" "$(r failed_units)" ""
        expect_equal "clone: the root is XFS" "$(r root_fstype)" xfs
        expect_equal "clone: the hostname" "$(r hostname)" clone-r
        for key in root_uuid boot_uuid boot_efi_uuid swap_uuids lvm_pvs lvm_vgs disk_ptuuid; do
            expect_match "clone: its $key is known" "$(r "$key")" '.'
            expect_not_equal "clone: its $key is not the template's" "$(r "$key")" "${template[$key]}"
        done
        expect_disjoint "clone: no partition GUID is the template's" "$(r disk_partuuids)" "${template[disk_partuuids]}"
        expect_match "clone: the connection is up" "$(r nm_active)" '^uplink:[a-z0-9]+:activated$'
        expect_equal "clone: the keyfile is bound to the clone's MAC" "$(r nm_config_macs)" "mac-address=${clone_mac^^}"
        expect_equal "clone: sanitize-clone verify passes" "$(r verify_exit)" 0
    fi
    end_case
}

main "$@"
