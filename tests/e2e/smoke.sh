#!/bin/bash
# smoke.sh: checks the real-boot harness itself. Builds (or reuses) the Debian 12
# template, makes an image whose report prints the guest's basic state, boots it once
# under QEMU and asserts that it settled as "running" with no failed units, sshd
# active and a DHCP address on its NIC. Prints "N passed, N failed" and the timings.
#
# Usage: sudo tests/e2e/smoke.sh
# Work files go to $E2E_WORK_DIR (default /var/tmp/sanitize-clone-e2e): template/ and smoke/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    need_root
    local template_dir="$E2E_WORK_DIR/template" case_dir="$E2E_WORK_DIR/smoke"
    local started timings=()
    mkdir -p "$case_dir"

    started="$(now)"
    "$E2E_DIR/build-template.sh" "$template_dir"
    timings+=("template: $(seconds_since "$started") s")

    started="$(now)"
    write_payload "$case_dir/payload"
    "$E2E_DIR/make-image.sh" "$template_dir/root" "$case_dir/payload" "$case_dir/disk.raw" >/dev/null
    timings+=("image: $(seconds_since "$started") s")

    started="$(now)"
    if "$E2E_DIR/boot.sh" "$case_dir/disk.raw" "$case_dir/results"; then
        pass "the guest powered off by itself and handed back its report"
    else
        fail "the guest did not hand back a report (see $case_dir/results/console.log)"
    fi
    timings+=("boot: $(seconds_since "$started") s")

    check_report "$case_dir/results/report.txt"
    log "timings: $(IFS=,; echo "${timings[*]}")"
    printf '%s\n' "${timings[@]}" >"$case_dir/timings.txt"
    print_summary
}

# The payload: only a report script. Every command costs 0.3-1 s under TCG: keep it lean.
write_payload() {
    local payload="$1"
    rm -rf "$payload"
    mkdir -p "$payload/usr/local/lib/e2e"
    cat >"$payload/usr/local/lib/e2e/report.sh" <<'EOF'
#!/bin/bash
# Smoke report: the guest's basic state, as key=value lines.
set -u
echo "hostname=$(hostname)"
echo "machine_id=$(cat /etc/machine-id)"
echo "system_state=$(systemctl is-system-running)"
echo "failed_units=$(systemctl --failed --plain --no-legend | wc -l)"
echo "sshd=$(systemctl is-active ssh.service)"
echo "root_mount=$(findmnt -no OPTIONS / | cut -d, -f1)"
# networkd may still be waiting for the DHCP answer: give it a few seconds.
for _ in 1 2 3 4 5 6 7 8 9 10; do
    address="$(ip -4 -o addr show scope global | awk '{ print $2 "=" $4; exit }')"
    [[ -n "$address" ]] && break
    sleep 1
done
echo "ipv4=${address:-none}"
EOF
    chmod 755 "$payload/usr/local/lib/e2e/report.sh"
}

check_report() {
    local report="$1"
    if [[ ! -f "$report" ]]; then
        fail "no report to check"
        return
    fi
    expect_equal "the boot settled" "$(report_value "$report" e2e.settled_state)" running
    expect_equal "report.sh ran" "$(report_value "$report" e2e.report_exit)" 0
    expect_equal "it is the image's first boot" "$(report_value "$report" e2e.boot)" 1
    expect_equal "the system is running" "$(report_value "$report" system_state)" running
    expect_equal "no unit failed" "$(report_value "$report" failed_units)" 0
    expect_equal "sshd is active" "$(report_value "$report" sshd)" active
    expect_equal "the root is read-write" "$(report_value "$report" root_mount)" rw
    expect_equal "the hostname is the template's" "$(report_value "$report" hostname)" e2e-template
    expect_match "the machine-id is set" "$(report_value "$report" machine_id)" '^[0-9a-f]{32}$'
    expect_match "an en* NIC got a DHCP address" "$(report_value "$report" ipv4)" '^en[a-z0-9]+=10\.0\.2\.[0-9]+/24$'
}

main "$@"
