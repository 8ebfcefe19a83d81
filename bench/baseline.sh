#!/bin/sh
# what an admin's script does, sequentially, no journal; $1 is the root
R=$1
id=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n'); printf '%s\n' "$id" > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"; dbus-uuidgen --ensure="$R/var/lib/dbus/machine-id"
old=$(cat "$R/etc/hostname"); echo clone-9 > "$R/etc/hostname"; sed -i "s/\b$old\b/clone-9/g" "$R/etc/hosts"
for t in ed25519 ecdsa; do rm -f "$R/etc/ssh/ssh_host_${t}_key" "$R/etc/ssh/ssh_host_${t}_key.pub"
  ssh-keygen -q -t $t -N '' -C root@clone-9 -f "$R/etc/ssh/ssh_host_${t}_key"; done
