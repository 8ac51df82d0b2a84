#!/bin/bash
# Make sure Open vSwitch answers (ovsdb-server on
# unix:/var/run/openvswitch/db.sock and ovs-vswitchd), for the functional
# tests that wire namespaces to OVS bridges (and CI).  Idempotent: quiet
# when all is fine, one line per action taken otherwise.
#
# - installs Debian's openvswitch-switch, iproute2, iputils-ping and
#   util-linux (nsenter) with apt-get when missing;
# - starts ovsdb-server and ovs-vswitchd with ovs-ctl (no systemd needed)
#   when `ovs-vsctl show` or ovs-vswitchd does not answer, and waits up to
#   30 s for both.
#
# Without the openvswitch kernel module OVS runs in userspace: tests make
# their bridges with datapath_type=netdev.
set -euo pipefail

RUNDIR=/var/run/openvswitch
OVS_CTL=/usr/share/openvswitch/scripts/ovs-ctl
LOG=/var/log/openvswitch
WAIT=30

# shellcheck source=tools/lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    die "must run as root (it installs packages and starts Open vSwitch)"
fi

missing=()
command -v ovs-vsctl >/dev/null 2>&1 || missing+=(openvswitch-switch)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)

if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt-get may hold the lock on a shared machine: wait for it.
    apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x "$OVS_CTL" ] || die "$OVS_CTL is missing (openvswitch-switch broken?)"

# `ovs-vsctl show` only reads ovsdb; ovs-vswitchd must answer too, else
# every ovs-vsctl that changes a bridge waits for it forever.
answers() {
    ovs-vsctl --timeout=5 show >/dev/null 2>&1 &&
        ovs-appctl --timeout=5 -t ovs-vswitchd version >/dev/null 2>&1
}

if answers; then
    exit 0
fi

fail() {
    err "$*; last lines of $LOG/*.log:"
    tail -n 15 "$LOG"/ovsdb-server.log "$LOG"/ovs-vswitchd.log >&2 \
        2>/dev/null || true
    exit 1
}

# ovs-ctl starts only the daemon(s) not running; both detach themselves
# (with a --monitor parent that restarts them if they crash).
say "starting ovsdb-server and ovs-vswitchd (ovs-ctl; logs in $LOG)"
mkdir -p "$RUNDIR" "$LOG"
if ! out=$("$OVS_CTL" --system-id=random start 2>&1); then
    echo "$out" >&2
    fail "ovs-ctl --system-id=random start failed"
fi

for _ in $(seq $((WAIT * 5))); do
    if answers; then
        say "Open vSwitch answers on unix:$RUNDIR/db.sock"
        exit 0
    fi
    sleep 0.2
done
fail "Open vSwitch did not answer within ${WAIT} s"
