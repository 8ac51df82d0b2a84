#!/usr/bin/env bash
# Tempest's compute API tests against the cloud of tools/cloud.sh.
#
#   tools/tempest.sh [--smoke] [extra arguments for `tempest run`]
#
# Brings the cloud up when it is not (tools/cloud.sh up; it is left up),
# installs tempest 47 into a venv of its own ($NOVA_DOCKER_CLOUD_HOME/
# tempest-venv, apart from the services: tempest pins its own clients),
# writes a tempest workspace under $STATE/tempest with a tempest.conf for
# this cloud (a busybox image, m1.tiny/m1.small, a shared network, every
# compute feature the driver has turned on: see
# doc/source/support-matrix.rst) and runs the whole compute API suite
#
#   tempest run --regex '^tempest\.api\.compute\.' \
#       --exclude-list tools/tempest-exclude.txt
#
# or, with --smoke, only its smoke tests (--regex
# '^tempest\.api\.compute\..*\bsmoke\b': tempest's --smoke with an
# include list would run their union). A later --regex (extra argument)
# replaces either, e.g. to rerun the tests that failed.
#
# The exclude list says, one regex a line, what a container driver does
# not do and why. Results: $STATE/tempest/results.txt (counts),
# skip-reasons.txt (tempest's own skips, counted by reason), run.log.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/tools/progress.sh"
. "$REPO/tools/cloud/common.sh"

TEMPEST_VENV=$CLOUD_HOME/tempest-venv
WORKSPACE=$STATE/tempest
EXCLUDE=$REPO/tools/tempest-exclude.txt

[ "$(id -u)" -eq 0 ] || die "run as root"

REGEX='^tempest\.api\.compute\.'
SCOPE="the compute API tests"
if [ "${1:-}" = --smoke ]; then
    shift
    REGEX='^tempest\.api\.compute\..*\bsmoke\b'
    SCOPE="the compute smoke tests"
fi

"$REPO/tools/cloud.sh" status >/dev/null 2>&1 || "$REPO/tools/cloud.sh" up
# shellcheck disable=SC1090
. "$SECRETS"

if [ ! -x "$TEMPEST_VENV/bin/tempest" ]; then
    step "installing tempest 47 into $TEMPEST_VENV"
    python3 -m venv "$TEMPEST_VENV"
    "$TEMPEST_VENV/bin/pip" install -q --disable-pip-version-check \
        tempest==47.0.0 2>&1 | grep -v '^WARNING: Location' || true
    [ -x "$TEMPEST_VENV/bin/tempest" ] || die "tempest did not install"
fi

export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml

# The instances' console log is their stdout; the serial console is
# nova-serialproxy's (tools/cloud.sh starts it); no VNC/SPICE, no SSH
# server inside (validation off), no metadata service (config drive yes).
# The images tempest boots: busybox twice (image_ref and image_ref_alt),
# public, so tempest's own projects can use them; their command prints
# ten lines at boot (the console log tests want more than three).
image_id() {
    local name=$1 id
    id=$(osc image list --name "$name" -f value -c ID | head -n1)
    if [ -z "$id" ]; then
        local tar
        tar=$(mktemp)
        "$VENV/bin/python" "$REPO/tools/cloud/busybox_tar.py" --boot-lines \
            "$tar"
        id=$(osc image create --public --container-format docker \
            --disk-format raw --file "$tar" "$name" -f value -c id)
        rm -f "$tar"
    fi
    echo "$id"
}

step "images, flavors and the network for tempest"
image=$(image_id tempest-busybox)
image_alt=$(image_id tempest-busybox-alt)
# Tempest's projects are made per test class; they boot on one shared
# network (the cloud has no router for the networks tempest would make).
# It and the images go after the run: a second network visible to the
# demo project would make `server create` without --nic ambiguous.
net=tempest-shared
cleanup() {
    osc network delete "$net" >/dev/null 2>&1 || true
    osc image delete tempest-busybox tempest-busybox-alt >/dev/null 2>&1 ||
        true
}
trap cleanup EXIT
if ! osc network show "$net" >/dev/null 2>&1; then
    osc network create --share "$net" >/dev/null
    osc subnet create --network "$net" --subnet-range 10.79.0.0/24 \
        --no-dhcp "$net-subnet" >/dev/null
fi
# Tempest checks that a "larger" flavor is larger: m1.small (2048 MiB).
flavor=$(osc flavor show m1.tiny -f value -c id)
flavor_alt=$(osc flavor show m1.small -f value -c id)

mkdir -p "$WORKSPACE/etc" "$WORKSPACE/lock"
cat >"$WORKSPACE/etc/tempest.conf" <<EOF
[DEFAULT]
log_file = $WORKSPACE/tempest.log
[oslo_concurrency]
lock_path = $WORKSPACE/lock
[auth]
# Tempest makes a project and users per test class (needs admin), but
# no network for them (that needs a router): they share $net.
use_dynamic_credentials = true
admin_username = admin
admin_password = $ADMIN_PASSWORD
admin_project_name = admin
admin_domain_name = Default
create_isolated_networks = false
[identity]
uri_v3 = $KEYSTONE_URL
auth_version = v3
region = RegionOne
[identity-feature-enabled]
api_v2 = false
[compute]
image_ref = $image
image_ref_alt = $image_alt
flavor_ref = $flavor
flavor_ref_alt = $flavor_alt
min_compute_nodes = 2
# Nova's microversions up to the newest (the tests of a microversion
# are skipped when it is outside [min, max]; unset is 2.1 only).
min_microversion = 2.1
max_microversion = ${TEMPEST_MAX_MICROVERSION:-latest}
fixed_network_name = $net
build_timeout = 300
[compute-feature-enabled]
# As doc/source/support-matrix.rst says: yes for resize (same host and
# to the other compute), cold migration, shelve, the serial console,
# config drive, interface attach, snapshot, console log, pause,
# suspend (rebuild and evacuate have no flag); no live migration (no
# CRIU), rescue, admin password, personality (gone since 2.57), VNC or
# SPICE, and no Cinder in this cloud.
resize = true
cold_migration = true
live_migration = false
vnc_console = false
spice_console = false
serial_console = true
rescue = false
stable_rescue = false
shelve = true
suspend = true
pause = true
console_output = true
interface_attach = true
snapshot = true
change_password = false
config_drive = true
metadata_service = false
personality = false
attach_encrypted_volume = false
swap_volume = false
volume_multiattach = false
[validation]
# busybox has no sshd, and tempest's own projects get no router to the
# public network.
run_validation = false
[network-feature-enabled]
ipv6 = false
floating_ips = false
[service_available]
nova = true
glance = true
neutron = true
cinder = false
swift = false
placement = true
[image]
container_formats = docker
disk_formats = raw
[image-feature-enabled]
api_v2 = true
[volume-feature-enabled]
backup = false
EOF

cd "$WORKSPACE"
[ -d .stestr ] || "$TEMPEST_VENV/bin/stestr" init >/dev/null
step "tempest run: $SCOPE, less $EXCLUDE"
set +e
"$TEMPEST_VENV/bin/tempest" run --config-file "$WORKSPACE/etc/tempest.conf" \
    --regex "$REGEX" \
    --exclude-list "$EXCLUDE" --concurrency "${TEMPEST_CONCURRENCY:-2}" \
    "$@" 2>&1 | tee "$WORKSPACE/run.log"
rc=${PIPESTATUS[0]}
set -e
"$TEMPEST_VENV/bin/stestr" last --subunit 2>/dev/null |
    "$TEMPEST_VENV/bin/subunit2csv" >"$WORKSPACE/results.csv" 2>/dev/null ||
    true
grep -E '^(Totals| - (Passed|Failed|Skipped))' -A0 "$WORKSPACE/run.log" \
    >"$WORKSPACE/results.txt" || true
# Tempest's own skips, by reason (subunit-trace writes "SKIPPED: why").
grep -o 'SKIPPED: .*' "$WORKSPACE/run.log" | sort | uniq -c | sort -rn \
    >"$WORKSPACE/skip-reasons.txt" || true
step "results in $WORKSPACE (run.log, results.csv); tempest exited $rc"
exit "$rc"
