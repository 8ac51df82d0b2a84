# Sourced by tools/cloud.sh (after tools/progress.sh, which brings
# tools/lib.sh): where the cloud lives and how its processes
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
# Written by `up` into the state directory it makes: `down` removes only
# a directory that holds it.
MARKER=$STATE/.nova-docker-cloud
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
SERIALPROXY_PORT=6083
# Each compute host's serial console ports: ranges of their own, as the
# two share one address.
serial_ports() { local n=${1#compute}; echo "$((10000 + n * 1000)):$((10100 + n * 1000))"; }
# The OVS agents' OpenFlow controllers: one port per compute host.
of_port() { echo $((6632 + ${1#compute})); }

# Each compute host's Docker Engine: socket, data root, pid file.
engine_dir() { echo "$DATA/$1/docker"; }
engine_socket() { echo "$(engine_dir "$1")/docker.sock"; }

KEYSTONE_URL=http://$HOST_IP:$KEYSTONE_PORT/v3
TENANT_CIDR=${NOVA_DOCKER_CLOUD_CIDR:-10.78.0.0/24}
# The alt project's network.
ALT_CIDR=${NOVA_DOCKER_CLOUD_ALT_CIDR:-10.79.0.0/24}
# The external network `public`: flat (untagged) on physnet1, whose
# compute1 bridge holds PUBLIC_HOST_IP, so the host is "the outside".
# The range is routed only to that bridge; the subnet has no gateway, so
# no router sends anything past the host (no default route, no NAT to
# the host's uplink).
PUBLIC_CIDR=${NOVA_DOCKER_CLOUD_PUBLIC_CIDR:-172.24.4.0/24}
PUBLIC_HOST_IP=${PUBLIC_CIDR%.*}.1
# The host whose namespaces hold the routers (the L3 agent's).
L3_HOST=compute1

# claim_state: the state directory is ours (made by `up`: it holds
# $MARKER) or is made now; a directory something else made is refused,
# as `down` would delete it.
claim_state() {
    if [ -e "$MARKER" ]; then
        return 0
    fi
    if [ -d "$STATE" ] && [ -n "$(ls -A "$STATE")" ]; then
        refuse_state
    fi
    mkdir -p "$STATE"
    echo "made by tools/cloud.sh up; tools/cloud.sh down removes it all" \
        >"$MARKER"
}

# check_state: exits when $STATE is there but not ours.
check_state() {
    if [ -e "$STATE" ] && [ ! -e "$MARKER" ]; then
        refuse_state
    fi
}

refuse_state() {
    die "$STATE was not made by tools/cloud.sh up (it has no $MARKER):" \
        "nothing in it is touched. Set NOVA_DOCKER_CLOUD_STATE to another" \
        "directory, or remove this one yourself if it is a cloud of an" \
        "older tools/cloud.sh"
}

# entry_alive "PID STARTTIME" (a pid file's line): that process lives
# (tools/lib.sh's pid_alive).
entry_alive() { pid_alive "${1%% *}" "${1#* }"; }

pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
running() { entry_alive "$(pid_of "$1")"; }

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
    # $VENV.
    env "${envs[@]}" setsid "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid $(start_time "$pid")" >"$RUN/$name.pid"
}

# Every name start_process was given, from the pid files, in start order.
managed_names() {
    # shellcheck disable=SC2012  # names are ours: no odd characters
    ls -tr "$RUN" 2>/dev/null | sed -n 's/\.pid$//p'
}

# "PID PPID PGRP SID STARTTIME" of every process.
proc_table() {
    local f line
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        f=${f#/proc/}
        # The command may hold spaces and parentheses: split after the
        # last ')'.
        # shellcheck disable=SC2086  # numbers and a state letter
        set -- ${line##*) }
        echo "${f%/stat} $2 $3 $4 ${20}"
    done
}

# tree_of group|pid ID...: "PID STARTTIME" of the processes whose process
# group or session is one of ID... (group), or that are one of ID...
# (pid), and of all their descendants (a containerd that dockerd started
# in a session of its own, the processes of a container below its shim).
tree_of() {
    local mode=$1
    shift
    proc_table | awk -v mode="$mode" -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) root[r[i]] = 1 }
        { parent[$1] = $2; started[$1] = $5
          if (mode == "pid" ? ($1 in root) : (($3 in root) || ($4 in root)))
              mine[$1] = 1 }
        END {
            do { grown = 0
                 for (p in parent)
                     if (!(p in mine) && (parent[p] in mine)) { mine[p] = 1; grown = 1 }
            } while (grown)
            for (p in mine) print p, started[p] }'
}

# kill_entries: KILL to each "PID STARTTIME" line of stdin still alive.
kill_entries() {
    local entry
    while read -r entry; do
        [ -n "$entry" ] && entry_alive "$entry" &&
            kill -KILL "${entry%% *}" 2>/dev/null || true
    done
}

# group_leaders NAME...: the recorded pids that still name the process
# group `up` made. A pid is not given to a new process while a group or
# session of that id has members: the leader gone, its group is still
# ours; a live process of that pid with another start time is not.
group_leaders() {
    local name entry pid
    for name in "$@"; do
        entry=$(pid_of "$name")
        pid=${entry%% *}
        # "0 0" is a process `stop` stopped: nothing to signal (and a
        # group id 0 would be our own group).
        [ "$pid" -gt 1 ] 2>/dev/null || continue
        if [ ! -d "/proc/$pid" ] ||
                [ "$(start_time "$pid")" = "${entry#* }" ]; then
            echo "$pid"
        fi
    done
}

# stop_processes NAME...: TERM to each one's process group, session and
# descendants at once, KILL 10 s later to what is left of them. Services
# stop in parallel: one after the other, the agents' and nova's graceful
# stops add up to minutes. Nothing else is signalled: a process that
# merely names $STATE (a `tail -f` of a log) is not the cloud's.
stop_processes() {
    local leaders pid entry members name
    leaders=$(group_leaders "$@")
    if [ -n "$leaders" ]; then
        # shellcheck disable=SC2086  # pids
        members=$(tree_of group $leaders)
        for pid in $leaders; do
            kill -TERM -- "-$pid" 2>/dev/null || true
        done
        # A descendant in a session of its own (dockerd's containerd).
        while read -r entry; do
            [ -n "$entry" ] && entry_alive "$entry" &&
                kill -TERM "${entry%% *}" 2>/dev/null || true
        done <<<"$members"
        for _ in $(seq 100); do
            any_alive_lines "$members" || break
            sleep 0.1
        done
        # Looked up again too: a member may have forked meanwhile; one
        # whose parent is gone is found in the first list only.
        # shellcheck disable=SC2046  # pids
        { echo "$members"; tree_of group $(group_leaders "$@"); } |
            sort -u | kill_entries
    fi
    for name in "$@"; do
        rm -f "$RUN/$name.pid"
    done
}

# any_alive_lines "PID STARTTIME" lines: one of them lives.
any_alive_lines() {
    local entry
    while read -r entry; do
        [ -n "$entry" ] && entry_alive "$entry" && return 0
    done <<<"$1"
    return 1
}

# The engines' containerd shims start sessions of their own and outlive
# dockerd: those whose containerd is one of the cloud's engines (its
# socket is in an engine's exec root), with the containers' processes
# below them.
stop_engine_shims() {
    local pid cmd host shims=()
    for pid in $(proc_table | awk '{print $1}'); do
        case $(readlink "/proc/$pid/exe" 2>/dev/null) in
            */containerd-shim*) ;;
            *) continue ;;
        esac
        cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        for host in "${COMPUTES[@]}"; do
            case " $cmd" in
                *" -address $EXEC_ROOT_PREFIX$host/"*) shims+=("$pid") ;;
            esac
        done
    done
    [ "${#shims[@]}" -gt 0 ] || return 0
    step "killing ${#shims[@]} containerd shim(s) of the cloud's engines"
    tree_of pid "${shims[@]}" | kill_entries
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
