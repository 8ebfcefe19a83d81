# shellcheck shell=bash
# common.sh: what the sanitize-clone cases share. Sourced by tests/e2e/cases/NN-*.sh after
# ../lib.sh.
#
# ensure_shared BINARY prepares, once per binary and source tree (later calls only check
# stamps), in $E2E_CASES_WORK (default $E2E_WORK_DIR/cases):
#   template/          the Debian 12 guest (build-template.sh, cached)
#   payload/           `make install DESTDIR=payload PREFIX=/usr` with BINARY, the guest's
#                      report.sh and /var/log/journal (a persistent journal, so a report
#                      still sees the entries of the boot before a reboot)
#   sealed.raw         template + payload, sealed offline with `sanitize-clone seal --root`
# and exports E2E_TEMPLATE_ROOT, E2E_PAYLOAD, E2E_SEALED_IMAGE.
#
# Every case gets its own directory (case_dir) and prints "N passed, N failed" on stdout.

E2E_CASES_WORK="${E2E_CASES_WORK:-$E2E_WORK_DIR/cases}"
E2E_REPO="$(cd "$E2E_DIR/../.." && pwd)"
# The catalog's MESSAGE_IDs the cases look for are in guest/report.sh.

ensure_shared() {
    local binary="${1:?usage: $E2E_SCRIPT BINARY (the static sanitize-clone to test)}"
    [[ -x "$binary" ]] || die "$binary is not an executable"
    binary="$(realpath "$binary")"
    need_root
    mkdir -p "$E2E_CASES_WORK"
    export E2E_TEMPLATE_ROOT="$E2E_CASES_WORK/template/root"
    export E2E_PAYLOAD="$E2E_CASES_WORK/payload"
    export E2E_SEALED_IMAGE="$E2E_CASES_WORK/sealed.raw"
    export E2E_BINARY="$binary"

    "$E2E_DIR/build-template.sh" "$E2E_CASES_WORK/template"

    # The stamp: the binary, everything make install copies, the report and the hooks.
    local stamp
    stamp="$({
        cat "$E2E_CASES_WORK/template/template.key"
        sha256sum "$binary" "$E2E_REPO"/systemd/* "$E2E_REPO/Makefile" "$E2E_DIR"/guest/* "$E2E_DIR"/hooks/*
    } | sha256sum | cut -c1-16)"
    if [[ "$(cat "$E2E_CASES_WORK/shared.stamp" 2>/dev/null)" == "$stamp" && -f "$E2E_SEALED_IMAGE" ]]; then
        log "payload and sealed image are up to date ($stamp)"
        return 0
    fi
    rm -f "$E2E_CASES_WORK/shared.stamp"
    make_payload "$binary" "$E2E_PAYLOAD"
    "$E2E_DIR/make-image.sh" --customize "$E2E_DIR/hooks/seal.sh" \
        "$E2E_TEMPLATE_ROOT" "$E2E_PAYLOAD" "$E2E_SEALED_IMAGE" >/dev/null
    echo "$stamp" >"$E2E_CASES_WORK/shared.stamp"
}

# make_payload BINARY DIR: what an administrator installs into the template.
make_payload() {
    local binary="$1" payload="$2" bin_dir
    remove_tree "$payload"
    mkdir -p "$payload"
    # `make install` takes the binary from $(BUILD)/sanitize-clone; -o build: never rebuild it
    # here (the caller built it, in its own scratch directory).
    make_temp_dir bin_dir "$E2E_CASES_WORK"
    cp "$binary" "$bin_dir/sanitize-clone"
    make -s -C "$E2E_REPO" -o build install DESTDIR="$payload" PREFIX=/usr BUILD="$bin_dir" >&2
    install -D -m 0755 "$E2E_DIR/guest/report.sh" "$payload/usr/local/lib/e2e/report.sh"
    install -d -m 2755 "$payload/var/log/journal"
    log "payload installed in $payload"
}

# new_case NAME: sets case_dir (emptied) and starts the case's stopwatch.
new_case() {
    case_dir="$E2E_CASES_WORK/$1"
    remove_tree "$case_dir"
    mkdir -p "$case_dir"
    case_started="$(now)"
}

# end_case: logs the case's time, prints "N passed, N failed", returns non-zero on a failure.
end_case() {
    local seconds
    seconds="$(seconds_since "$case_started")"
    echo "$seconds" >"$case_dir/seconds"
    log "$E2E_SCRIPT took $seconds s"
    print_summary
}

# boot_guest DESCRIPTION boot.sh-ARGS...: boots and counts whether a report came back.
boot_guest() {
    local description="$1"
    shift
    if "$E2E_DIR/boot.sh" "$@"; then
        pass "$description: the guest handed back its report"
    else
        fail "$description: no report (see the console.log in its results directory)"
        return 1
    fi
}

# The machine-id and host-key fingerprints the template itself has.
template_machine_id() {
    cat "$E2E_TEMPLATE_ROOT/etc/machine-id"
}

template_fingerprints() {
    cat "$E2E_TEMPLATE_ROOT"/etc/ssh/ssh_host_*_key.pub | ssh-keygen -lf - | awk '{ print $2 }' | sort | paste -sd, -
}

# A random SMBIOS UUID and MAC for one VM.
random_uuid() {
    cat /proc/sys/kernel/random/uuid
}

random_mac() {
    local bytes
    bytes="$(od -An -N3 -tx1 /dev/urandom | tr -s ' ' ':')"
    echo "52:54:00${bytes%:}"
}

# r KEY: a value of the report being checked (set report=FILE first).
# shellcheck disable=SC2154 # report is set by the caller
r() {
    report_value "$report" "$1"
}

# expect_disjoint DESCRIPTION LIST_A LIST_B: comma lists without a common element (both non-empty).
expect_disjoint() {
    local description="$1" a="$2" b="$3" common
    if [[ -z "$a" || -z "$b" ]]; then
        fail "$description: an empty list ('$a' / '$b')"
        return
    fi
    common="$(comm -12 <(tr ',' '\n' <<<"$a" | sort) <(tr ',' '\n' <<<"$b" | sort))"
    if [[ -z "$common" ]]; then
        pass "$description"
    else
        fail "$description: shared $common"
    fi
}

# The checks every booted, sanitized clone must pass (report=FILE of its last boot).
# check_sanitized LABEL EXPECTED_HOSTNAME(or a regex starting with ^)
check_sanitized() {
    local label="$1" hostname="$2" template_id template_keys
    template_id="$(template_machine_id)"
    template_keys="$(template_fingerprints)"
    expect_equal "$label: the boot settled" "$(r e2e.settled_state)" running
    expect_equal "$label: no failed units" "$(r failed_units)" ""
    expect_match "$label: machine-id is valid" "$(r machine_id)" '^[0-9a-f]{32}$'
    expect_not_equal "$label: machine-id differs from the template's" "$(r machine_id)" "$template_id"
    expect_equal "$label: D-Bus machine-id matches" "$(r dbus_machine_id)" "$(r machine_id)"
    if [[ "$hostname" == ^* ]]; then
        expect_match "$label: hostname" "$(r hostname)" "$hostname"
    else
        expect_equal "$label: hostname" "$(r hostname)" "$hostname"
    fi
    expect_equal "$label: /etc/hostname holds the running name" "$(r etc_hostname)" "$(r hostname)"
    expect_equal "$label: /etc/hosts names it" "$(r hosts_names_hostname)" yes
    expect_disjoint "$label: SSH host keys are new" "$(r ssh_fingerprints)" "$template_keys"
    expect_equal "$label: a public key for every private key" "$(r ssh_public_keys)" "$(r ssh_private_keys)"
    expect_equal "$label: as many host keys as the template had" "$(r ssh_private_keys)" \
        "$(find "$E2E_TEMPLATE_ROOT/etc/ssh" -maxdepth 1 -name 'ssh_host_*_key' | wc -l)"
    expect_equal "$label: no temporary files left" "$(r temp_leftovers)" ""
    expect_equal "$label: sshd is active" "$(r sshd)" active
    expect_equal "$label: sanitize-clone verify passes" "$(r verify_exit)" 0
    expect_equal "$label: sanitize-clone.service succeeded" "$(r unit.Result)" success
    expect_equal "$label: no run waits for recovery" "$(r recovery_pending)" false
    expect_equal "$label: no ordering cycle in the journal" "$(r ordering_cycles)" 0
    expect_before "$label: sanitize-clone.service finished before dbus.service started" \
        "$(r unit_exited_usec)" "$(r dbus_started_usec)"
}

# expect_before DESCRIPTION EARLIER_USEC LATER_USEC: two monotonic timestamps, both set, in order.
expect_before() {
    local description="$1" earlier="$2" later="$3"
    if [[ "$earlier" =~ ^[1-9][0-9]*$ && "$later" =~ ^[1-9][0-9]*$ ]] && ((earlier < later)); then
        pass "$description ($earlier < $later µs)"
    else
        fail "$description: '$earlier' is not before '$later'"
    fi
}
