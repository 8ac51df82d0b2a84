#!/usr/bin/env bash
# The README's first command: `sudo tools/demo.sh [--keep]`.
#
# As root on Debian, from a clone: installs and starts the Docker Engine
# when needed (tools/ensure-docker.sh), builds a virtualenv in .venv (or
# $NOVA_DOCKER_VENV) with requirements.txt and test-requirements.txt,
# installs nova-docker into it as a wheel (so nova's loader finds the
# nova/virt/docker shim), then runs tools/demo.py: an all-in-one Nova with a
# real Glance in one process boots busybox:latest onto the engine, shows
# it, and cleans up. Arguments go to tools/demo.py (--keep, --help).
set -euo pipefail
cd "$(dirname "$0")/.."

# One clock for this script and tools/demo.py: progress lines show the
# seconds since the start.
t0=$(date +%s%N)
export NOVA_DOCKER_DEMO_T0="${t0:0:-9}.${t0: -9}"
elapsed() {
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    printf '[%4d.%ds]' $((ms / 1000)) $((ms % 1000 / 100))
}
step() { echo "$(elapsed) $*"; }
die() { echo "$(elapsed) ERROR: $*" >&2; exit 1; }

for arg in "$@"; do
    case "$arg" in
        -h|--help)
            echo "usage: sudo tools/demo.sh [--keep] [--name NAME]" \
                 "[--flavor FLAVOR] [--image NAME]"
            echo "Boots a server through an all-in-one Nova (in this" \
                 "process, with a real Glance) onto the local Docker" \
                 "Engine, shows it, and removes everything again."
            echo "--keep leaves the server's container running."
            exit 0 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    die "run as root: sudo tools/demo.sh (it installs Docker Engine when" \
        "missing, starts dockerd, and uses its root-only socket)"
fi

step "checking the Docker Engine (tools/ensure-docker.sh)"
if ! tools/ensure-docker.sh; then
    die "no Docker Engine: it could not be installed or started (see" \
        "above); on Debian, 'apt-get install docker.io' then 'dockerd &'" \
        "is what tools/ensure-docker.sh tries"
fi

# A fresh Debian may lack python3 or its venv module.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    step "installing python3 and python3-venv (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null &&
        apt-get install -y -qq --no-install-recommends python3 \
            python3-venv >/dev/null ||
        die "could not install python3-venv with apt-get"
fi

venv=${NOVA_DOCKER_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
    step "creating virtualenv $venv (first run: installing nova, glance" \
         "and placement takes a minute or two)"
    python3 -m venv "$venv" || die "python3 -m venv $venv failed"
fi
step "installing requirements into $venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
    -r requirements.txt -r test-requirements.txt ||
    die "pip could not install requirements.txt and test-requirements.txt"
step "installing nova-docker into $venv (wheel)"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps \
    --force-reinstall . || die "pip could not install nova-docker"

exec "$venv/bin/python" tools/demo.py "$@"
