#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 02-unsealed-clone.sh BINARY: a template that was never sealed.
#
# 1. The template (sanitize-clone installed and enabled, not sealed) boots once as its own VM
#    (SMBIOS UUID U1, MAC M1): `run --auto` finds nothing recorded, records the fingerprint and
#    changes nothing (machine-id, hostname and host keys stay the template's).
# 2. Its disk is copied (cp --sparse=always, no seal) and booted as a new VM (UUID U2, MAC M2),
#    QEMU allowed to reboot: the product UUID differs, so it is a clone; the run changes the
#    machine-id PID 1 and journald already use, so the service reboots once; after the reboot
#    the clone is unique, `verify` passes and the service says "not a clone".
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    new_case 02-unsealed-clone
    local report template_id template_keys
    template_id="$(template_machine_id)"
    template_keys="$(template_fingerprints)"

    # The template's own boot.
    "$E2E_DIR/make-image.sh" --enable sanitize-clone.service --customize "$E2E_DIR/hooks/update-catalog.sh" \
        "$E2E_TEMPLATE_ROOT" "$E2E_PAYLOAD" "$case_dir/template.raw" >/dev/null
    boot_guest "template" --uuid "$(random_uuid)" --mac "$(random_mac)" \
        "$case_dir/template.raw" "$case_dir/template" || true
    report="$case_dir/template/report.txt"
    if [[ -f "$report" ]]; then
        expect_equal "template: the boot settled" "$(r e2e.settled_state)" running
        expect_equal "template: no failed units" "$(r failed_units)" ""
        expect_equal "template: sanitize-clone.service succeeded" "$(r unit.Result)" success
        expect_match "template: the service recorded the identity" "$(r unit_said)" 'Not a clone: .*recorded'
        expect_equal "template: identity.json exists" "$(r identity_json)" yes
        expect_equal "template: machine-id unchanged" "$(r machine_id)" "$template_id"
        expect_equal "template: hostname unchanged" "$(r hostname)" e2e-template
        expect_equal "template: host keys unchanged" "$(r ssh_fingerprints)" "$template_keys"
        expect_equal "template: no run was started" "$(r journal_started)" 0
        expect_equal "template: sshd is active" "$(r sshd)" active
        expect_equal "template: no ordering cycle" "$(r ordering_cycles)" 0
        expect_before "template: sanitize-clone.service finished before dbus.service started" \
            "$(r unit_exited_usec)" "$(r dbus_started_usec)"
    fi

    # The copy, booted as another VM.
    cp --sparse=always "$case_dir/template.raw" "$case_dir/clone.raw"
    boot_guest "clone" --allow-reboot --uuid "$(random_uuid)" --mac "$(random_mac)" \
        "$case_dir/clone.raw" "$case_dir/clone" || true
    report="$case_dir/clone/report.txt"
    if [[ -f "$report" ]]; then
        check_sanitized clone '^clone-[0-9a-f]{8}$'
        expect_equal "clone: hostname derived from the new machine-id" "$(r hostname)" "clone-$(r machine_id | cut -c1-8)"
        expect_equal "clone: the run committed (journal)" "$(r journal_committed)" 1
        expect_equal "clone: one run, committed (status)" "$(r status_outcomes)" committed
        # The template's boot, the clone's boot that sanitized it, the reboot.
        expect_equal "clone: rebooted once (kernel boots in the journal: template, clone, reboot)" "$(r kernel_boots)" 3
        expect_equal "clone: the report ran once on the clone (after the reboot)" "$(r e2e.boot)" 2
        expect_match "clone: after the reboot it is not a clone" "$(r unit_said)" 'Not a clone: DMI product UUID'
    fi
    end_case
}

main "$@"
