#!/usr/bin/env bash
# A real OpenStack cloud on this machine, with nova-docker on two compute
# hosts. As root on Debian:
#
#   tools/cloud.sh up            install what is missing, start what is not
#                                running, print how to use the cloud
#   tools/cloud.sh status        one line per process: <name> <pid> <state>;
#                                non-zero when one is dead
#   tools/cloud.sh stop NAME     stop one process (a name `status` prints),
#                                as a host's outage would; `up` starts it
#                                again
#   tools/cloud.sh down [--keep-data]
#                                stop everything, remove both engines'
#                                containers and images, the cloud's bridges,
#                                ports, namespaces and state (--keep-data:
#                                the databases, Glance's images and the
#                                passwords stay for the next `up`). It ends
#                                only the processes `up` started (their
#                                process groups and descendants, from the
#                                pid files) and the engines' containerd
#                                shims, and refuses a state directory `up`
#                                did not make.
#
# Each service is its own process on 127.0.0.1 with its own log in
# $STATE/log: MariaDB, RabbitMQ, Keystone (fernet), Glance, Placement,
# Neutron (API, RPC server, one Open vSwitch agent per compute host on the
# userspace datapath), nova-api (gunicorn), -conductor, -scheduler and two
# nova-compute services, compute1 and compute2, each with
# compute_driver = docker.DockerDriver and a dockerd of its own.
# $NOVA_DOCKER_CLOUD_STATE (default /var/lib/nova-docker-cloud) and
# $NOVA_DOCKER_CLOUD_HOME (the services' venv; /opt/nova-docker-cloud) move
# them. The passwords are in $STATE/etc/secrets.env, the services'
# configurations in $STATE/etc (0700, files 0600), the CLI's in
# $STATE/clouds.yaml (0600).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/tools/progress.sh"
. "$REPO/tools/cloud/common.sh"
. "$REPO/tools/cloud/config.sh"
. "$REPO/tools/cloud/services.sh"

bootstrap() {
    env HOST_IP=$HOST_IP KEYSTONE_URL=$KEYSTONE_URL \
        COMPUTES="${COMPUTES[*]}" GLANCE_PORT=$GLANCE_PORT \
        PLACEMENT_PORT=$PLACEMENT_PORT NEUTRON_PORT=$NEUTRON_PORT \
        NOVA_API_PORT=$NOVA_API_PORT TENANT_CIDR=$TENANT_CIDR \
        ALT_CIDR=$ALT_CIDR PUBLIC_CIDR=$PUBLIC_CIDR \
        PUBLIC_HOST_IP=$PUBLIC_HOST_IP L3_HOST=$L3_HOST \
        ADMIN_PASSWORD=$ADMIN_PASSWORD DEMO_PASSWORD=$DEMO_PASSWORD \
        ALT_PASSWORD=$ALT_PASSWORD \
        SERVICE_PASSWORD=$SERVICE_PASSWORD RUN=$RUN \
        "$VENV/bin/python" "$REPO/tools/cloud/bootstrap.py" "$@"
}

cmd_up() {
    [ "$(id -u)" -eq 0 ] ||
        die "run as root: it installs Debian packages, runs two dockerd" \
            "and wires ports on Open vSwitch"
    local t0=$SECONDS
    claim_state
    install_debian_packages
    "$REPO/tools/ensure-ovs.sh" || die "Open vSwitch is not running"
    install_venv
    step "state directory: $STATE"
    write_all_conf

    start_mariadb
    start_rabbitmq
    wait_mariadb
    create_databases
    sync_schemas

    # Everything that needs only the databases and RabbitMQ starts now and
    # imports its code while Keystone is bootstrapped: on two cores the
    # imports are most of the start-up.
    start_keystone
    start_apis
    ensure_bridges
    start_ovs_agents
    start_engines
    wait_http keystone "$KEYSTONE_URL" 120
    bootstrap_keystone
    step "users, projects and the service catalog"
    bootstrap identity || die "could not create the cloud's users"
    # nova-conductor and -scheduler exit when placement refuses the
    # service user's credentials; nova-compute would wait a periodic
    # task's minute to try again.
    start_nova_services
    start_computes
    start_registry
    wait_rabbitmq
    wait_apis
    step "flavors and the demo project's network"
    bootstrap resources || die "could not create flavors and networks"

    step "waiting for every service and agent to report up"
    WAIT_TIMEOUT=180 bootstrap wait || { cmd_status >&2 || true
        die "the cloud did not come up (logs in $LOG)"; }
    run_logged nova-manage "$VENV/bin/nova-manage" --config-file \
        "$ETC/nova/nova.conf" cell_v2 discover_hosts ||
        die "nova-manage cell_v2 discover_hosts failed"
    step "the cloud is up ($((SECONDS - t0)) s); logs in $LOG"
    cat <<EOF

export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml

Then: openstack --os-cloud nova-docker server list       (the demo user)
      openstack --os-cloud nova-docker-admin compute service list
Docker on a compute host: docker -H unix://$(engine_socket compute1) ps
The services' CLI is in $VENV/bin.
EOF
}

cmd_status() {
    local name entry state failed=0
    if [ ! -d "$RUN" ] || [ -z "$(managed_names)" ]; then
        echo "the cloud is not running (no pid files in $RUN)"
        return 1
    fi
    for name in $(managed_names); do
        entry=$(pid_of "$name")
        if entry_alive "$entry"; then
            state=running
        else
            state=dead
            failed=1
        fi
        echo "$name ${entry%% *} $state"
    done
    return "$failed"
}

# Removes what the engine holds through its API while it runs, so that
# no container outlives the engine, then stops the engine.
clear_engine() {
    local host=$1 sock
    sock=$(engine_socket "$host")
    running "dockerd@$host" && engine_ping "$host" || return 0
    step "removing the containers and images of dockerd@$host"
    docker -H "unix://$sock" ps -aq | xargs -r docker -H "unix://$sock" \
        rm -f >/dev/null || true
    docker -H "unix://$sock" images -q | sort -u |
        xargs -r docker -H "unix://$sock" rmi -f >/dev/null || true
}

remove_engine_dirs() {
    local host=$1 dir exec_root
    dir=$(engine_dir "$host")
    exec_root=$EXEC_ROOT_PREFIX$host
    # Mounts below the data and exec roots (overlays, the netns of a
    # container killed with its shim) are lazily unmounted first.
    awk '{print $5}' /proc/self/mountinfo |
        grep -e "^$dir/" -e "^$exec_root" | sort -r |
        xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$dir" "$exec_root"
}

# What the cloud made on the host's network: its OVS bridges, and the
# host ends of the veths plugged into them. A veth whose other end was in
# a container's namespace went with that namespace; one left behind by a
# cut-short wiring would not.
remove_network() {
    local br port ports=() ns
    # The L3 agent's router namespaces (the agent is stopped already),
    # with the iptables rules, routes and veth ends inside them.
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' |
                grep '^qrouter-' || true); do
        step "removing network namespace $ns"
        ip netns delete "$ns" 2>/dev/null || true
    done
    for br in $(ovs-vsctl --timeout=10 list-br 2>/dev/null |
                grep "^$BRIDGE_PREFIX" || true); do
        mapfile -t -O "${#ports[@]}" ports < <(ovs-vsctl --timeout=10 \
            list-ports "$br" 2>/dev/null || true)
        step "removing Open vSwitch bridge $br"
        ovs-vsctl --timeout=10 --if-exists del-br "$br" || true
    done
    for port in "${ports[@]}"; do
        if ip -o link show dev "$port" type veth >/dev/null 2>&1; then
            ip link del "$port" 2>/dev/null || true
        fi
    done
}

cmd_down() {
    local keep_data=$1 host
    [ "$(id -u)" -eq 0 ] || die "run as root"
    check_state
    # nova-compute first: it would start again what the engine loses.
    step "stopping nova-compute@${COMPUTES[0]} and @${COMPUTES[1]}"
    stop_processes "${COMPUTES[@]/#/nova-compute@}"
    for host in "${COMPUTES[@]}"; do
        clear_engine "$host"
    done
    step "stopping $(managed_names | tr '\n' ' ')"
    # shellcheck disable=SC2046  # names have no spaces
    stop_processes $(managed_names)
    stop_engine_shims
    for host in "${COMPUTES[@]}"; do
        remove_engine_dirs "$host"
    done
    remove_network
    if [ "$keep_data" = 1 ]; then
        # The databases, Glance's store, keystone's keys and the passwords
        # that go with them; logs and engines go.
        rm -rf "$RUN" "$LOG" "${COMPUTES[@]/#/$DATA/}"
        step "stopped; databases kept in $DATA"
    else
        rm -rf "$STATE"
        step "stopped; $STATE removed"
    fi
}

main() {
    local cmd=${1:-}
    shift || true
    case "$cmd" in
        up) cmd_up "$@" ;;
        status) cmd_status ;;
        stop)
            check_state
            [ -n "${1:-}" ] && [ -e "$RUN/$1.pid" ] ||
                die "usage: tools/cloud.sh stop NAME, NAME one of:" \
                    $(managed_names)
            step "stopping $1"
            stop_processes "$1"
            # Its name stays listed, as dead, until `up` starts it again.
            echo "0 0" >"$RUN/$1.pid" ;;
        down)
            local keep=0
            [ "${1:-}" = --keep-data ] && keep=1
            cmd_down "$keep" ;;
        -h|--help|help) header_help ;;
        *) header_help >&2; exit 2 ;;
    esac
}

main "$@"
