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

# shellcheck source=tools/lib.sh
. "$(dirname "$0")/lib.sh"

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

# A pid may be reused: only a live process of that name counts.
alive() {
    local pid=$1 name=$2
    pid_alive "$pid" &&
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

DOCKERD_PID=/var/run/docker.pid
CONTAINERD_PID=/var/run/docker/containerd/containerd.pid

# dockerd refuses to start while its pid file names any process, and waits
# in vain for a managed containerd whose pid file names a dead one.
clear_stale_pid() {
    local file=$1 name=$2
    [ -e "$file" ] || return 0
    alive "$(cat "$file" 2>/dev/null)" "$name" && return 0
    say "removing the stale $file"
    rm -f "$file"
}

if engine_answers "$SOCK"; then
    exit 0
fi

fail() {
    err "$*; last lines of $LOG:"
    tail -n 30 "$LOG" >&2 2>/dev/null || true
    exit 1
}

# Returns 0 once the engine answers, 1 if the dockerd it waits on exits.
wait_for_engine() {
    local started=$1
    for _ in $(seq $((WAIT * 5))); do
        if engine_answers "$SOCK"; then
            say "engine answers on $SOCK"
            return 0
        fi
        if [ -n "$started" ] && ! pid_alive "$started"; then
            return 1
        fi
        sleep 0.2
    done
    fail "engine did not answer GET /_ping on $SOCK within ${WAIT} s"
}

if alive "$(cat $DOCKERD_PID 2>/dev/null)" dockerd; then
    say "dockerd is running but not answering yet; waiting"
    wait_for_engine "" && exit 0
fi

for attempt in 1 2 3; do
    clear_stale_pid $DOCKERD_PID dockerd
    clear_stale_pid $CONTAINERD_PID containerd
    say "starting dockerd --bridge=none (log: $LOG)"
    # setsid + nohup: dockerd outlives this script and its session.
    setsid nohup dockerd --bridge=none >>"$LOG" 2>&1 </dev/null &
    wait_for_engine $! && exit 0
    if [ "$attempt" -lt 3 ]; then
        # Often the remains of a killed engine, gone a moment later.
        say "dockerd exited before answering; trying again in 3 s"
        sleep 3
    fi
done
fail "dockerd exited before answering GET /_ping on $SOCK"
