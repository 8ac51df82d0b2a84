#!/bin/bash
# What the volume tests use besides the kernel's loop devices (see
# tests/functional/test_volumes.py) and what the driver runs on a compute
# host with volumes: mkfs.xfs and xfs_growfs (xfsprogs), mkfs.ext4,
# resize2fs and debugfs (e2fsprogs), blkid, wipefs and losetup
# (util-linux, mount). Installed with apt-get only when missing.
# Idempotent: quiet when all is there, one line per action otherwise.
set -euo pipefail

# shellcheck source=tools/lib.sh
. "$(dirname "$0")/lib.sh"

missing=()
for tool in mkfs.xfs:xfsprogs xfs_growfs:xfsprogs mkfs.ext4:e2fsprogs \
        debugfs:e2fsprogs blkid:util-linux wipefs:util-linux \
        losetup:mount mkswap:util-linux; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)

apt_install "${packages[@]}"
