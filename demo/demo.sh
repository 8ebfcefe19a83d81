#!/usr/bin/env bash
# demo.sh BINARY WORKDIR — what a new user runs first: a cloned template root is planned, run,
# inspected, proven different, and rolled back to the byte.
set -euo pipefail
bin=$(realpath "${1:?usage: demo.sh BINARY WORKDIR}")
work=${2:?usage: demo.sh BINARY WORKDIR}
here=$(dirname "$(realpath "$0")")
mkdir -p "$work"
work=$(realpath "$work")
root=$work/template-clone

bold=$(tput bold 2>/dev/null || true); plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s━━ %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }
identity() {
  printf '  machine-id   %s\n' "$(cat "$root/etc/machine-id")"
  printf '  hostname     %s\n' "$(cat "$root/etc/hostname")"
  printf '  127.0.1.1    %s\n' "$(grep '^127.0.1.1' "$root/etc/hosts" | cut -f2-)"
  for key in "$root"/etc/ssh/ssh_host_*_key.pub; do
    printf '  host key     %s\n' "$(ssh-keygen -lf "$key" | cut -d' ' -f1,2,4)"
  done
  if [[ -f $root/etc/netplan/50-uplink.yaml ]]; then
    printf '  netplan      %s, %s\n' "$(grep -o 'macaddress: "[^"]*"' "$root/etc/netplan/50-uplink.yaml")" \
      "$(grep -o 'addresses: .*' "$root/etc/netplan/50-uplink.yaml")"
    printf '  NM profile   %s\n' "$(grep '^uuid=' "$root/etc/NetworkManager/system-connections/backup.nmconnection")"
  fi
}
# The clone's NICs: a --root is not the running system, so they are given (never read from this host).
nics=(--nic ens3=52:54:00:c1:0e:07,0000:00:03.0 --nic ens4=52:54:00:c1:0e:08,0000:00:04.0)
signature() { (cd "$root" && find . -path ./var/lib/sanitize-clone -prune -o -print0 | sort -z |
  xargs -0 stat -c '%n %F %a %u:%g' && find . -path ./var/lib/sanitize-clone -prune -o -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16; }

step "A VM cloned from a template carries the template's identity"
"$here/make-template-root.sh" "$root"
identity
before=$(signature)
echo "  (root signature $before)"

step "The task graph, in execution order"
show "$bin" tasks

step "1. plan: every change, old → new, with diffs; nothing is touched"
show "$bin" plan --root "$root" "${nics[@]}"
[[ $(signature) == "$before" && ! -e $root/var/lib/sanitize-clone ]] && echo "✔ the root is byte-for-byte unchanged, no journal, no lock"

step "2. run: journaled, audited, undoable"
show "$bin" run --root "$root" --hostname web-07 "${nics[@]}"
identity

step "3. status: the runs recorded in the root's journal"
show "$bin" status --root "$root"

step "4. JSON for automation (secrets never appear)"
"$bin" status --root "$root" --json | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["runs"][-1], indent=2))'

step "5. rollback: the template's identity comes back, byte for byte"
show "$bin" rollback --root "$root" --last
identity
after=$(signature)
[[ $after == "$before" ]] && echo "✔ root signature $after: identical to before the run"

step "6. a failure rolls everything back by itself (a test failpoint makes ssh-host-keys fail)"
set +e
SANITIZE_CLONE_FAILPOINT=ssh-host-keys:after-apply:error "$bin" run --root "$root" --hostname web-08 "${nics[@]}" > "$work/failed-run.txt" 2>/dev/null
code=$?
set -e
tail -4 "$work/failed-run.txt"
[[ $(signature) == "$before" ]] && echo "✔ exit $code (a task failed, everything was rolled back): the root is exactly as it was"

step "7. a crash (SIGKILL mid-run) is recovered by the next run"
SANITIZE_CLONE_FAILPOINT=hostname:change-1:crash "$bin" run --root "$root" --hostname web-09 "${nics[@]}" >/dev/null 2>&1 || echo "  (the run was killed after its first hostname change)"
show "$bin" status --root "$root"
show "$bin" run --root "$root" --hostname web-09 "${nics[@]}"
identity
echo
echo "Done. Try it yourself: $bin plan --root $root ${nics[*]}"
