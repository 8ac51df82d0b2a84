#!/bin/bash
# Make sure a Docker Engine answers on /var/run/docker.sock, for the
# functional and e2e tests (and CI).  Idempotent: quiet when all is fine,
# one line per action taken otherwise.
#
# - installs Debian's docker.io, busybox-static (test images are built
#   from /bin/busybox), iproute2 and curl with apt-get when missing;
# - starts `dockerd --bridge=none` in the background (log in
#   /var/log/nova-docker-dockerd.log) when the engine does not answer
#   GET /_ping, and waits up to 30 s for it.
#
# The docker CLI is not used (the one on PATH may be another version).
set -euo pipefail

SOCK=/var/run/docker.sock
LOG=/var/log/nova-docker-dockerd.log
WAIT=30

say() { echo "ensure-docker: $*"; }
die() { echo "ensure-docker: ERROR: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    die "must run as root (it installs packages and starts dockerd)"
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v curl >/dev/null 2>&1 || missing+=(curl)

if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null
fi

ping_engine() {
    [ "$(curl -sf --max-time 5 --unix-socket "$SOCK" http://d/_ping \
        2>/dev/null)" = OK ]
}

dockerd_alive() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

if ping_engine; then
    exit 0
fi

fail() {
    echo "ensure-docker: ERROR: $*; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2 2>/dev/null || true
    exit 1
}

started=
if dockerd_alive; then
    say "dockerd is running but not answering yet; waiting"
else
    say "starting dockerd --bridge=none (log: $LOG)"
    # setsid + nohup: dockerd outlives this script and its session.
    setsid nohup dockerd --bridge=none >>"$LOG" 2>&1 </dev/null &
    started=$!
fi

for _ in $(seq $((WAIT * 5))); do
    if ping_engine; then
        say "engine answers on $SOCK"
        exit 0
    fi
    if [ -n "$started" ] && ! kill -0 "$started" 2>/dev/null; then
        fail "dockerd exited before answering GET /_ping on $SOCK"
    fi
    sleep 0.2
done

fail "engine did not answer GET /_ping on $SOCK within ${WAIT} s"
