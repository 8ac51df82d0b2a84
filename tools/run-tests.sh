#!/usr/bin/env bash
# Runs every test (unit, functional, e2e) against a real Docker Engine.
# As root on Debian: installs and starts the engine when needed, builds a
# virtualenv in .venv (or $NOVA_DOCKER_VENV), installs the package as a
# wheel (so nova's loader finds the nova/virt/docker shim), lints, checks
# the sample config is current, then runs pytest. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '[%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

step "checking the Docker Engine"
tools/ensure-docker.sh

venv=${NOVA_DOCKER_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
    step "creating virtualenv $venv"
    python3 -m venv "$venv"
fi
step "installing requirements"
"$venv/bin/pip" install -q --disable-pip-version-check \
    -r requirements.txt -r test-requirements.txt
step "installing nova-docker"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps \
    --force-reinstall .

step "lint (ruff)"
"$venv/bin/ruff" check .

step "sample config is current"
sample=etc/nova-docker.conf.sample
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
"$venv/bin/oslo-config-generator" \
    --config-file etc/nova-docker-config-generator.conf \
    --output-file "$fresh"
if ! diff -u "$sample" "$fresh"; then
    echo "$sample is stale: run 'tox -e genconfig' and commit it" >&2
    exit 1
fi

step "pytest"
"$venv/bin/python" -m pytest tests "$@"
step "done"
