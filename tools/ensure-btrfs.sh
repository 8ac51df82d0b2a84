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

[ "$(id -u)" -eq 0 ] ||
    die "missing btrfs-progs: run as root to install it with apt-get"

say "installing btrfs-progs"
export DEBIAN_FRONTEND=noninteractive
# Another apt-get may hold the lock on a shared machine: wait for it.
apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
rc=0
out=$(apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends btrfs-progs 2>&1) || rc=$?
[ "$rc" -eq 0 ] || { echo "$out" >&2; die "apt-get install btrfs-progs failed"; }
