#!/usr/bin/env bash
# make-disk-image.sh SIZE IMAGE — a sparse GPT disk image of SIZE (truncate syntax) holding the
# demo template: an ext4 /boot (64 MiB) and an ext4 root filling the rest, fstab and grub.cfg
# naming both by UUID. Made without loop devices or mounts (mkfs.ext4 -d at an offset).
set -euo pipefail
size=${1:?usage: make-disk-image.sh SIZE IMAGE}
image=${2:?usage: make-disk-image.sh SIZE IMAGE}
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/../demo/make-template-root.sh" "$work/root" >/dev/null
# What libguestfs's inspection needs to call it a Debian system (for the virt-sysprep comparison).
mkdir -p "$work/root/usr/bin" "$work/root/usr/sbin" "$work/root/usr/lib"
ln -s usr/bin "$work/root/bin"; ln -s usr/sbin "$work/root/sbin"; ln -s usr/lib "$work/root/lib"
echo 12.7 > "$work/root/etc/debian_version"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/root/etc/passwd"
boot_uuid=$(cat /proc/sys/kernel/random/uuid); root_uuid=$(cat /proc/sys/kernel/random/uuid)
printf 'UUID=%s / ext4 errors=remount-ro 0 1\nUUID=%s /boot ext4 defaults 0 2\n' "$root_uuid" "$boot_uuid" > "$work/root/etc/fstab"
mkdir -p "$work/boot/grub" "$work/root/boot"
printf 'search --no-floppy --fs-uuid --set=root %s\nlinux /vmlinuz root=UUID=%s ro quiet\n' "$boot_uuid" "$root_uuid" > "$work/boot/grub/grub.cfg"
rm -f "$image"; truncate -s "$size" "$image"
printf 'label: gpt\n,64M,L\n,,L\n' | sfdisk -q "$image"
mapfile -t parts < <(sfdisk --json "$image" | python3 -c 'import json,sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]: print(p["start"]*512, p["size"]*512)')
read -r offset bytes <<<"${parts[0]}"
mkfs.ext4 -q -F -U "$boot_uuid" -d "$work/boot" -E offset="$offset" "$image" "$((bytes / 1024))k"
read -r offset bytes <<<"${parts[1]}"
mkfs.ext4 -q -F -U "$root_uuid" -d "$work/root" -E offset="$offset" "$image" "$((bytes / 1024))k"
