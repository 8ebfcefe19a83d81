#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# run-all.sh BINARY: the real-boot proof of sanitize-clone (`make e2e`). Boots Debian 12 clones
# under QEMU and checks, from the reports their guests hand back, every case in cases/:
#
#   01-sealed-clones     two sealed clones with one SMBIOS UUID, booted at the same time
#   02-unsealed-clone    an unsealed template's own boot, then its copy booted as a new VM
#   03-sanitized-reboot  a sanitized clone (01's clone-a) booted again: nothing changes
#   04-killed-first-boot a first boot killed mid-run by a failpoint, then booted again
#   05-network-bindings  a template whose networkd config names its NIC's MAC and a static
#                        address: the clone's NIC comes up configured with the credential's address
#   06-own-bootloader    a GPT disk booted by OVMF through its own GRUB (no -kernel)
#   07-deb-package       `make deb` installed into a copy of the guest root with dpkg --root, then purged
#   08-next-boot-uuids   a sealed clone on such a disk: its root's new UUID set by the initramfs,
#                        GRUB, the EFI stub and fstab following, a third boot on the new UUID
#
# BINARY is the static sanitize-clone to test (`make build` → build/sanitize-clone). It is
# installed with `make install DESTDIR=… PREFIX=/usr` into the guest, with the units, the
# udev rule and the catalog of this checkout. At most two guests run at once (-smp 1 each):
# 01 first (two guests), then 02 beside 03 and 04.
#
# Prints each case's log, the time of each case and the total, and last "N passed, N failed";
# exits non-zero when anything failed. Work files: $E2E_WORK_DIR/cases (default
# /var/tmp/sanitize-clone-e2e/cases); every case's results stay there for inspection.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=cases/common.sh
source "$E2E_DIR/cases/common.sh"

usage() {
    echo "usage: $E2E_SCRIPT BINARY" >&2
    exit 2
}

main() {
    (($# == 1)) || usage
    need_root
    need_commands qemu-system-x86_64 debootstrap zstd mkfs.ext4 debugfs make ssh-keygen journalctl
    local started prepare_started
    started="$(now)"
    prepare_started="$(now)"
    ensure_shared "$1"
    export E2E_SHARED_READY=1
    local prepare_seconds
    prepare_seconds="$(seconds_since "$prepare_started")"
    log "template, payload and sealed image ready ($prepare_seconds s)"

    local results_dir="$E2E_CASES_WORK/results"
    remove_tree "$results_dir"
    mkdir -p "$results_dir"

    # The RHEL-style template (case 09) builds while 01 boots: debootstrap and dpkg, not TCG.
    local rhel_template_log="$E2E_CASES_WORK/rhel-style-template.log"
    E2E_FLAVOUR=rhel-style "$E2E_DIR/build-template.sh" "$E2E_CASES_WORK/rhel-style-template" >"$rhel_template_log" 2>&1 &
    local rhel_template=$!
    on_exit stop_process "$rhel_template"

    local lane_a lane_b
    run_case 01-sealed-clones
    { run_case 09-rhel-style; run_case 05-network-bindings; } &
    lane_a=$!
    { run_case 02-unsealed-clone; run_case 03-sanitized-reboot; run_case 04-killed-first-boot; run_case 06-own-bootloader;
      run_case 07-deb-package; run_case 08-next-boot-uuids; } &
    lane_b=$!
    on_exit stop_lanes "$lane_a" "$lane_b"
    wait "$lane_a" || true
    wait "$lane_b" || true

    summarize "$prepare_seconds" "$(seconds_since "$started")"
}

# Runs cases/NAME.sh with its output in $results_dir, then prints its log. Never fails:
# the summary counts what it reported.
run_case() {
    local name="$1" status=0 case_started
    case_started="$(now)"
    log "case $name started"
    "$E2E_DIR/cases/$name.sh" >"$results_dir/$name.out" 2>"$results_dir/$name.log" || status=$?
    seconds_since "$case_started" >"$results_dir/$name.seconds"
    echo "$status" >"$results_dir/$name.status"
    {
        echo "----- $name (exit $status, $(cat "$results_dir/$name.seconds") s) -----"
        cat "$results_dir/$name.log" "$results_dir/$name.out"
    } >&2
}

# Stops a lane still running when run-all.sh is interrupted (its boot.sh stops its QEMU).
stop_lanes() {
    local pid
    for pid in "$@"; do
        stop_process "$pid" 20
    done
}

summarize() {
    local prepare_seconds="$1" total_seconds="$2" name out summary passed=0 failed=0 p f
    printf '%-22s %8s  %s\n' "case" "seconds" "result"
    printf '%-22s %8s  %s\n' "(template+payload+seal)" "$prepare_seconds" ""
    for out in "$results_dir"/*.out; do
        name="$(basename "$out" .out)"
        summary="$(tail -n 1 "$out")"
        if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            p="${BASH_REMATCH[1]}" f="${BASH_REMATCH[2]}"
        else
            p=0 f=1
            summary="no summary (exit $(cat "$results_dir/$name.status")): counted as 1 failed"
        fi
        passed=$((passed + p)) failed=$((failed + f))
        printf '%-22s %8s  %s\n' "$name" "$(cat "$results_dir/$name.seconds")" "$summary"
    done
    printf '%-22s %8s\n' "total" "$total_seconds"
    # print_summary (lib.sh) prints and judges these.
    E2E_PASSED=$passed
    E2E_FAILED=$failed
    print_summary
}

main "$@"
