#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 07-deb-package.sh BINARY: `make deb` installed into a copy of the clean Debian 12 guest root
# (never into this machine) with `dpkg --root`, whose maintainer scripts run chrooted there:
# every file in place, the journal catalog updated, no identity recorded (a chroot is not the
# machine), the service enabled with `systemctl --root`, the binary runs inside the root, and
# `dpkg --purge` removes everything again. No boot: about 20 seconds.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    new_case 07-deb-package
    local bin_dir root="$case_dir/root" deb
    make_temp_dir bin_dir "$case_dir"
    cp "$E2E_BINARY" "$bin_dir/sanitize-clone"
    make -s -C "$E2E_REPO" -o build deb BUILD="$bin_dir" >&2
    deb="$(echo "$bin_dir"/sanitize-clone_*_amd64.deb)"
    expect_file "the package was built" "$deb"
    cp -a "$E2E_TEMPLATE_ROOT" "$root"

    local status=0 output
    output="$(dpkg --root="$root" -i "$deb" 2>&1)" || status=$?
    expect_equal "dpkg -i into the guest root succeeds" "$status" 0
    [[ $status == 0 ]] || printf '%s\n' "$output" >&2
    expect_equal "dpkg lists it installed" "$(dpkg --root="$root" -s sanitize-clone 2>/dev/null | sed -n 's/^Status: //p')" "install ok installed"
    local file
    for file in usr/bin/sanitize-clone usr/lib/systemd/system/sanitize-clone.service usr/lib/systemd/system/sanitize-clone-vmgenid.service \
        usr/lib/udev/rules.d/60-sanitize-clone-vmgenid.rules usr/lib/systemd/catalog/sanitize-clone.catalog \
        usr/share/man/man8/sanitize-clone.8 usr/share/man/man5/sanitize-clone.conf.5 usr/share/man/man8/sanitize-clone.service.8 \
        usr/share/bash-completion/completions/sanitize-clone usr/share/zsh/vendor-completions/_sanitize-clone \
        usr/share/fish/vendor_completions.d/sanitize-clone.fish etc/sanitize-clone/sanitize-clone.conf; do
        expect_file "installed: /$file" "$root/$file"
    done
    expect_match "postinst updated the journal catalog" \
        "$(chroot "$root" journalctl --list-catalog 2>/dev/null | grep -c ac32b14970f74fdb82bdb1d6d5c02cc8 || true)" '^[1-9]'
    expect_equal "postinst recorded no identity inside a chroot" "$([[ -e $root/var/lib/sanitize-clone/identity.json ]] && echo yes || echo no)" no
    expect_equal "the service is not enabled by the package" "$(systemctl --root="$root" is-enabled sanitize-clone.service 2>/dev/null || true)" disabled
    systemctl --root="$root" enable sanitize-clone.service >/dev/null 2>&1 || true
    expect_equal "systemctl --root enable works" "$(systemctl --root="$root" is-enabled sanitize-clone.service 2>/dev/null || true)" enabled
    # The Swift runtime reads its arguments from /proc: mount one, in a mount namespace of its own.
    in_guest() { unshare --mount --fork sh -c 'mount -t proc proc "$0/proc" && chroot "$0" "$@"' "$root" "$@"; }
    expect_match "the binary runs inside the root" "$(in_guest sanitize-clone tasks 2>&1 | head -n 1)" '^1\. machine-id'
    expect_equal "the default configuration parses inside the root" "$(in_guest sanitize-clone cat-config >/dev/null 2>&1; echo $?)" 0

    status=0
    output="$(dpkg --root="$root" --purge sanitize-clone 2>&1)" || status=$?
    expect_equal "dpkg --purge succeeds" "$status" 0
    expect_equal "purge removed the binary" "$([[ -e $root/usr/bin/sanitize-clone ]] && echo present || echo gone)" gone
    expect_equal "purge removed the configuration" "$([[ -e $root/etc/sanitize-clone/sanitize-clone.conf ]] && echo present || echo gone)" gone
    remove_tree "$root"
    end_case
}

main "$@"
