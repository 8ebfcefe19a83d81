#!/usr/bin/env bash
# make-template-root.sh ROOT [KEY_TYPES] [minimal]
# Builds a small Debian-like root that looks like a freshly cloned VM template: the template's
# machine-id (also in /var/lib/dbus, as bookworm ships it), hostname, /etc/hosts, machine-info,
# sshd_config with an Include, and SSH host keys of KEY_TYPES (default "rsa ecdsa ed25519"); and,
# unless "minimal" is given, a random seed, NetworkManager's secret key, a DHCP lease, an iSCSI
# initiator name and a drop-in task (the benchmark's baseline script knows only the first three).
set -euo pipefail
root=${1:?usage: make-template-root.sh ROOT [KEY_TYPES]}
key_types=${2:-rsa ecdsa ed25519}
minimal=${3:-}

rm -rf "$root"
mkdir -p "$root"/etc/ssh/sshd_config.d "$root"/var/lib/dbus "$root"/etc/sanitize-clone/conf.d "$root"/etc/sanitize-clone/tasks.d "$root"/run

printf 'b7e3d0c2a1f94e5d8c6b5a4f3e2d1c0b\n' > "$root/etc/machine-id"
chmod 0444 "$root/etc/machine-id"
cp "$root/etc/machine-id" "$root/var/lib/dbus/machine-id"
printf 'debian-template\n' > "$root/etc/hostname"
cat > "$root/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
127.0.1.1	debian-template.lab.example debian-template

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters

10.0.0.5	debian-template-backup	# the template's backup peer keeps its name
HOSTS
printf 'PRETTY_HOSTNAME="debian-template"\nCHASSIS=vm\n' > "$root/etc/machine-info"
printf 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' > "$root/etc/os-release"
printf 'root:x:0:\nssh:x:101:\n' > "$root/etc/group"

cat > "$root/etc/ssh/sshd_config" <<'SSHD'
# sshd_config of the template
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin prohibit-password
SSHD
: > "$root/etc/ssh/sshd_config.d/hostkeys.conf"
for type in $key_types; do
  echo "HostKey /etc/ssh/ssh_host_${type}_key" >> "$root/etc/ssh/sshd_config.d/hostkeys.conf"
  ssh-keygen -q -t "$type" -N '' -C root@debian-template -f "$root/etc/ssh/ssh_host_${type}_key"
done

# The other per-machine ids a template carries.
if [[ $minimal != minimal ]]; then
mkdir -p "$root"/var/lib/systemd "$root"/var/lib/NetworkManager "$root"/var/lib/dhcp "$root"/etc/iscsi \
         "$root"/etc/zabbix
head -c 512 /dev/urandom > "$root/var/lib/systemd/random-seed"; chmod 0600 "$root/var/lib/systemd/random-seed"
head -c 32 /dev/urandom > "$root/var/lib/NetworkManager/secret_key"; chmod 0600 "$root/var/lib/NetworkManager/secret_key"
printf 'lease {\n  interface "ens3";\n  fixed-address 192.0.2.10;\n}\n' > "$root/var/lib/dhcp/dhclient.ens3.leases"
printf '## DO NOT EDIT OR REMOVE THIS FILE!\nInitiatorName=iqn.1993-08.org.debian:01:5a6b7c8d9e0f\n' > "$root/etc/iscsi/initiatorname.iscsi"
printf 'Server=zabbix.lab.example\nHostname=debian-template\n' > "$root/etc/zabbix/zabbix_agentd.conf"
cp "$(dirname "$(realpath "$0")")/../examples/tasks.d/zabbix-agent-hostname.task" "$root/etc/sanitize-clone/tasks.d/"

# Network configuration bound to the template's NIC (52:54:00:7e:00:01) with a static address,
# and a NetworkManager profile with a connection UUID; an inventory of per-clone addresses.
mkdir -p "$root"/etc/netplan "$root"/etc/NetworkManager/system-connections
cat > "$root/etc/netplan/50-uplink.yaml" <<'YAML'
# The template's uplink (comments and layout survive sanitize-clone's edits).
network:
  version: 2
  ethernets:
    uplink:
      match:
        macaddress: "52:54:00:7e:00:01"   # the template's NIC
      set-name: ens3
      addresses: [192.0.2.10/24]
      routes:
        - to: default
          via: 192.0.2.1
YAML
chmod 0600 "$root/etc/netplan/50-uplink.yaml"
cat > "$root/etc/NetworkManager/system-connections/backup.nmconnection" <<'KEYFILE'
[connection]
id=backup
uuid=6c0e2b7a-4f55-4d2e-9a1b-3d8f0c7e1a22
type=ethernet
interface-name=ens4

[ipv4]
method=auto
KEYFILE
chmod 0600 "$root/etc/NetworkManager/system-connections/backup.nmconnection"
printf '# <product-uuid or MAC> <interface> <address/prefix>... [gateway=IP]\n52:54:00:c1:0e:07 ens3 192.0.2.107/24 gateway=192.0.2.1\n' \
  > "$root/etc/sanitize-clone/network-inventory"
fi

cat > "$root/etc/sanitize-clone/sanitize-clone.conf" <<'CONF'
# sanitize-clone configuration of the template.
[Hostname]
# Clones without a hostname credential are called demo-<8 digits of their machine-id>.
Prefix=demo
CONF
