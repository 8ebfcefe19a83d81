#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# 05-network-bindings.sh BINARY: a template whose systemd-networkd configuration is bound to
# the template NIC's MAC (52:54:00:7e:00:01) with the static address 10.0.2.50, and no
# catch-all DHCP file. The sealed clone boots with another MAC and, in the SMBIOS credential
# sanitize-clone.network, its own address 10.0.2.77/24.
#
# Asserted from inside the guest: the .network file now matches the clone's MAC, the address
# was probed (RFC 5227, against QEMU's user network) and written, the NIC is "configured" by
# networkd with 10.0.2.77/24, `verify` passes, and no unit failed. No -uuid: systemd picks a
# random transient machine-id, which the run keeps (no reboot).
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=common.sh
source "$E2E_DIR/cases/common.sh"

main() {
    [[ -n "${E2E_SHARED_READY:-}" ]] || ensure_shared "${1:-}"
    new_case 05-network-bindings
    local mac report
    mac="$(random_mac)"
    "$E2E_DIR/make-image.sh" --customize "$E2E_DIR/hooks/template-network.sh" --customize "$E2E_DIR/hooks/seal.sh" \
        "$E2E_TEMPLATE_ROOT" "$E2E_PAYLOAD" "$case_dir/clone.raw" >/dev/null
    boot_guest "network clone" --mac "$mac" --credential "sanitize-clone.network=* 10.0.2.77/24 gateway=10.0.2.2" \
        "$case_dir/clone.raw" "$case_dir/clone" || true
    report="$case_dir/clone/report.txt"
    if [[ -f "$report" ]]; then
        check_sanitized "network clone" '^[a-z0-9-]+$'
        expect_equal "network clone: the .network file matches the clone's MAC" "$(r net_config_macs)" "MACAddress=$mac"
        expect_match "network clone: networkd configured the NIC" "$(r net_links)" '^en[a-z0-9]+:configured$'
        expect_match "network clone: the NIC has the credential's address" "$(r net_ipv4)" '^en[a-z0-9]+=10\.0\.2\.77/24$'
        expect_match "network clone: the address was probed before it was written" "$(r unit_probe)" '10\.0\.2\.77 is free on en'
        expect_equal "network clone: the template's address is gone" "$(r net_template_address)" 0
    fi
    end_case
}

main "$@"
