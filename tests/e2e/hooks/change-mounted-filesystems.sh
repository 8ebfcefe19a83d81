#!/bin/bash
# change-mounted-filesystems.sh ROOT: make-image.sh --customize hook for cases 08 and 09. Lets the clone's
# run give its own mounted filesystems new UUIDs through the initramfs at the next boot.
set -euo pipefail
mkdir -p "$1/etc/sanitize-clone/conf.d"
printf '[Storage]\nChangeMountedFilesystems=yes\n' >"$1/etc/sanitize-clone/conf.d/50-e2e-storage.conf"
