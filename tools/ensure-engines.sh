#!/bin/bash
# The engines the engine tier runs the driver against, beside the host's
# Docker 20.10 and sharing nothing with it (see tests/fixtures/
# private_engine.py, which starts them on sockets of their own):
#
# - Docker 26 from Debian 13 (trixie): its docker.io, containerd and tini
#   packages are fetched with `apt-get download` through a sources list of
#   this script's own and unpacked with `dpkg-deb -x` into $ENGINES/docker-26;
#   nothing is installed, and their runc is dropped (it needs glibc 2.38):
#   the host's runc serves.
# - Podman from Debian 12 (apt-get install podman; runc serves, crun is
#   only recommended).
#
# Idempotent: quiet when all is there, one line per action taken otherwise.
set -euo pipefail

ENGINES=${NOVA_DOCKER_ENGINES:-/opt/nova-docker-engines}
DOCKER26=$ENGINES/docker-26
PACKAGES=(docker.io containerd tini)

# shellcheck source=tools/lib.sh
. "$(dirname "$0")/lib.sh"

need_docker26() { [ ! -x "$DOCKER26/usr/sbin/dockerd" ]; }
need_podman() { ! command -v podman >/dev/null 2>&1; }

need_docker26 || need_podman || exit 0
[ "$(id -u)" -eq 0 ] ||
    die "missing engines: run as root to fetch and install them"
export DEBIAN_FRONTEND=noninteractive
APT=(-o DPkg::Lock::Timeout=300)

# The URI of the host's own Debian mirror (deb822 or one-line sources).
mirror() {
    local uri
    uri=$(awk '/^URIs:/ {print $2; exit}' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /security/ \
        {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

fetch_docker26() {
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    say "fetching Debian trixie's ${PACKAGES[*]} into $DOCKER26"
    mkdir -p "$work/lists/partial" "$work/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
        "$(mirror) trixie main" >"$work/sources.list"
    local opts=(-o Dir::Etc::sourcelist="$work/sources.list"
                -o Dir::Etc::sourceparts=-
                -o Dir::State::Lists="$work/lists"
                -o Dir::Cache::archives="$work/debs")
    apt-get "${APT[@]}" "${opts[@]}" update -qq >/dev/null ||
        die "apt-get update of trixie's package lists failed"
    (cd "$work/debs" && apt-get "${opts[@]}" download "${PACKAGES[@]}" \
        >/dev/null) || die "apt-get download ${PACKAGES[*]} failed"
    rm -rf "$DOCKER26.new"
    mkdir -p "$DOCKER26.new"
    for deb in "$work"/debs/*.deb; do
        dpkg-deb -x "$deb" "$DOCKER26.new"
    done
    # trixie's runc needs glibc 2.38; the host's bookworm runc serves.
    rm -f "$DOCKER26.new"/usr/sbin/runc "$DOCKER26.new"/usr/bin/runc
    rm -rf "$DOCKER26"
    mv "$DOCKER26.new" "$DOCKER26"
    "$DOCKER26/usr/sbin/dockerd" --version ||
        die "the unpacked dockerd does not run"
}

if need_docker26; then
    command -v runc >/dev/null 2>&1 ||
        die "no runc on PATH: run tools/ensure-docker.sh first"
    fetch_docker26
fi

if need_podman; then
    say "installing podman"
    apt-get "${APT[@]}" update -qq >/dev/null
    rc=0
    out=$(apt-get "${APT[@]}" install -y -qq --no-install-recommends \
        podman 2>&1) || rc=$?
    [ "$rc" -eq 0 ] || { echo "$out" >&2; die "apt-get install podman failed"; }
fi
