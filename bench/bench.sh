#!/usr/bin/env bash
# bench.sh BINARY WORKDIR — the figures issue 2 asks for, as ratios measured in one run:
#  (a) run --hostname clone-9 against bench/baseline.sh (an admin's sequential script, no journal)
#      on a root with ed25519 and ecdsa keys, alternating over PAIRS pairs on fresh copies;
#  (b) run on the default demo root (RSA included) against its own slowest task;
#  (c) plan wall time and the stripped static binary's size.
set -euo pipefail
bin=$(realpath "${1:?usage: bench.sh BINARY WORKDIR}")
work=${2:?usage: bench.sh BINARY WORKDIR}
pairs=${PAIRS:-40}
here=$(dirname "$(realpath "$0")")
mkdir -p "$work"; work=$(realpath "$work")

now() { date +%s%N; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

echo "sanitize-clone benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"

# (a) against the baseline script
# Only the identities the baseline script handles, so both do the same work.
"$here/../demo/make-template-root.sh" "$work/template-a" "ed25519 ecdsa" minimal >/dev/null
: > "$work/a-ours"; : > "$work/a-baseline"
for i in $(seq "$pairs"); do
  rm -rf "$work/ours" "$work/base"
  cp -a "$work/template-a" "$work/ours"; cp -a "$work/template-a" "$work/base"
  sync
  t0=$(now); "$bin" run --root "$work/ours" --hostname clone-9 >/dev/null 2>&1; t1=$(now)
  sh "$here/baseline.sh" "$work/base" >/dev/null 2>&1; t2=$(now)
  echo $(( (t1 - t0) / 1000 )) >> "$work/a-ours"
  echo $(( (t2 - t1) / 1000 )) >> "$work/a-baseline"
done
ours=$(median < "$work/a-ours"); base=$(median < "$work/a-baseline")
printf '(a) run vs baseline script, ed25519+ecdsa, %d pairs: median %.1f ms vs %.1f ms, ratio %.2f (target <= 1.0)\n' \
  "$pairs" "$(echo "$ours/1000" | bc -l)" "$(echo "$base/1000" | bc -l)" "$(echo "$ours/$base" | bc -l)"

# (b) against its own slowest task, RSA included
"$here/../demo/make-template-root.sh" "$work/template-b" >/dev/null
: > "$work/b-ratio"
for i in $(seq 5); do
  rm -rf "$work/ours"; cp -a "$work/template-b" "$work/ours"; sync
  t0=$(now); "$bin" run --root "$work/ours" --json > "$work/b.json" 2>/dev/null; t1=$(now)
  slowest=$(python3 -c 'import json,sys; print(max(t["duration_ms"] for t in json.load(open(sys.argv[1]))["tasks"]))' "$work/b.json")
  wall=$(( (t1 - t0) / 1000000 ))
  echo "$(echo "$wall/$slowest" | bc -l) $wall $slowest" >> "$work/b-ratio"
done
read -r ratio wall slowest < <(sort -n "$work/b-ratio" | awk 'NR==3')
printf '(b) run wall time vs its slowest task, RSA included, median of 5: %d ms vs %d ms, ratio %.2f (target <= 1.15)\n' "$wall" "$slowest" "$ratio"

# (c) plan wall time and binary size
: > "$work/c-plan"
for i in $(seq 21); do
  t0=$(now); "$bin" plan --root "$work/template-b" >/dev/null 2>&1; t1=$(now)
  echo $(( (t1 - t0) / 1000 )) >> "$work/c-plan"
done
plan=$(median < "$work/c-plan")
size=$(stat -c %s "$bin")
printf '(c) plan wall time, median of 21: %.1f ms (target <= 20); stripped static binary: %.1f MB (target <= 20)\n' \
  "$(echo "$plan/1000" | bc -l)" "$(echo "$size/1048576" | bc -l)"

# (d) run --image on a whole disk image (every identity, both filesystems' UUIDs and their
# references), by disk size: the UUID change costs the same on 1 GiB and on 8 GiB (sparse).
for size in 1G 8G; do
  "$here/make-disk-image.sh" "$size" "$work/disk-$size.raw"
  : > "$work/d-$size"
  for i in $(seq 5); do
    t0=$(now); "$bin" run --image "$work/disk-$size.raw" >/dev/null 2>&1; t1=$(now)
    "$bin" rollback --image "$work/disk-$size.raw" --last >/dev/null 2>&1
    echo $(( (t1 - t0) / 1000 )) >> "$work/d-$size"
  done
  printf '(d) run --image on a %s GPT image (/boot + root, ext4), median of 5: %.1f ms\n' "$size" "$(echo "$(median < "$work/d-$size")/1000" | bc -l)"
done

# (e) against virt-sysprep on the same image, when libguestfs-tools is installed.
if command -v virt-sysprep >/dev/null; then
  cp --sparse=always "$work/disk-1G.raw" "$work/sysprep.raw"
  t0=$(now)
  LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg virt-sysprep -q -a "$work/sysprep.raw" \
    --operations machine-id,ssh-hostkeys,dhcp-client-state,net-hwaddr,udev-persistent-net,fs-uuids >/dev/null 2>&1 || true
  t1=$(now)
  ours=$(median < "$work/d-1G"); theirs=$(( (t1 - t0) / 1000 ))
  printf '(e) virt-sysprep on the same 1 GiB image: %.1f s; run --image: %.2f s; ratio %.0fx\n' \
    "$(echo "$theirs/1000000" | bc -l)" "$(echo "$ours/1000000" | bc -l)" "$(echo "$theirs/$ours" | bc -l)"
else
  echo "(e) virt-sysprep: not installed (apt-get install libguestfs-tools to compare on the same image)"
fi
