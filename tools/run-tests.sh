#!/usr/bin/env bash
# The README's second command: every test (unit, functional, e2e against
# a real Docker Engine, and the cloud tier against tools/cloud.sh's cloud). As root on Debian: tools/setup-env.sh installs what
# is missing, then this lints, checks the sample config is current, and runs
# pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/progress.sh

tools/setup-env.sh
venv=${NOVA_DOCKER_VENV:-.venv}

step "lint (ruff)"
"$venv/bin/ruff" check .

step "sample configs are current"
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
for generator in etc/nova-docker-config-generator.conf \
                 etc/nova-docker-registry-config-generator.conf; do
    sample=$(sed -n 's/^output_file = //p' "$generator")
    "$venv/bin/oslo-config-generator" --config-file "$generator" \
        --output-file "$fresh"
    if ! diff -u "$sample" "$fresh"; then
        echo "$sample is stale: run 'tox -e genconfig' and commit it" >&2
        exit 1
    fi
done

step "pytest"
"$venv/bin/python" -m pytest tests "$@"
