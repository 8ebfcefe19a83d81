#!/bin/bash
# boot.sh [options] IMAGE RESULTS_OUT [extra qemu args...]: boots a disk image made by
# make-image.sh under QEMU (TCG, one vCPU) until the guest powers off, and collects
# what e2e-report.service handed back.
#
# RESULTS_OUT (created if needed) receives:
#   report.txt, report-boot-N.txt  the guest's key=value report(s)
#   e2e-artifacts/boot-N/          files the report left in $E2E_ARTIFACTS, and
#                                  diagnostics.txt when boot N did not settle as "running"
#   console.log                    the serial console
#   qemu.log                       QEMU's own messages
#   boot.env                       how the guest was started and how QEMU ended
#
# Options (before IMAGE; everything after RESULTS_OUT goes to QEMU unchanged):
#   --append ARGS             more kernel command line (repeatable), e.g. a failpoint
#   --uuid UUID               SMBIOS system UUID (qemu -uuid)
#   --credential NAME=VALUE   systemd credential through SMBIOS type 11 (repeatable)
#   --mac MAC                 NIC MAC address (default: random 52:54:00:xx:xx:xx)
#   --allow-reboot            let the guest reboot instead of ending QEMU (for cases
#                             that expect a reboot; QEMU then ends at the poweroff)
#   --timeout SECONDS         kill the guest after this long (default 300)
#   --memory MB               guest memory (default 1024)
#   --kernel FILE, --initrd FILE  default: the newest ones in the image's /boot
#   --root SPEC               root= for the kernel (default UUID=<the image's UUID>)
#   --uefi                    boot through the image's own bootloader (make-image.sh
#                             --bootable): OVMF firmware with a fresh copy of its variable
#                             store, no -kernel/-initrd/-append (the command line is the
#                             image's grub.cfg's), so not with --append, --kernel, --initrd,
#                             --root. Needs the host package ovmf (E2E_OVMF_CODE and
#                             E2E_OVMF_VARS override its files).
#
# Exits 0 when the guest powered off on its own and report.txt came back, 1 otherwise.
# Several boot.sh may run at once: each one only uses its IMAGE and RESULTS_OUT.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KERNEL_CMDLINE_BASE="$E2E_KERNEL_CMDLINE"
OVMF_CODE="${E2E_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE.fd}"
OVMF_VARS="${E2E_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS.fd}"
RESULTS_DISK_SIZE=64M

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

main() {
    local append=() credentials=() smbios_uuid="" mac="" allow_reboot=0
    local timeout_seconds=300 memory=1024 kernel="" initrd="" root_spec="" uefi=0
    while (($# > 0)); do
        case "$1" in
            --append) append+=("${2:?--append needs a value}"); shift 2 ;;
            --uuid) smbios_uuid="${2:?--uuid needs a value}"; shift 2 ;;
            --credential) credentials+=("${2:?--credential needs NAME=VALUE}"); shift 2 ;;
            --mac) mac="${2:?--mac needs a value}"; shift 2 ;;
            --allow-reboot) allow_reboot=1; shift ;;
            --timeout) timeout_seconds="${2:?--timeout needs a value}"; shift 2 ;;
            --memory) memory="${2:?--memory needs a value}"; shift 2 ;;
            --kernel) kernel="${2:?--kernel needs a file}"; shift 2 ;;
            --initrd) initrd="${2:?--initrd needs a file}"; shift 2 ;;
            --root) root_spec="${2:?--root needs a value}"; shift 2 ;;
            --uefi) uefi=1; shift ;;
            -h | --help) usage ;;
            -*) echo "unknown option: $1" >&2; usage ;;
            *) break ;;
        esac
    done
    (($# >= 2)) || usage
    local image="$1" out_dir="$2"
    shift 2
    local extra_qemu_args=("$@")

    need_commands qemu-system-x86_64 timeout debugfs blkid tar
    [[ -f "$image" ]] || die "no image at $image"
    [[ -n "$mac" ]] || mac="$(random_mac)"
    if ((uefi)); then
        if ((${#append[@]} > 0)) || [[ -n "$kernel$initrd$root_spec" ]]; then
            die "--uefi boots the image's own GRUB: --append, --kernel, --initrd and --root need the direct kernel boot"
        fi
        [[ -r "$OVMF_CODE" && -r "$OVMF_VARS" ]] || die "no OVMF firmware at $OVMF_CODE and $OVMF_VARS (try: apt-get install -y ovmf)"
    fi
    if ((!uefi)) && [[ -z "$root_spec" ]]; then
        root_spec="UUID=$(filesystem_uuid "$image")"
    fi

    prepare_results_dir "$out_dir"
    local work_dir
    make_temp_dir work_dir "$out_dir"
    if ((uefi)); then
        # The firmware writes its boot entries here: every boot starts from a fresh copy.
        cp "$OVMF_VARS" "$work_dir/OVMF_VARS.fd"
    elif [[ -z "$kernel" || -z "$initrd" ]]; then
        extract_boot_files "$image" "$work_dir"
        kernel="${kernel:-$work_dir/vmlinuz}"
        initrd="${initrd:-$work_dir/initrd.img}"
    fi
    truncate -s "$RESULTS_DISK_SIZE" "$out_dir/results.raw"

    local cmdline=""
    ((uefi)) || cmdline="root=$root_spec $KERNEL_CMDLINE_BASE${append[*]:+ ${append[*]}}"
    # shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
    local qemu_args=(
        -name "e2e-$(basename "$image")"
        -accel tcg -m "$memory" -smp 1 -cpu qemu64,-svm
        -nodefaults -display none
        -serial "file:$out_dir/console.log"
        -drive "file=$image,format=raw,if=virtio"
        -drive "file=$out_dir/results.raw,format=raw,if=none,id=results"
        -device virtio-blk-pci,drive=results,serial=results
        # restrict=on: DHCP works, but nothing leaves QEMU.
        -netdev user,id=n0,restrict=on
        -device "virtio-net-pci,netdev=n0,mac=$mac"
    )
    if ((uefi)); then
        qemu_args+=(
            -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE"
            -drive "if=pflash,format=raw,unit=1,file=$work_dir/OVMF_VARS.fd"
        )
    else
        qemu_args+=(-kernel "$kernel" -initrd "$initrd" -append "$cmdline")
    fi
    ((allow_reboot)) || qemu_args+=(-no-reboot)
    [[ -z "$smbios_uuid" ]] || qemu_args+=(-uuid "$smbios_uuid")
    local credential
    for credential in "${credentials[@]}"; do
        qemu_args+=(-smbios "type=11,value=io.systemd.credential:$(qemu_escape "$credential")")
    done
    qemu_args+=("${extra_qemu_args[@]}")

    write_boot_env "$out_dir" "$image" "$mac" "$smbios_uuid" "$cmdline" "$allow_reboot" "$uefi"
    log "booting $image (timeout $timeout_seconds s, console in $out_dir/console.log)"
    run_qemu "$out_dir" "$timeout_seconds" "${qemu_args[@]}"
}

# A locally administered MAC in QEMU's usual prefix, different for every boot.
random_mac() {
    local bytes
    bytes="$(od -An -N3 -tx1 /dev/urandom | tr -s ' ' ':')"
    echo "52:54:00${bytes%:}"
}

filesystem_uuid() {
    local uuid
    uuid="$(blkid -p -s UUID -o value "$1" 2>/dev/null || true)"
    [[ -n "$uuid" ]] || die "cannot read a filesystem UUID from $1 (pass --root)"
    echo "$uuid"
}

# QEMU option values escape a comma by doubling it.
qemu_escape() {
    echo "${1//,/,,}"
}

# Removes what an earlier boot left in OUT_DIR, but nothing else.
prepare_results_dir() {
    local out_dir="$1"
    mkdir -p "$out_dir"
    rm -rf "$out_dir"/report.txt "$out_dir"/report-boot-*.txt "$out_dir/e2e-artifacts" \
        "$out_dir/console.log" "$out_dir/qemu.log" "$out_dir/boot.env" "$out_dir/results.raw"
}

# Copies the newest kernel and initramfs out of the image's /boot without mounting it.
extract_boot_files() {
    local image="$1" target="$2" listing kernel initrd
    listing="$(debugfs -R 'ls -p /boot' "$image" 2>/dev/null | awk -F/ 'NF > 5 { print $6 }')"
    kernel="$(grep '^vmlinuz-' <<<"$listing" | sort -V | tail -n 1 || true)"
    initrd="$(grep '^initrd.img-' <<<"$listing" | sort -V | tail -n 1 || true)"
    [[ -n "$kernel" && -n "$initrd" ]] || die "no vmlinuz-*/initrd.img-* in $image:/boot (pass --kernel and --initrd)"
    debugfs -R "dump /boot/$kernel $target/vmlinuz" "$image" 2>/dev/null
    debugfs -R "dump /boot/$initrd $target/initrd.img" "$image" 2>/dev/null
    [[ -s "$target/vmlinuz" && -s "$target/initrd.img" ]] || die "could not copy the kernel out of $image"
}

write_boot_env() {
    local out_dir="$1" image="$2" mac="$3" smbios_uuid="$4" cmdline="$5" allow_reboot="$6" uefi="$7"
    # uefi: OVMF and the image's GRUB (KERNEL_CMDLINE is then empty: the report has the real one).
    local boot_mode=kernel
    ((uefi)) && boot_mode=uefi
    {
        printf 'IMAGE=%q\n' "$(realpath "$image")"
        printf 'MAC=%q\n' "$mac"
        printf 'SMBIOS_UUID=%q\n' "$smbios_uuid"
        printf 'KERNEL_CMDLINE=%q\n' "$cmdline"
        printf 'ALLOW_REBOOT=%q\n' "$allow_reboot"
        printf 'BOOT_MODE=%q\n' "$boot_mode"
    } >"$out_dir/boot.env"
}

# Runs QEMU under `timeout` in the background, so a signal to this script reaches
# the trap (and the trap stops QEMU) instead of waiting for the guest.
run_qemu() {
    local out_dir="$1" timeout_seconds="$2"
    shift 2
    local started status=0 elapsed
    started="$(now)"
    timeout --kill-after=10 "$timeout_seconds" qemu-system-x86_64 "$@" >"$out_dir/qemu.log" 2>&1 &
    QEMU_PID=$!
    on_exit stop_qemu
    wait "$QEMU_PID" || status=$?
    QEMU_PID=""
    elapsed="$(seconds_since "$started")"
    printf 'QEMU_EXIT=%d\nBOOT_SECONDS=%s\n' "$status" "$elapsed" >>"$out_dir/boot.env"

    collect_results "$out_dir"
    if ((status == 124 || status == 137)); then
        log "the guest did not power off within $timeout_seconds s (last console lines below)"
        tail -n 15 "$out_dir/console.log" | tr -d '\r' | sed 's/^/    /' >&2
        return 1
    fi
    if ((status != 0)); then
        log "QEMU failed with status $status: $(tail -n 3 "$out_dir/qemu.log")"
        return 1
    fi
    if [[ ! -f "$out_dir/report.txt" ]]; then
        log "the guest powered off after $elapsed s without handing back a report (see $out_dir/console.log)"
        return 1
    fi
    log "the guest powered off after $elapsed s; report in $out_dir/report.txt"
}

# Stops the QEMU this script started, if it still runs (timeout forwards the signal).
QEMU_PID=""
stop_qemu() {
    [[ -z "$QEMU_PID" ]] || stop_process "$QEMU_PID"
    QEMU_PID=""
}

# Unpacks the tar the guest wrote at the start of the results disk (nothing if it
# wrote none: an all-zero disk reads as an empty archive).
collect_results() {
    local out_dir="$1"
    if tar -C "$out_dir" --no-same-owner -xf "$out_dir/results.raw" 2>/dev/null; then
        rm -f "$out_dir/results.raw"
    else
        warn "the results disk holds no readable tar; kept as $out_dir/results.raw"
    fi
}

main "$@"
