#!/bin/bash
# btrfs-progs (mkfs.btrfs, btrfs), which the disk-bound test uses to give
# a private dockerd a btrfs data root with quotas on a loop device (see
# tests/functional/test_disk_bound.py). Installed with apt-get only when
# missing. Idempotent: quiet when all is there, one line per action
# taken otherwise.
set -euo pipefail

# shellcheck source=tools/lib.sh
. "$(dirname "$0")/lib.sh"

command -v mkfs.btrfs >/dev/null 2>&1 && command -v btrfs >/dev/null 2>&1 &&
    exit 0

apt_install btrfs-progs
