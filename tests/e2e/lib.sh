# shellcheck shell=bash
# lib.sh: shared functions for the real-boot end-to-end scripts in tests/e2e/.
#
# Source it from a script that runs with `set -euo pipefail`:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It provides:
#   - logging with timestamps on stderr (log, warn, die), and a stopwatch;
#   - preconditions (need_root, need_commands);
#   - one cleanup stack run on every exit path (on_exit), with idempotent
#     actions that never leave mounts, chroot processes or QEMU behind;
#   - small assertion helpers for test cases (expect_equal, expect_match, ...).
#
# Nothing here changes the host's identity or network: mounts are bind mounts
# below directories we created, processes are killed by the id we started them
# with, and trees are removed only when nothing is mounted below them.

# shellcheck disable=SC2034 # used by the scripts that source this file
E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_SCRIPT="$(basename "$0")"

# Where build-template.sh keeps its tarballs between runs.
E2E_CACHE_DIR="${E2E_CACHE_DIR:-/var/cache/sanitize-clone-e2e}"
# Default working area for templates, images and results (sparse files, ~1.1 GB at peak).
E2E_WORK_DIR="${E2E_WORK_DIR:-/var/tmp/sanitize-clone-e2e}"
# The kernel command line after root=: boot.sh passes it with -append, make-image.sh
# --bootable writes it into the image's grub.cfg.
E2E_KERNEL_CMDLINE="ro console=ttyS0 quiet mitigations=off panic=-1"

# --- Logging ---------------------------------------------------------------

# Prints a timestamped message on stderr, so stdout stays free for results.
log() {
    printf '%s %s: %s\n' "$(date +%H:%M:%S)" "$E2E_SCRIPT" "$*" >&2
}

warn() {
    log "warning: $*"
}

# Prints a message and exits; the cleanup stack still runs.
die() {
    log "error: $*"
    exit 1
}

# Seconds since the epoch with a fraction, for timings.
now() {
    date +%s.%N
}

# Prints the seconds elapsed since START (a value from `now`), one decimal.
seconds_since() {
    local start="$1"
    awk -v start="$start" -v end="$(now)" 'BEGIN { printf "%.1f", end - start }'
}

# --- Preconditions ---------------------------------------------------------

need_root() {
    [[ ${EUID} -eq 0 ]] || die "must run as root (it mounts, chroots and writes $E2E_CACHE_DIR); try: sudo $0"
}

# Fails with the list of missing commands and the packages that provide them.
need_commands() {
    local missing=() command
    for command in "$@"; do
        command -v "$command" >/dev/null 2>&1 || missing+=("$command")
    done
    if ((${#missing[@]} > 0)); then
        die "missing commands: ${missing[*]} (try: apt-get install -y debootstrap qemu-system-x86 zstd e2fsprogs)"
    fi
}

# --- Cleanup stack ---------------------------------------------------------
#
# on_exit CMD [ARGS...] pushes one command; they run in reverse order when the
# script exits for any reason (success, error under set -e, die, Ctrl-C,
# SIGTERM). Every action must be safe to run twice, because scripts may also
# call the same action early on their normal path (e.g. unmount before mkfs).

_e2e_cleanup_actions=()

on_exit() {
    local quoted
    printf -v quoted '%q ' "$@"
    _e2e_cleanup_actions+=("$quoted")
}

# Runs and forgets every pushed action, newest first; keeps going on failure.
run_cleanup() {
    local index action errexit=0
    [[ $- == *e* ]] && errexit=1
    set +e
    for ((index = ${#_e2e_cleanup_actions[@]} - 1; index >= 0; index--)); do
        action="${_e2e_cleanup_actions[index]}"
        eval "$action" || warn "cleanup step failed: $action"
    done
    _e2e_cleanup_actions=()
    if ((errexit)); then set -e; fi
}

_e2e_on_exit() {
    local status=$?
    trap - EXIT INT TERM HUP
    run_cleanup
    exit "$status"
}

# A signal becomes a normal exit, so the EXIT trap (and the cleanup) runs once.
trap _e2e_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- Idempotent cleanup actions ---------------------------------------------

# True when PATH is the target of a mount in this namespace.
is_mounted() {
    local path
    path="$(realpath -m "$1")"
    awk -v path="$path" '$5 == path { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Lists mount points at or below DIR, deepest first.
mounts_below() {
    local dir
    dir="$(realpath -m "$1")"
    awk -v dir="$dir" '$5 == dir || index($5, dir "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# Unmounts PATH if it is mounted; falls back to a lazy unmount when busy.
unmount_if_mounted() {
    local path="$1" _
    for _ in 1 2 3; do
        is_mounted "$path" || return 0
        umount "$path" 2>/dev/null && continue
        sleep 1
    done
    if is_mounted "$path"; then
        warn "$path is busy; detaching it lazily"
        umount --lazy "$path"
    fi
}

# Unmounts everything at or below DIR.
unmount_all_below() {
    local mount_point
    while read -r mount_point; do
        [[ -n "$mount_point" ]] && unmount_if_mounted "$mount_point"
    done < <(mounts_below "$1")
}

# Kills processes whose root directory is DIR (daemons a package started in a chroot).
kill_processes_rooted_in() {
    local dir pid link
    dir="$(realpath -m "$1")"
    for link in /proc/[0-9]*/root; do
        pid="${link#/proc/}"
        pid="${pid%/root}"
        [[ "$(readlink "$link" 2>/dev/null)" == "$dir" ]] || continue
        warn "killing process $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) still running in $dir"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# Removes DIR, refusing when anything is still mounted below it: rm -rf through
# a bind mount of /dev or /sys would damage the host.
remove_tree() {
    local dir="$1"
    [[ -e "$dir" ]] || return 0
    if [[ -n "$(mounts_below "$dir")" ]]; then
        warn "not removing $dir: still mounted below it: $(mounts_below "$dir" | tr '\n' ' ')"
        return 1
    fi
    rm -rf --one-file-system -- "$dir"
}

# Stops a process we started (by its id) and reaps it: TERM, then KILL after a grace period.
stop_process() {
    local pid="$1" grace="${2:-10}" waited=0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((waited < grace)); do
        sleep 1
        waited=$((waited + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Creates a private temporary directory that the cleanup stack removes.
# Usage: make_temp_dir VAR [PARENT]
make_temp_dir() {
    local -n _dir_var="$1"
    local parent="${2:-${TMPDIR:-/tmp}}"
    mkdir -p "$parent"
    _dir_var="$(mktemp -d "$parent/.${E2E_SCRIPT%.sh}.XXXXXX")"
    on_exit remove_tree "$_dir_var"
}

# --- Chroot helpers ----------------------------------------------------------

# Binds /proc, /sys (read-only), /dev and /dev/pts into ROOT; the cleanup stack
# undoes it. Each mount is made private so nothing propagates back to the host.
mount_chroot_filesystems() {
    local root="$1"
    on_exit unmount_chroot_filesystems "$root"
    mount -t proc proc "$root/proc"
    mount --bind /sys "$root/sys"
    mount -o remount,bind,ro "$root/sys"
    mount --bind /dev "$root/dev"
    mount --make-private "$root/dev"
    mount --bind /dev/pts "$root/dev/pts"
    mount --make-private "$root/dev/pts"
}

# Stops what still runs in ROOT and unmounts what mount_chroot_filesystems mounted.
unmount_chroot_filesystems() {
    local root="$1"
    kill_processes_rooted_in "$root"
    unmount_all_below "$root"
}

# Runs a command inside ROOT with a clean, non-interactive environment.
in_chroot() {
    local root="$1"
    shift
    env -i \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root \
        LC_ALL=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive \
        DEBCONF_NONINTERACTIVE_SEEN=true \
        chroot "$root" "$@"
}

# --- Identifiers ------------------------------------------------------------------

# A random vfat volume id in the form blkid and fstab show it (XXXX-XXXX, upper case).
random_vfat_uuid() {
    local hex
    hex="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)"
    echo "${hex:0:4}-${hex:4:4}"
}

# --- Report files and assertions ------------------------------------------------
#
# Guests report `key=value` lines (see build-template.sh, e2e-report.service).

# Prints the value of KEY in a report file (the last one if repeated); empty if absent.
report_value() {
    local file="$1" key="$2"
    awk -v key="$key" 'index($0, key "=") == 1 { value = substr($0, length(key) + 2) } END { print value }' "$file"
}

E2E_PASSED=0
E2E_FAILED=0

pass() {
    E2E_PASSED=$((E2E_PASSED + 1))
    log "PASS: $*"
}

fail() {
    E2E_FAILED=$((E2E_FAILED + 1))
    log "FAIL: $*"
}

# expect_equal DESCRIPTION ACTUAL EXPECTED
expect_equal() {
    local description="$1" actual="$2" expected="$3"
    if [[ "$actual" == "$expected" ]]; then
        pass "$description ($actual)"
    else
        fail "$description: expected '$expected', got '$actual'"
    fi
}

# expect_not_equal DESCRIPTION ACTUAL UNEXPECTED
expect_not_equal() {
    local description="$1" actual="$2" unexpected="$3"
    if [[ "$actual" != "$unexpected" ]]; then
        pass "$description ($actual)"
    else
        fail "$description: expected anything but '$unexpected'"
    fi
}

# expect_match DESCRIPTION ACTUAL EXTENDED_REGEX
expect_match() {
    local description="$1" actual="$2" pattern="$3"
    if [[ "$actual" =~ $pattern ]]; then
        pass "$description ($actual)"
    else
        fail "$description: '$actual' does not match /$pattern/"
    fi
}

# expect_file DESCRIPTION PATH
expect_file() {
    local description="$1" path="$2"
    if [[ -s "$path" ]]; then
        pass "$description"
    else
        fail "$description: $path is missing or empty"
    fi
}

# Prints "N passed, N failed" on stdout; returns non-zero when anything failed.
print_summary() {
    printf '%d passed, %d failed\n' "$E2E_PASSED" "$E2E_FAILED"
    ((E2E_FAILED == 0))
}
