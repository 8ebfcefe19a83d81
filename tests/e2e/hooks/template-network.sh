#!/bin/bash
# template-network.sh ROOT: make-image.sh --customize hook for case 05. Gives the template the
# network configuration an administrator often leaves in one: systemd-networkd bound to the
# template NIC's MAC (52:54:00:7e:00:01) with a static address, and no catch-all DHCP file, so
# a clone whose NIC has another MAC stays unconfigured unless the binding is rebound.
set -euo pipefail
root="$1"
rm -f "$root/etc/systemd/network/80-e2e-dhcp.network"
cat >"$root/etc/systemd/network/10-template.network" <<'NETWORK'
# The template's uplink, bound to its NIC.
[Match]
MACAddress=52:54:00:7e:00:01

[Network]
Address=10.0.2.50/24
Gateway=10.0.2.2
DNS=10.0.2.3
NETWORK
