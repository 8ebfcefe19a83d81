#!/bin/bash
# seal.sh ROOT: make-image.sh --customize hook. Seals the template offline with the
# sanitize-clone that `make install DESTDIR` put into ROOT, as an administrator would
# before capturing the image: records the template's identity, writes `uninitialized`
# to /etc/machine-id, removes the host keys, leases and seed, enables the service.
set -euo pipefail
root="$1"
"$(dirname "${BASH_SOURCE[0]}")/update-catalog.sh" "$root"
"$root/usr/bin/sanitize-clone" seal --root "$root" >&2
