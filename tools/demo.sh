#!/usr/bin/env bash
# The README's first command: `tools/demo.sh [--keep]` (as root).
#
# As root on Debian, from a clone: tools/setup-env.sh installs and starts
# the Docker Engine when needed and builds the virtualenv .venv (or
# $NOVA_DOCKER_VENV) with nova-docker in it, then tools/demo.py runs: an
# all-in-one Nova with a real Glance in one process boots busybox:latest
# onto the engine, shows it, and cleans up. Arguments go to tools/demo.py
# (--keep, --help).
set -euo pipefail
cd "$(dirname "$0")/.."

. tools/progress.sh

for arg in "$@"; do
    case "$arg" in
        -h|--help)
            echo "usage: tools/demo.sh [--keep] [--name NAME]" \
                 "[--flavor FLAVOR] [--image NAME]"
            echo "Boots a server through an all-in-one Nova (in this" \
                 "process, with a real Glance) onto the local Docker" \
                 "Engine, shows it, and removes everything again."
            echo "--keep leaves the server's container running."
            exit 0 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    die "run as root (it installs Docker Engine when" \
        "missing, starts dockerd, and uses its root-only socket)"
fi

tools/setup-env.sh
venv=${NOVA_DOCKER_VENV:-.venv}
exec "$venv/bin/python" tools/demo.py "$@"
