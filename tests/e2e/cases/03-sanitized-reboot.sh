#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 03-sanitized-reboot.sh BINARY: a sanitized clone booted again changes nothing.
#
# Takes (a copy of) case 01's clone-a after its run, boots it again as the same VM (same
# SMBIOS UUID, MAC and hostname credential) and asserts that machine-id, hostname and host-key
# fingerprints are identical to its previous boot, that the service said "not a clone", and
# that no new run was journaled. Run 01-sealed-clones.sh first (run-all.sh does).
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    local source_dir="$E2E_CASES_WORK/01-sealed-clones"
    local before="$source_dir/clone-a/report.txt"
    [[ -f "$before" && -f "$source_dir/clone-a.raw" ]] || die "no sanitized clone from case 01 in $source_dir: run 01-sealed-clones.sh first"
    new_case 03-sanitized-reboot
    if [[ "$(report_value "$before" verify_exit)" != 0 || "$(report_value "$before" unit.Result)" != success ]]; then
        fail "case 01's clone-a was not sanitized (see its report): nothing to boot again"
        end_case
        return
    fi
    cp --sparse=always "$source_dir/clone-a.raw" "$case_dir/clone-a.raw"

    boot_guest "clone-a, booted again" --uuid "$(cat "$source_dir/vm-uuid")" --mac "$(cat "$source_dir/clone-a.mac")" \
        --credential sanitize-clone.hostname=clone-a "$case_dir/clone-a.raw" "$case_dir/clone-a" || true
    local report="$case_dir/clone-a/report.txt" key
    if [[ -f "$report" ]]; then
        check_sanitized "clone-a again" clone-a
        for key in machine_id hostname etc_hostname ssh_fingerprints dbus_machine_id; do
            expect_equal "clone-a again: $key as on the boot before" "$(r "$key")" "$(report_value "$before" "$key")"
        done
        expect_match "clone-a again: the service says not a clone" "$(r unit_said)" 'Not a clone: DMI product UUID'
        expect_equal "clone-a again: still one run, committed" "$(r status_outcomes)" committed
        expect_equal "clone-a again: no new run in the journal" "$(r journal_started)" 1
        expect_equal "clone-a again: one more kernel boot, no reboot" "$(r kernel_boots)" \
            $(($(report_value "$before" kernel_boots) + 1))
    fi
    end_case
}

main "$@"
