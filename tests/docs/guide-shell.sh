# guide-shell.sh: sourced by check-guides.sh before each command a guide shows. Defines
# `sanitize-clone` as the binary under test, run against the fixture ($ROOT, $IMAGE): a command
# without --root or --image is one an administrator runs inside the VM, so it gets --root $ROOT;
# /mnt/clone (and paths below it) stand for $ROOT, any *.raw or *.img path for $IMAGE.
# shellcheck shell=bash

sanitize-clone() {
    local arguments=() argument has_target=0 subcommand=""
    for argument in "$@"; do
        case "$argument" in
            /mnt/clone) argument="$ROOT" ;;
            /mnt/clone/*) argument="$ROOT/${argument#/mnt/clone/}" ;;
            *.raw | *.img) argument="$IMAGE" ;;
            --root | --root=* | --image | --image=*) has_target=1 ;;
            -h | --help | --version) has_target=1 ;;
        esac
        [[ -n "$subcommand" || "$argument" == -* ]] || subcommand="$argument"
        arguments+=("$argument")
    done
    case "$subcommand" in
        "" | help | trigger) has_target=1 ;;
    esac
    ((has_target)) || arguments+=(--root "$ROOT")
    "$BINARY" "${arguments[@]}"
}
