#!/bin/bash
# Debian packages the registry tests and benchmarks/registry.py use,
# installed with apt-get only when missing: docker-registry (Distribution,
# the benchmark's baseline), skopeo (copies into registries) and
# apache2-utils (htpasswd). Idempotent: quiet when all is there, one line
# per action taken otherwise.
set -euo pipefail

# shellcheck source=tools/lib.sh
. "$(dirname "$0")/lib.sh"

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)

[ "${#missing[@]}" -eq 0 ] && exit 0

[ "$(id -u)" -eq 0 ] ||
    die "missing ${missing[*]}: run as root to install them with apt-get"

say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt-get may hold the lock on a shared machine: wait for it.
apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
# --no-install-recommends; policy-rc.d keeps the package's postinst from
# starting a docker-registry service of its own.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    made_policy=1
fi
rc=0
out=$(apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${missing[@]}" 2>&1) || rc=$?
if [ -n "$made_policy" ]; then rm -f "$policy"; fi
[ "$rc" -eq 0 ] || { echo "$out" >&2; die "apt-get install ${missing[*]} failed"; }
