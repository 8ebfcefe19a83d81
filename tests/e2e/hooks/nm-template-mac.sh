#!/bin/bash
# nm-template-mac.sh ROOT: make-image.sh --customize hook. Binds the template's NetworkManager
# keyfile to the template's NIC by MAC ($E2E_TEMPLATE_MAC), as a RHEL installer's keyfile is:
# a clone with another MAC gets no network from it until sanitize-clone rebinds it.
set -euo pipefail
root="$1"
keyfile="$root/etc/NetworkManager/system-connections/uplink.nmconnection"
[[ -n "${E2E_TEMPLATE_MAC:-}" ]] || { echo "nm-template-mac.sh: set E2E_TEMPLATE_MAC" >&2; exit 2; }
[[ -f "$keyfile" ]] || { echo "nm-template-mac.sh: no $keyfile (a root made with E2E_FLAVOUR=rhel-style?)" >&2; exit 2; }
sed -i "s/^\[ethernet\]\$/[ethernet]\nmac-address=${E2E_TEMPLATE_MAC^^}/" "$keyfile"
grep -q "^mac-address=${E2E_TEMPLATE_MAC^^}\$" "$keyfile"
