#!/bin/bash
# update-catalog.sh ROOT: make-image.sh --customize hook. Does what a package's postinst
# would after `make install`: compiles the journal catalog, so `journalctl -x` in the guest
# explains sanitize-clone's entries.
set -euo pipefail
root="$1"
journalctl --root="$root" --update-catalog
