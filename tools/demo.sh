#!/usr/bin/env bash
# The README's first command: `tools/demo.sh [--keep]` (as root).
#
# Brings up the cloud of tools/cloud.sh (OpenStack services as processes,
# two compute hosts with nova-docker, each with its own Docker Engine) and
# walks through the product with the real `openstack` CLI as the demo
# user, each command printed before its output: a busybox image into
# Glance, a server booted from it, the server list, the container on the
# engine of the host Nova chose, its console log, the server deleted.
# Then `tools/cloud.sh down`, unless --keep (the cloud stays up, and the
# line to use it is printed).
#
# --in-process runs the older, faster demo instead: all of Nova in one
# Python process (tools/demo.py, on the e2e tests' harness), no CLI.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. tools/progress.sh

keep=0
for arg in "$@"; do
    case "$arg" in
        -h|--help)
            header_help
            echo "usage: tools/demo.sh [--keep] | --in-process [--keep]"
            exit 0 ;;
        --in-process)
            tools/setup-env.sh
            shift
            exec "${NOVA_DOCKER_VENV:-.venv}/bin/python" tools/demo.py "$@" ;;
        --keep) keep=1 ;;
        *) die "unknown argument $arg (see --help)" ;;
    esac
done

[ "$(id -u)" -eq 0 ] ||
    die "run as root (tools/cloud.sh installs packages and runs dockerd)"

. tools/cloud/common.sh

NAME=test
IMAGE=busybox:latest
FLAVOR=m1.tiny

tools/cloud.sh up
export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml OS_CLOUD=nova-docker
export PATH=$VENV/bin:$PATH

# Prints a command as a user would type it, then runs it.
show() {
    echo
    echo "\$ $*"
    "$@"
}

work=$(mktemp -d)
# A demo that fails half-way leaves the cloud up, to look at.
finish() {
    local rc=$?
    rm -rf "$work"
    if [ "$rc" -ne 0 ]; then
        echo "The cloud is still up: logs in $LOG, 'tools/cloud.sh status';" \
             "'tools/cloud.sh down' removes it." >&2
    fi
}
trap finish EXIT

if openstack server show "$NAME" >/dev/null 2>&1 ||
   openstack image show "$IMAGE" >/dev/null 2>&1; then
    step "removing server $NAME and image $IMAGE of an earlier demo --keep"
    openstack server delete --wait "$NAME" 2>/dev/null || true
    openstack image delete "$IMAGE" 2>/dev/null || true
fi

step "busybox.tar: a 'docker save' archive of Debian's busybox-static" \
     "(no registry is reachable from here to pull one)"
"$VENV/bin/python" tools/cloud/busybox_tar.py "$work/busybox.tar"
cd "$work"

show openstack image create --container-format docker --disk-format raw \
    --file busybox.tar "$IMAGE"
show openstack server create --image "$IMAGE" --flavor "$FLAVOR" "$NAME"
step "waiting for $NAME to be ACTIVE"
for _ in $(seq 240); do
    status=$(openstack server show "$NAME" -f value -c status)
    [ "$status" = ACTIVE ] && break
    [ "$status" = ERROR ] && {
        openstack server show "$NAME" -c fault
        die "$NAME went to ERROR"; }
    sleep 1
done
[ "$status" = ACTIVE ] || die "$NAME is $status after 4 minutes"

show openstack server list
id=$(openstack server show "$NAME" -f value -c id)
# The admin's view (the demo user does not see which host a server is on).
host=$(osc server show "$id" -f value -c OS-EXT-SRV-ATTR:host)
echo
echo "# $NAME runs on $host; its Docker Engine:"
show docker -H "unix://$(engine_socket "$host")" ps

# The console log is the container's output: wait for its first line.
for _ in $(seq 30); do
    [ -n "$(openstack console log show "$NAME" 2>/dev/null)" ] && break
    sleep 1
done
show openstack console log show "$NAME"

if [ "$keep" = 1 ]; then
    step "done; the cloud and $NAME keep running. To use them:"
    cat <<EOF

export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml OS_CLOUD=nova-docker
$VENV/bin/openstack server list
Stop it all with: tools/cloud.sh down
EOF
    exit 0
fi

show openstack server delete --wait "$NAME"
show docker -H "unix://$(engine_socket "$host")" ps
echo
cd "$REPO"
tools/cloud.sh down
step "done: server deleted, the cloud stopped and removed"
