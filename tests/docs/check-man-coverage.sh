#!/usr/bin/env bash
# check-man-coverage.sh BINARY MANDIR
# The hand-written pages cover what the program knows: every configuration key (from
# `cat-config` on an empty root) in sanitize-clone.conf(5), and every MESSAGE_ID of the catalog,
# every credential and every exit code in sanitize-clone.conf(5) or sanitize-clone.service(8).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
binary="${1:?usage: check-man-coverage.sh BINARY MANDIR}"
mandir="${2:?usage: check-man-coverage.sh BINARY MANDIR}"
conf="$mandir/sanitize-clone.conf.5"
pages=("$conf" "$mandir/sanitize-clone.service.8")
empty="$(mktemp -d)"
trap 'rm -rf "$empty"' EXIT
missing=0
miss() { echo "not documented: $*"; missing=$((missing + 1)); }

keys="$("$binary" cat-config --root "$empty" --json | jq -r '.keys[] | "\(.section) \(.name)"')"
[[ -n "$keys" ]] || { echo "cat-config listed no key"; exit 1; }
while read -r section key; do
    grep -q -- "$key" "$conf" || miss "configuration key [$section] $key in $(basename "$conf")"
done <<<"$keys"
while read -r id; do
    grep -q "$id" "${pages[@]}" || miss "MESSAGE_ID $id"
done < <(sed -n 's/^-- \([0-9a-f]\{32\}\)$/\1/p' "$repo/systemd/sanitize-clone.catalog")
for credential in sanitize-clone.hostname sanitize-clone.network system.hostname; do
    grep -q "$credential" "${pages[@]}" || miss "credential $credential"
done
for code in 0 1 2 4 5; do
    grep -qE "(^|[^0-9])$code([^0-9]|$)" <(sed -n '/EXIT STATUS/,/^\.SH/p' "${pages[@]}") || miss "exit code $code (EXIT STATUS section)"
done
if ((missing)); then exit 1; fi
echo "man pages cover every configuration key, MESSAGE_ID, credential and exit code"
