#!/usr/bin/env bash
# check-guides.sh BINARY [GUIDE.md...]
# Runs every sanitize-clone command the guides show (docs/guides/*.md by default), in order, one
# guide at a time, against a fresh demo template root and a GPT disk image holding the same root,
# so that the guides cannot rot. The conventions are in docs/guides/README.md:
#   - a command is a line in a fenced code block whose first word, after an optional "# " or
#     "$ " prompt, is sanitize-clone; a trailing "\" joins the next line; pipelines run in bash;
#   - without --root or --image it runs with --root pointing at the fixture root; /mnt/clone is
#     that root, any *.raw or *.img path the disk image;
#   - it must exit 0, or N when the line ends with "# → exits N";
#   - an HTML comment line "<!-- guide-check: sanitize-clone … -->" runs a step the reader does
#     not type (what the clone's first boot does between two sections), under the same rules.
# Also: every MESSAGE_ID a guide names is in systemd/sanitize-clone.catalog, and every QEMU
# option a guide shows for per-clone data (-smbios type=11, -fw_cfg, -uuid) is one the e2e uses.
# Needs root (loop devices are attached by `run --image`), jq, sfdisk and mkfs.ext4.
# Exit status: 0 when every check passed, 1 otherwise, 2 on a usage error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: check-guides.sh BINARY [GUIDE.md...]" >&2; exit 2; }
binary="$(realpath "$1")"
shift
[[ -x "$binary" ]] || { echo "check-guides.sh: $binary is not an executable (build it with make build)" >&2; exit 2; }
guides=("$@")
if ((${#guides[@]} == 0)); then
    for guide in "$repo"/docs/guides/*.md; do [[ "$(basename "$guide")" == README.md ]] || guides+=("$guide"); done
fi

work="$(mktemp -d /tmp/guide-check.XXXXXX)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }

# The fixture: the demo template root, and a GPT image with an ext4 root holding a sealed copy of it.
make_fixtures() {
    local dir="$1" uuid start size
    bash "$repo/demo/make-template-root.sh" "$dir/root" "ed25519" >/dev/null
    cp -a "$dir/root" "$dir/image-root"
    uuid="$(cat /proc/sys/kernel/random/uuid)"
    printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$uuid" >"$dir/image-root/etc/fstab"
    # The image is a clone's disk: a copy of a sealed template.
    "$binary" seal --root "$dir/image-root" >/dev/null
    truncate -s 96M "$dir/disk.raw"
    printf 'label: gpt\n,,L\n' | sfdisk -q "$dir/disk.raw"
    read -r start size < <(sfdisk --json "$dir/disk.raw" | jq -r '.partitiontable.partitions[0] | "\(.start) \(.size)"')
    mkfs.ext4 -q -F -U "$uuid" -d "$dir/image-root" -E "offset=$((start * 512))" "$dir/disk.raw" "$((size / 2))k"
    rm -rf "$dir/image-root"
}

# The commands of one guide, one per line (continuations joined), as "LINE<TAB>COMMAND".
commands_of() {
    awk '
        /^[ \t]*```/ { inside = !inside; joined = ""; next }
        !inside && /^<!-- guide-check: .* -->[ \t]*$/ {
            text = $0
            sub(/^<!-- guide-check: /, "", text)
            sub(/ -->[ \t]*$/, "", text)
            print NR "\t" text
            next
        }
        !inside { next }
        {
            line = $0
            if (joined != "") { line = joined " " line; sub(/^[ \t]+/, "", line) } else { start = NR }
            if (line ~ /\\[ \t]*$/) { sub(/\\[ \t]*$/, "", line); joined = line; next }
            joined = ""
            text = line
            sub(/^[ \t]*/, "", text)
            sub(/^[#$] /, "", text)
            if (text ~ /^sanitize-clone( |$)/) print start "\t" text
        }
    ' "$1"
}

# Runs one guide's commands in a fresh fixture.
check_guide() {
    local guide="$1" name dir line command expected status output
    name="$(basename "$guide")"
    dir="$work/${name%.md}"
    mkdir -p "$dir"
    make_fixtures "$dir"
    local count=0
    while IFS=$'\t' read -r line command; do
        count=$((count + 1))
        expected=0
        if [[ "$command" =~ \#\ →\ exits\ ([0-9]+)[[:space:]]*$ ]]; then
            expected="${BASH_REMATCH[1]}"
            command="${command%%# → exits*}"
        fi
        status=0
        output="$(cd "$dir" && ROOT="$dir/root" IMAGE="$dir/disk.raw" BINARY="$binary" \
            bash -c 'set -o pipefail; source "$0"; '"$command" "$here/guide-shell.sh" 2>&1)" || status=$?
        if [[ "$status" == "$expected" ]]; then
            pass
        else
            fail "$name:$line: \`$command\` exited $status, expected $expected"
            printf '%s\n' "$output" | tail -n 5 | sed 's/^/    /'
        fi
    done < <(commands_of "$guide")
    if ((count == 0)); then
        # A guide need not run sanitize-clone, but say so: a typo in the fence would hide them.
        printf 'note %s: no sanitize-clone command\n' "$name"
    fi
    printf '%s: %d command(s)\n' "$name" "$count"
}

# Every MESSAGE_ID a guide names is in the catalog.
check_message_ids() {
    local guide id
    for guide in "${guides[@]}"; do
        while read -r id; do
            if grep -qi "^-- $id\$" "$repo/systemd/sanitize-clone.catalog"; then pass; else fail "$(basename "$guide"): MESSAGE_ID $id is not in systemd/sanitize-clone.catalog"; fi
        done < <(grep -oiE 'MESSAGE_ID=[0-9a-f]{32}' "$guide" | cut -d= -f2 | sort -u)
    done
}

# Every per-clone QEMU option a guide shows is one the e2e boots use.
check_qemu_options() {
    local guide option e2e
    e2e="$(cat "$repo"/tests/e2e/*.sh "$repo"/tests/e2e/cases/*.sh)"
    for guide in "${guides[@]}"; do
        while read -r option; do
            case "$option" in
                -smbios*) grep -q -- '-smbios "type=11,value=io.systemd.credential:' <<<"$e2e" && pass || fail "$(basename "$guide"): the e2e passes no credential like \`$option\`" ;;
                -fw_cfg*) grep -qF -- "-fw_cfg name=opt/io.systemd.credentials/" <<<"$e2e" && pass || fail "$(basename "$guide"): the e2e passes no credential like \`$option\`" ;;
                -uuid*) grep -qF -- '-uuid "$smbios_uuid"' <<<"$e2e" && pass || fail "$(basename "$guide"): the e2e sets no \`$option\`" ;;
            esac
        done < <(grep -oE -- '-(smbios type=11|fw_cfg name=opt/io\.systemd\.credentials|uuid [0-9a-f-]{36})' "$guide" | sort -u)
    done
}

for guide in "${guides[@]}"; do
    check_guide "$guide"
done
check_message_ids
check_qemu_options
printf 'guides: %d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
