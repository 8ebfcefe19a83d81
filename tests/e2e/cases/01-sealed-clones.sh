#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 01-sealed-clones.sh BINARY: two clones of a template sealed offline (`sanitize-clone seal
# --root`), started at the same time with the SAME SMBIOS UUID (`-uuid`), each with its
# hostname in a credential: clone-a's through SMBIOS type 11, clone-b's through fw_cfg
# (the two QEMU lines docs/guides/libvirt-qemu.md quotes).
#
# systemd 252 derives the transient machine-id of a sealed clone from the SMBIOS UUID, so
# both clones come up with one id: sanitize-clone must replace it and reboot once (QEMU
# runs with --allow-reboot). Asserted from inside each guest: running, no failed unit,
# machine-ids differ from the template's and from each other, hostnames from the
# credentials, new SSH host keys, sshd active, `verify` passes, the run's committed entry
# in the journal, no ordering cycle.
#
# Leaves $E2E_CASES_WORK/01-sealed-clones/clone-a.raw (and its results) for case 03.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    new_case 01-sealed-clones
    local vm_uuid name pids=() status
    vm_uuid="$(random_uuid)"
    echo "$vm_uuid" >"$case_dir/vm-uuid"
    for name in clone-a clone-b; do
        cp --sparse=always "$E2E_SEALED_IMAGE" "$case_dir/$name.raw"
        random_mac >"$case_dir/$name.mac"
    done
    "$E2E_DIR/boot.sh" --allow-reboot --uuid "$vm_uuid" --mac "$(cat "$case_dir/clone-a.mac")" \
        --credential "sanitize-clone.hostname=clone-a" "$case_dir/clone-a.raw" "$case_dir/clone-a" &
    pids+=($!)
    "$E2E_DIR/boot.sh" --allow-reboot --uuid "$vm_uuid" --mac "$(cat "$case_dir/clone-b.mac")" \
        "$case_dir/clone-b.raw" "$case_dir/clone-b" \
        -fw_cfg name=opt/io.systemd.credentials/sanitize-clone.hostname,string=clone-b &
    pids+=($!)
    for name in clone-a clone-b; do
        status=0
        wait "${pids[0]}" || status=$?
        pids=("${pids[@]:1}")
        expect_equal "$name: the guest handed back its report" "$status" 0
    done

    local report
    for name in clone-a clone-b; do
        report="$case_dir/$name/report.txt"
        [[ -f "$report" ]] || { fail "$name: no report"; continue; }
        check_sanitized "$name" "$name"
        expect_not_equal "$name: machine-id is not the one systemd derives from the shared UUID" \
            "$(r machine_id)" "${vm_uuid//-/}"
        expect_equal "$name: the run committed (journal)" "$(r journal_committed)" 1
        expect_equal "$name: one run, committed (status)" "$(r status_outcomes)" committed
        # The id systemd derived from the shared UUID was replaced: one reboot, then a
        # boot that finds nothing to do.
        expect_equal "$name: rebooted once (kernel boots in the journal)" "$(r kernel_boots)" 2
        expect_match "$name: the second boot is not a clone" "$(r unit_said)" 'Not a clone'
        expect_equal "$name: the identity record is no longer sealed" "$(r identity_sealed)" false
    done
    local a="$case_dir/clone-a/report.txt" b="$case_dir/clone-b/report.txt"
    if [[ -f "$a" && -f "$b" ]]; then
        expect_not_equal "the clones' machine-ids differ" "$(report_value "$a" machine_id)" "$(report_value "$b" machine_id)"
        expect_disjoint "the clones' SSH host keys differ" "$(report_value "$a" ssh_fingerprints)" "$(report_value "$b" ssh_fingerprints)"
    fi
    end_case
}

main "$@"
