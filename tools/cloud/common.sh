# Sourced by tools/cloud.sh: where the cloud lives and how its processes
# are started, found and stopped.
#
# Every process the cloud runs is started by start_process: in a session
# (and so a process group) of its own, with its pid in $RUN/<name>.pid and
# its output in $LOG/<name>.log. `down` and `status` know the cloud only
# from those pid files.

# The state directory: configuration, databases, logs, pid files, both
# engines' data. Printed by `up`.
STATE=${NOVA_DOCKER_CLOUD_STATE:-/var/lib/nova-docker-cloud}
# The services' virtualenv. Outside $STATE: `down` removes the state, and
# installing the services again would cost minutes at every `up`.
CLOUD_HOME=${NOVA_DOCKER_CLOUD_HOME:-/opt/nova-docker-cloud}
VENV=$CLOUD_HOME/venv
ETC=$STATE/etc
RUN=$STATE/run
LOG=$STATE/log
DATA=$STATE/data
SECRETS=$ETC/secrets.env
COMPUTES=(compute1 compute2)
# Unix socket paths are limited to 108 bytes: the engines' exec roots
# (containerd's sockets live there) are short paths under /run.
EXEC_ROOT_PREFIX=/run/ndc-

# Bridges of the cloud on the host's Open vSwitch (at most 15 characters).
# Each compute host has an integration bridge and a "physical" bridge; the
# two physical bridges are joined by a patch-port pair, the wire between
# the two hosts that tenant VLANs travel on.
BRIDGE_PREFIX=ndc-
int_bridge() { echo "${BRIDGE_PREFIX}int${1#compute}"; }
phys_bridge() { echo "${BRIDGE_PREFIX}phy${1#compute}"; }
PHYSNET=physnet1
VLAN_RANGE=100:199

# Where each service listens (127.0.0.1 only).
HOST_IP=127.0.0.1
MYSQL_PORT=3306
RABBIT_PORT=5672
RABBIT_DIST_PORT=25672
EPMD_PORT=4369
KEYSTONE_PORT=5000
GLANCE_PORT=9292
PLACEMENT_PORT=8778
NOVA_API_PORT=8774
NEUTRON_PORT=9696
REGISTRY_PORT=5042
# The OVS agents' OpenFlow controllers: one port per compute host.
of_port() { echo $((6632 + ${1#compute})); }

# Each compute host's Docker Engine: socket, data root, pid file.
engine_dir() { echo "$DATA/$1/docker"; }
engine_socket() { echo "$(engine_dir "$1")/docker.sock"; }

KEYSTONE_URL=http://$HOST_IP:$KEYSTONE_PORT/v3
TENANT_CIDR=${NOVA_DOCKER_CLOUD_CIDR:-10.78.0.0/24}

# The start time of a process (clock ticks since boot): with its pid, it
# names one process for good, as a pid alone does not once pids wrap.
start_time() {
    # The command may hold spaces and parentheses: split after the last ')'.
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}

# pid_alive "PID STARTTIME": that process lives and is not a zombie.
pid_alive() {
    local pid=${1%% *} started=${1#* } state
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ] || return 1
    [ "$(start_time "$pid")" = "$started" ]
}

pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
running() { pid_alive "$(pid_of "$1")"; }

# start_process NAME [VAR=value ...] -- COMMAND...
# Starts COMMAND unless NAME already runs; returns at once.
start_process() {
    local name=$1 envs=() pid
    shift
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    if running "$name"; then
        return 0
    fi
    step "starting $name (log: $LOG/$name.log)"
    # setsid: a process group of its own, so `down` stops it with all the
    # children it forks (gunicorn workers, privsep helpers, ...), and a ^C
    # of the caller does not reach it. The command line names $STATE or
    # $VENV, which pid_alive checks.
    env "${envs[@]}" setsid "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid $(start_time "$pid")" >"$RUN/$name.pid"
}

# Every name start_process was given, from the pid files, in start order.
managed_names() {
    # shellcheck disable=SC2012  # names are ours: no odd characters
    ls -tr "$RUN" 2>/dev/null | sed -n 's/\.pid$//p'
}

# stop_processes NAME...: TERM to each one's process group at once, KILL
# to the groups still there 10 s later. Services stop in parallel: one
# after the other, the agents' and nova's graceful stops add up to minutes.
stop_processes() {
    local name entry entries=() pid
    for name in "$@"; do
        entry=$(pid_of "$name")
        # "0 0" is a process `stop` stopped: nothing to signal (and a
        # group id 0 would be our own group).
        [ "${entry%% *}" -gt 1 ] 2>/dev/null || continue
        entries+=("$entry")
        pid_alive "$entry" &&
            { kill -TERM -- "-${entry%% *}" 2>/dev/null ||
              kill -TERM "${entry%% *}" 2>/dev/null || true; }
    done
    for _ in $(seq 100); do
        [ "${#entries[@]}" -gt 0 ] || break
        any_alive "${entries[@]}" || break
        sleep 0.1
    done
    for entry in "${entries[@]}"; do
        pid=${entry%% *}
        # Also when the leader is gone: the group keeps its id while any
        # member (a gunicorn worker, a privsep helper) lives.
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    for name in "$@"; do
        rm -f "$RUN/$name.pid"
    done
}

any_alive() {
    local entry
    for entry in "$@"; do
        pid_alive "$entry" && return 0
    done
    return 1
}

# Processes that outlived their group (a privsep helper, a containerd
# shim, which start sessions of their own) still name $STATE in their
# command line: they are the cloud's too.
sweep_leftover_processes() {
    local pids=() pid
    for pid in $(pgrep -f -- "$STATE" || true); do
        [ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] && pids+=("$pid")
    done
    for pid in $(pgrep -f -- "$EXEC_ROOT_PREFIX" || true); do
        pids+=("$pid")
    done
    if [ "${#pids[@]}" -gt 0 ]; then
        step "killing ${#pids[@]} leftover process(es) of the cloud"
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
}

# wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
    local what=$1 timeout=$2 deadline
    shift 2
    deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "$what did not come up within $timeout s"
        fi
        sleep 0.5
    done
}

# The log tail of a process that died, for the error message.
log_tail() {
    echo "--- last lines of $LOG/$1.log ---" >&2
    tail -n 25 "$LOG/$1.log" >&2 2>/dev/null || true
}

# wait_http NAME URL SECONDS: the process NAME answers URL (any status
# below 500), or the error names its log.
wait_http() {
    local name=$1 url=$2 timeout=$3 deadline code
    deadline=$((SECONDS + timeout))
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" ||
            true)
        if [ -n "$code" ] && [ "$code" != 000 ] && [ "$code" -lt 500 ]; then
            return 0
        fi
        if ! running "$name"; then
            log_tail "$name"
            die "$name exited before answering $url"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log_tail "$name"
            die "$name did not answer $url within $timeout s"
        fi
        sleep 0.3
    done
}

port_open() { (exec 3<>"/dev/tcp/$HOST_IP/$1") 2>/dev/null; }

# A port some other program holds would make a service of the cloud fail
# in a way its log explains badly: say it before starting.
check_port_free() {
    local name=$1 port=$2
    running "$name" && return 0
    if port_open "$port"; then
        die "port $HOST_IP:$port (for $name) is taken by another program" \
            "($(ss -Hltnp "sport = :$port" 2>/dev/null | awk '{print $6}'))"
    fi
}

venv_bin() { echo "$VENV/bin/$1"; }
