#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 04-killed-first-boot.sh BINARY: a sealed clone's first boot killed in the middle of the run.
#
# Boot 1 (kernel command line sanitize_clone.failpoint=ssh-host-keys:change-1:crash): the run
# is SIGKILLed right after writing the first new host key, as by a power cut of the service.
# systemd marks the oneshot failed and the boot settles "degraded"; the report says so, and
# the journal on disk holds an unfinished run. QEMU's kernel command line is fixed per run, so
# boot 2 is a second boot.sh on the same disk, without the failpoint (and allowed to reboot):
# the service recovers the interrupted run (undoes its journaled changes), then sanitizes the
# clone. Asserted after boot 2: the recovery entry in the journal, `status` lists the crashed
# run as rolled-back and a committed one, nothing half-done (a .pub for every key, no
# temporary files), unique identity, `verify` passes.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

FAILPOINT=ssh-host-keys:change-1:crash

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    new_case 04-killed-first-boot
    local vm_uuid mac report
    vm_uuid="$(random_uuid)"
    mac="$(random_mac)"
    cp --sparse=always "$E2E_SEALED_IMAGE" "$case_dir/clone-d.raw"

    boot_guest "boot 1 (failpoint)" --append "sanitize_clone.failpoint=$FAILPOINT" --uuid "$vm_uuid" --mac "$mac" \
        --credential sanitize-clone.hostname=clone-d "$case_dir/clone-d.raw" "$case_dir/boot-1" || true
    report="$case_dir/boot-1/report.txt"
    if [[ -f "$report" ]]; then
        expect_equal "boot 1: the failpoint reached the guest" "$(r failpoint)" "$FAILPOINT"
        expect_equal "boot 1: the boot settled degraded" "$(r e2e.settled_state)" degraded
        expect_match "boot 1: sanitize-clone.service failed" "$(r failed_units)" '(^|,)sanitize-clone\.service(,|$)'
        expect_equal "boot 1: killed by a signal" "$(r unit.Result)" signal
        expect_equal "boot 1: by SIGKILL" "$(r unit.ExecMainStatus)" 9
        expect_equal "boot 1: the run is unfinished (status)" "$(r status_outcomes)" unfinished
        expect_equal "boot 1: a run waits for recovery" "$(r recovery_pending)" true
        expect_equal "boot 1: the run started (journal)" "$(r journal_started)" 1
        expect_equal "boot 1: nothing committed" "$(r journal_committed)" 0
        expect_equal "boot 1: no ordering cycle" "$(r ordering_cycles)" 0
        expect_before "boot 1: the killed service ended before dbus.service started" \
            "$(r unit_exited_usec)" "$(r dbus_started_usec)"
    fi

    boot_guest "boot 2" --allow-reboot --uuid "$vm_uuid" --mac "$mac" \
        --credential sanitize-clone.hostname=clone-d "$case_dir/clone-d.raw" "$case_dir/boot-2" || true
    report="$case_dir/boot-2/report.txt"
    if [[ -f "$report" ]]; then
        expect_equal "boot 2: no failpoint" "$(r failpoint)" ""
        check_sanitized "boot 2" clone-d
        expect_not_equal "boot 2: machine-id is not the one systemd derives from the UUID" "$(r machine_id)" "${vm_uuid//-/}"
        expect_equal "boot 2: the interrupted run was recovered (journal)" "$(r journal_recovery)" 1
        expect_equal "boot 2: ... and rolled back (journal)" "$(r journal_rolled_back)" 1
        expect_equal "boot 2: status: the crashed run rolled back, the next committed" "$(r status_outcomes)" rolled-back,committed
        expect_equal "boot 2: one run committed (journal)" "$(r journal_committed)" 1
    fi
    end_case
}

main "$@"
