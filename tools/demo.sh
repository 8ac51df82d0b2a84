#!/usr/bin/env bash
# The README's first command: `tools/demo.sh [--keep]` (as root).
#
# Brings up the cloud of tools/cloud.sh (OpenStack services as processes,
# two compute hosts with nova-docker, each with its own Docker Engine) and
# walks through the product with the real `openstack` CLI as the demo
# user, each command printed before its output: a busybox image into
# Glance, a server booted from it, the server list, the container on the
# engine of the host Nova chose, its console log and serial console URL,
# the server deleted; then a second server running busybox httpd in a
# security group that lets port 8080 in, a floating IP on the external
# network `public`, and the page it serves fetched by the host with curl
# through that floating IP.
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
# The server that serves a page, its image (the same busybox with a
# command that runs httpd) and its security group.
WEB=web
WEB_IMAGE=httpd
GROUP=web
WEB_COMMAND="/bin/sh -c 'mkdir -p /www && echo hello from nova-docker \
>/www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www'"

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

# wait_active NAME: until the server is ACTIVE (4 minutes at most).
wait_active() {
    local status
    step "waiting for $1 to be ACTIVE"
    for _ in $(seq 240); do
        status=$(openstack server show "$1" -f value -c status)
        [ "$status" = ACTIVE ] && return 0
        [ "$status" = ERROR ] && {
            openstack server show "$1" -c fault
            die "$1 went to ERROR"; }
        sleep 1
    done
    die "$1 is $status after 4 minutes"
}

# What an earlier `demo.sh --keep` left.
remove_earlier() {
    local fip
    for fip in $(openstack floating ip list -f value -c ID 2>/dev/null); do
        openstack floating ip delete "$fip" || true
    done
    openstack server delete --wait "$NAME" "$WEB" 2>/dev/null || true
    openstack image delete "$IMAGE" "$WEB_IMAGE" 2>/dev/null || true
    openstack security group delete "$GROUP" 2>/dev/null || true
}

if openstack server show "$NAME" >/dev/null 2>&1 ||
   openstack server show "$WEB" >/dev/null 2>&1 ||
   openstack image show "$IMAGE" >/dev/null 2>&1; then
    step "removing what an earlier demo --keep left"
    remove_earlier
fi

step "busybox.tar: a 'docker save' archive of Debian's busybox-static" \
     "(no registry is reachable from here to pull one)"
"$VENV/bin/python" tools/cloud/busybox_tar.py "$work/busybox.tar"
cd "$work"

show openstack image create --container-format docker --disk-format raw \
    --file busybox.tar "$IMAGE"
show openstack server create --image "$IMAGE" --flavor "$FLAVOR" "$NAME"
wait_active "$NAME"

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
# Its serial console: nova-serialproxy's URL, for any websocket client.
show openstack console url show --serial "$NAME"

show openstack server delete --wait "$NAME"
show docker -H "unix://$(engine_socket "$host")" ps

echo
echo "# A server that serves a page to the outside: the host, through a"
echo "# floating IP on the external network public."
show openstack image create --container-format docker --disk-format raw \
    --file busybox.tar --property os_command_line="$WEB_COMMAND" \
    "$WEB_IMAGE"
show openstack security group create "$GROUP"
show openstack security group rule create --protocol tcp --dst-port 8080 \
    "$GROUP"
show openstack server create --image "$WEB_IMAGE" --flavor "$FLAVOR" \
    --security-group "$GROUP" "$WEB"
wait_active "$WEB"
echo
echo "\$ openstack floating ip create public"
fip=$(openstack floating ip create public -f value -c floating_ip_address)
echo "$fip"
show openstack server add floating ip "$WEB" "$fip"
show openstack server show "$WEB" -c addresses
# The router's namespace gets the address a moment after the API took it.
step "waiting for http://$fip:8080/ to answer"
for _ in $(seq 60); do
    curl -s --noproxy '*' --max-time 2 -o /dev/null "http://$fip:8080/" &&
        break
    sleep 1
done
show curl -s --noproxy '*' --max-time 5 "http://$fip:8080/" ||
    die "the page of $WEB is not served at $fip"

if [ "$keep" = 1 ]; then
    step "done; the cloud, $WEB and its floating IP keep running. To use them:"
    cat <<EOF

export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml OS_CLOUD=nova-docker
$VENV/bin/openstack server list
curl http://$fip:8080/
Stop it all with: tools/cloud.sh down
EOF
    exit 0
fi

show openstack server remove floating ip "$WEB" "$fip"
show openstack floating ip delete "$fip"
show openstack server delete --wait "$WEB"
echo
cd "$REPO"
tools/cloud.sh down
step "done: servers deleted, the cloud stopped and removed"
