# shellcheck shell=bash
# Sourced by the tools' scripts: what each of them needs, written once.
#
#   . "$(dirname "$0")/lib.sh"                    (a script in tools/)
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"     (a sourced file)
#
# say, err, die      a line for the operator, prefixed "<script>:" (the
#                    script's name; tools/progress.sh makes it the seconds
#                    since the start instead)
# header_help        the script's header comment, as its --help
# start_time, pid_alive
#                    whether a pid is still the process it was
# engine_answers     whether a Docker Engine answers on a socket
# apt_install        Debian packages, as root, waiting for another apt-get
# osc                the cloud's openstack CLI (tools/cloud/common.sh sets
#                    the paths it reads)

# The prefix of say, err and die; tools/progress.sh redefines it.
say_prefix() { echo "$(basename "$0" .sh):"; }

# say MESSAGE...: one line of progress on stdout.
say() { echo "$(say_prefix) $*"; }

# err MESSAGE...: an error line on stderr; die: then exit 1.
err() { echo "$(say_prefix) ERROR: $*" >&2; }
die() { err "$@"; exit 1; }

# header_help: the comment lines between the shebang and `set -euo`.
header_help() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

# start_time PID: the start time of a process (clock ticks since boot):
# with its pid, it names one process for good, as a pid alone does not
# once pids wrap.
start_time() {
    # The command may hold spaces and parentheses: split after the last ')'.
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}

# pid_alive PID [STARTTIME]: that process lives and is not a zombie (one
# killed with its session lingers as a zombie until it is reaped); with
# STARTTIME, it is the process that started then, not a later one given
# the same pid.
pid_alive() {
    local pid=$1 state
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ] || return 1
    [ "$#" -lt 2 ] || [ "$(start_time "$pid")" = "$2" ]
}

# engine_answers SOCKET [SECONDS]: a Docker Engine answers GET /_ping on
# the unix socket SOCKET within SECONDS (5).
engine_answers() {
    [ "$(curl -sf --max-time "${2:-5}" --unix-socket "$1" http://d/_ping \
        2>/dev/null)" = OK ]
}

# osc ARGS...: the openstack CLI of the cloud of tools/cloud.sh, as the
# cloud's admin (or as $CLOUD, a cloud of its clouds.yaml). $STATE and
# $VENV come from tools/cloud/common.sh.
osc() {
    # shellcheck disable=SC2153  # set by tools/cloud/common.sh
    OS_CLIENT_CONFIG_FILE="$STATE/clouds.yaml" "$VENV/bin/openstack" \
        --os-cloud "${CLOUD:-nova-docker-admin}" "$@"
}

# apt_install PACKAGE...: install Debian packages (as root; dies saying
# so otherwise), waiting for another apt-get that holds the lock.
apt_install() {
    [ "$(id -u)" -eq 0 ] ||
        die "missing $*: run as root to install with apt-get"
    say "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt-get may hold the lock on a shared machine: wait for it.
    apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
    local rc=0 out
    out=$(apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "$@" 2>&1) || rc=$?
    [ "$rc" -eq 0 ] || { echo "$out" >&2; die "apt-get install $* failed"; }
}
