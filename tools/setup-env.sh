#!/usr/bin/env bash
# Everything the demo and the tests need, installed only when missing:
# a running Docker Engine (tools/ensure-docker.sh), a running Open vSwitch
# (tools/ensure-ovs.sh), btrfs-progs for the disk-bound test
# (tools/ensure-btrfs.sh), the private engines of the engine tier
# (tools/ensure-engines.sh), python3-venv, and a virtualenv in .venv (or
# $NOVA_DOCKER_VENV) holding requirements.txt, test-requirements.txt and
# nova-docker itself as a wheel (an editable install would not put the
# nova/virt/docker shim where nova's loader looks).
set -euo pipefail
cd "$(dirname "$0")/.."

. tools/progress.sh

[ "$(id -u)" -eq 0 ] ||
    die "run as root: it installs Docker Engine when missing, starts" \
        "dockerd, and uses the engine's root-only socket"

step "checking the Docker Engine (tools/ensure-docker.sh)"
tools/ensure-docker.sh ||
    die "no Docker Engine: it could not be installed or started (see" \
        "above); on Debian, 'apt-get install docker.io' then 'dockerd &'" \
        "is what tools/ensure-docker.sh tries"

step "checking Open vSwitch (tools/ensure-ovs.sh)"
tools/ensure-ovs.sh ||
    die "no Open vSwitch: it could not be installed or started (see" \
        "above); on Debian, 'apt-get install openvswitch-switch' then" \
        "'/usr/share/openvswitch/scripts/ovs-ctl --system-id=random start'" \
        "is what tools/ensure-ovs.sh tries"

step "checking docker-registry, skopeo and htpasswd" \
     "(tools/ensure-registry-tools.sh)"
tools/ensure-registry-tools.sh ||
    die "could not install docker-registry, skopeo and apache2-utils" \
        "(see above); on Debian, 'apt-get install docker-registry skopeo" \
        "apache2-utils' is what tools/ensure-registry-tools.sh tries"

step "checking btrfs-progs (tools/ensure-btrfs.sh)"
tools/ensure-btrfs.sh ||
    die "could not install btrfs-progs (see above); on Debian," \
        "'apt-get install btrfs-progs' is what tools/ensure-btrfs.sh tries"

step "checking the engines of the engine tier (tools/ensure-engines.sh)"
tools/ensure-engines.sh ||
    die "could not fetch Docker 26 or install podman (see above); on" \
        "Debian, 'apt-get download docker.io containerd tini' from trixie" \
        "and 'apt-get install podman' is what tools/ensure-engines.sh tries"

step "checking xfsprogs and the other volume tools (tools/ensure-volume-tools.sh)"
tools/ensure-volume-tools.sh ||
    die "could not install the volume tools (see above); on Debian," \
        "'apt-get install xfsprogs' is what tools/ensure-volume-tools.sh tries"

# A fresh Debian may lack python3's venv module.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    step "installing python3 and python3-venv (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq >/dev/null &&
      apt-get install -y -qq --no-install-recommends python3 \
          python3-venv >/dev/null; } ||
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
