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

[ "$(id -u)" -eq 0 ] ||
    die "missing ${packages[*]}: run as root to install with apt-get"

say "installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt-get may hold the lock on a shared machine: wait for it.
apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
rc=0
out=$(apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${packages[@]}" 2>&1) || rc=$?
[ "$rc" -eq 0 ] || { echo "$out" >&2; die "apt-get install failed"; }
