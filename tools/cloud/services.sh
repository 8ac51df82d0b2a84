# Sourced by tools/cloud.sh: installing, starting and bootstrapping each
# service. Every start_* function starts only what is not running.

# Pinned as the project pins them (requirements.txt: nova 34; the rest of
# the 2026.2 series). Changing a pin re-installs the venv at the next `up`.
CLOUD_PACKAGES=(
    nova==34.0.0 glance==33.0.0 keystone==30.0.0
    openstack-placement==16.0.0 neutron==29.0.0
    python-openstackclient gunicorn pymysql
)
APT_PACKAGES=(mariadb-server rabbitmq-server docker.io busybox-static
              openvswitch-switch curl iproute2 ethtool python3-venv)

install_debian_packages() {
    local missing=()
    command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
    [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] ||
        missing+=(rabbitmq-server)
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    [ -x /bin/busybox ] || missing+=(busybox-static)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    # The L3 agent turns checksum offload off on the routers' veths.
    command -v ethtool >/dev/null 2>&1 || missing+=(ethtool)
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 ||
        missing+=(python3-venv)
    [ "${#missing[@]}" -eq 0 ] && return 0
    step "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # Debian's packages start their services on install where they can; a
    # policy-rc.d that says no keeps them from doing so (the cloud runs its
    # own instances), and goes again after.
    local policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    { apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null &&
      apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
          --no-install-recommends "${missing[@]}" >/dev/null; } ||
        { [ -z "$made_policy" ] || rm -f "$policy"
          die "apt-get could not install ${missing[*]}"; }
    [ -z "$made_policy" ] || rm -f "$policy"
}

# The venv is made once and checked against the pins and the checkout's
# driver at each `up`: only what changed is installed again.
install_venv() {
    local stamp=$CLOUD_HOME/packages.stamp want
    # The driver's own requirements too (requests-unixsocket, ...).
    want=$(printf '%s\n' "${CLOUD_PACKAGES[@]}"; cat "$REPO/requirements.txt")
    if [ ! -x "$VENV/bin/python" ]; then
        step "creating the services' virtualenv $VENV"
        mkdir -p "$CLOUD_HOME"
        python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        step "installing ${CLOUD_PACKAGES[*]} into $VENV (first run: a few" \
             "minutes)"
        "$VENV/bin/pip" install -q --disable-pip-version-check \
            "${CLOUD_PACKAGES[@]}" -r "$REPO/requirements.txt" 2>&1 |
            grep -v '^WARNING: Location' || true
        venv_python -c 'import nova, glance, keystone, placement;
import neutron, openstackclient, gunicorn, pymysql' ||
            die "pip could not install the services into $VENV"
        echo "$want" >"$stamp"
    fi
    install_driver
}

# The venv's python outside the checkout: nova_docker must come from the
# installed wheel, not from the current directory.
venv_python() {
    (cd / && PYTHONWARNINGS=ignore "$VENV/bin/python" "$@")
}

# nova-docker as a wheel, as an operator installs it: the wheel carries
# nova/virt/docker/__init__.py where nova's loader looks.
install_driver() {
    local stamp=$CLOUD_HOME/driver.stamp tree
    tree=$(cd "$REPO" && find nova_docker nova setup.cfg setup.py \
        requirements.txt -type f ! -name '*.pyc' -print0 | sort -z |
        xargs -0 sha256sum | sha256sum | cut -c1-16)
    [ "$(cat "$stamp" 2>/dev/null)" = "$tree" ] && return 0
    step "installing nova-docker from $REPO into $VENV (wheel)"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps \
        --force-reinstall "$REPO" 2>&1 | grep -v '^WARNING: Location' || true
    venv_python -c 'import nova.virt.docker' ||
        die "nova-docker did not install into $VENV"
    echo "$tree" >"$stamp"
}

# -- MariaDB and RabbitMQ ---------------------------------------------------

MYSQL_RUN=$DATA/mysql-run
mysql_root() {
    mariadb --no-defaults -S "$MYSQL_RUN/mysql.sock" -u root "$@"
}

start_mariadb() {
    check_port_free mariadb "$MYSQL_PORT"
    mkdir -p "$MYSQL_RUN"
    if [ ! -d "$DATA/mysql/mysql" ]; then
        step "initialising MariaDB in $DATA/mysql"
        mariadb-install-db --no-defaults --datadir="$DATA/mysql" \
            --user=root --auth-root-authentication-method=socket \
            --skip-test-db >>"$LOG/mariadb-install.log" 2>&1 ||
            die "mariadb-install-db failed; see $LOG/mariadb-install.log"
    fi
    # --no-defaults: none of the host's /etc/mysql applies. The
    # durability settings are a test cloud's: the schemas are about a
    # thousand tables, and a table in a file of its own costs a file
    # creation and several fsyncs each (a minute and more on a busy
    # 2-core machine); in the shared tablespace, without syncs, seconds.
    start_process mariadb -- /usr/sbin/mariadbd --no-defaults \
        --datadir="$DATA/mysql" --socket="$MYSQL_RUN/mysql.sock" \
        --pid-file="$MYSQL_RUN/mariadbd.pid" --user=root \
        --bind-address=$HOST_IP --port=$MYSQL_PORT --skip-name-resolve \
        --skip-log-bin --innodb-buffer-pool-size=128M \
        --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
        --innodb-file-per-table=0 --innodb-flush-method=nosync \
        --max-connections=1000 --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_general_ci
}

wait_mariadb() {
    wait_for "MariaDB" 60 mysql_root -e 'SELECT 1'
}

RABBIT_ENV=()
rabbit_env() {
    RABBIT_ENV=(HOME="$DATA/rabbitmq"
        RABBITMQ_CONF_ENV_FILE=/dev/null
        RABBITMQ_NODENAME=ndcloud@localhost
        RABBITMQ_NODE_IP_ADDRESS=$HOST_IP RABBITMQ_NODE_PORT=$RABBIT_PORT
        RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT
        # Erlang's distribution port (rabbitmqctl's way in, with the
        # cookie in $HOME) listens on every interface unless told.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
        "RABBITMQ_CTL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
        RABBITMQ_MNESIA_BASE="$DATA/rabbitmq/mnesia"
        RABBITMQ_LOG_BASE="$LOG" RABBITMQ_LOGS=-
        RABBITMQ_CONFIG_FILE="$ETC/rabbitmq"
        RABBITMQ_ENABLED_PLUGINS_FILE="$ETC/rabbitmq-plugins"
        RABBITMQ_PID_FILE="$DATA/rabbitmq/pid"
        ERL_EPMD_ADDRESS=$HOST_IP ERL_EPMD_PORT=$EPMD_PORT)
}

start_rabbitmq() {
    rabbit_env
    check_port_free rabbitmq "$RABBIT_PORT"
    # Its database holds the cloud user's password hash, and $HOME the
    # Erlang cookie: root's only ($ETC/rabbitmq.conf is written with the
    # other configurations).
    (umask 077 && mkdir -p "$DATA/rabbitmq/mnesia")
    # Erlang's port mapper, started here so that it is the cloud's and
    # stops with it; one already there (the host's) is used as it is.
    if ! running epmd && ! port_open "$EPMD_PORT"; then
        start_process epmd -- /usr/bin/epmd -address $HOST_IP \
            -port $EPMD_PORT
        wait_for "epmd" 20 port_open "$EPMD_PORT"
    fi
    # Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user;
    # the script it wraps runs as the caller, with the paths above.
    start_process rabbitmq "${RABBIT_ENV[@]}" -- \
        /usr/lib/rabbitmq/bin/rabbitmq-server
}

wait_rabbitmq() {
    wait_for "RabbitMQ" 90 port_open "$RABBIT_PORT"
}

# -- databases --------------------------------------------------------------

DATABASES=(keystone:keystone glance:glance placement:placement
           neutron:neutron nova:nova_api nova:nova nova:nova_cell0)

DATABASE_NAMES=("${DATABASES[@]#*:}")

create_databases() {
    local sql='' entry user db
    for entry in "${DATABASES[@]}"; do
        user=${entry%%:*} db=${entry#*:}
        sql+="CREATE DATABASE IF NOT EXISTS $db;"
        sql+="CREATE USER IF NOT EXISTS '$user'@'$HOST_IP' IDENTIFIED BY"
        sql+=" '$DB_PASSWORD';"
        sql+="GRANT ALL PRIVILEGES ON $db.* TO '$user'@'$HOST_IP';"
    done
    # On stdin: a command line is every local user's to read.
    mysql_root <<<"$sql" || die "could not create the databases"
}

# The schemas, once per data directory (`up --keep-data` finds them).
# Migrating seven empty databases takes minutes of CPU on the 2-core
# machine; its outcome depends only on the packages, so the first `up`
# dumps it into $CLOUD_HOME (next to the venv, which `down` keeps too) and
# later ones load the dump in seconds.
sync_schemas() {
    [ -e "$DATA/schemas.done" ] && return 0
    local cache
    cache=$CLOUD_HOME/schema-cache/$(sha256sum "$CLOUD_HOME/packages.stamp" |
        cut -c1-16).sql
    if [ -s "$cache" ]; then
        # One an older cloud.sh left readable to all.
        chmod 0600 "$cache"
        step "loading the databases' schemas from $cache"
        mysql_root <"$cache" || die "could not load $cache"
    else
        migrate_schemas
        # Root's only: the cell mappings' rows hold this cloud's
        # database password (they are set anew below when loaded).
        (umask 077 && mkdir -p "$(dirname "$cache")" &&
            mariadb-dump --no-defaults -S "$MYSQL_RUN/mysql.sock" -u root \
                --databases "${DATABASE_NAMES[@]}" >"$cache.tmp" &&
            mv "$cache.tmp" "$cache") ||
            { rm -f "$cache.tmp"; step "(could not cache the schemas)"; }
    fi
    # The cell mappings name the cells' databases with this cloud's
    # password (a dump made by another cloud holds that one's).
    mysql_root nova_api <<<"
UPDATE cell_mappings SET database_connection='$(db_url nova nova_cell0)'
    WHERE name='cell0';
UPDATE cell_mappings SET database_connection='$(db_url nova nova)',
    transport_url='$(transport_url)' WHERE name='cell1';" ||
        die "could not update nova's cell mappings"
    touch "$DATA/schemas.done"
}

migrate_schemas() {
    step "creating the databases' schemas (keystone, glance, placement," \
         "neutron, nova: a few minutes, once)"
    local pids=() failed=0 pid
    run_logged db-keystone "$VENV/bin/keystone-manage" --config-file \
        "$ETC/keystone.conf" db_sync &
    pids+=($!)
    run_logged db-glance "$VENV/bin/glance-manage" --config-file \
        "$ETC/glance/glance-api.conf" db_sync &
    pids+=($!)
    run_logged db-placement "$VENV/bin/placement-manage" --config-file \
        "$ETC/placement/placement.conf" db sync &
    pids+=($!)
    run_logged db-neutron "$VENV/bin/neutron-db-manage" --config-file \
        "$ETC/neutron/neutron.conf" --config-file \
        "$ETC/neutron/ml2_conf.ini" upgrade heads &
    pids+=($!)
    sync_nova_schemas &
    pids+=($!)
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    [ "$failed" -eq 0 ] || die "a schema sync failed (logs db-*.log in $LOG)"
}

run_logged() {
    local name=$1
    shift
    if ! "$@" >>"$LOG/$name.log" 2>&1; then
        log_tail "$name"
        echo "$name failed: $*" >&2
        return 1
    fi
}

sync_nova_schemas() {
    local manage=("$VENV/bin/nova-manage" --config-file "$ETC/nova/nova.conf")
    run_logged db-nova "${manage[@]}" api_db sync &&
    run_logged db-nova "${manage[@]}" cell_v2 map_cell0 \
        --database_connection "$(db_url nova nova_cell0)" &&
    run_logged db-nova "${manage[@]}" cell_v2 create_cell --name cell1 &&
    run_logged db-nova "${manage[@]}" db sync
}

# -- the API services -------------------------------------------------------

# start_wsgi NAME PORT APP [VAR=value ...]: gunicorn, one worker with
# threads (a 2-core machine; memory for the whole cloud), or
# WSGI_WORKERS of them. APP is the argument list of wsgi_apps.app():
# 'module' or 'module', wrap='filter'.
#
# Idle connections are kept 75 s (gunicorn's default is 2 s): the
# services' clients keep theirs pooled, and a request sent on one just
# as gunicorn closes it is reset ("Connection reset by peer"). Batches
# of 50 creates lost a server to that (the scheduler's placement query
# failed: NoValidHost) in two runs of two.
start_wsgi() {
    local name=$1 port=$2 module=$3
    shift 3
    check_port_free "$name" "$port"
    start_process "$name" "$@" -- "$VENV/bin/python" -m gunicorn \
        --bind "$HOST_IP:$port" --workers "${WSGI_WORKERS:-1}" --threads 8 \
        --worker-class gthread --timeout 600 --graceful-timeout 5 \
        --keep-alive 75 \
        --no-control-socket --pythonpath "$REPO/tools/cloud" \
        --name "$name" "wsgi_apps:app($module)"
}

start_keystone() {
    # The token and credential keys: whoever reads them is anyone.
    (umask 077 && mkdir -p "$DATA/keystone")
    if [ ! -d "$DATA/keystone/fernet-keys" ]; then
        (umask 077
         "$VENV/bin/keystone-manage" --config-file "$ETC/keystone.conf" \
             fernet_setup --keystone-user root --keystone-group root &&
         "$VENV/bin/keystone-manage" --config-file "$ETC/keystone.conf" \
             credential_setup --keystone-user root --keystone-group root
        ) >>"$LOG/keystone-manage.log" 2>&1 ||
            die "keystone-manage could not make the keys; see" \
                "$LOG/keystone-manage.log"
    fi
    start_wsgi keystone "$KEYSTONE_PORT" "'keystone.wsgi.api'" \
        OS_KEYSTONE_CONFIG_DIR="$ETC" OS_KEYSTONE_CONFIG_FILES=keystone.conf
}

bootstrap_keystone() {
    [ -e "$DATA/keystone.done" ] && return 0
    step "keystone-manage bootstrap (admin, RegionOne, identity endpoint)"
    # The password in the environment, not on the command line.
    OS_BOOTSTRAP_PASSWORD=$ADMIN_PASSWORD run_logged keystone-manage \
        "$VENV/bin/keystone-manage" --config-file "$ETC/keystone.conf" \
        bootstrap \
        --bootstrap-admin-url "$KEYSTONE_URL" \
        --bootstrap-internal-url "$KEYSTONE_URL" \
        --bootstrap-public-url "$KEYSTONE_URL" \
        --bootstrap-region-id RegionOne || die "keystone bootstrap failed"
    touch "$DATA/keystone.done"
}

start_apis() {
    start_wsgi glance-api "$GLANCE_PORT" \
        "'glance.wsgi.api', wrap='name_filter_fix'" \
        OS_GLANCE_CONFIG_DIR="$ETC/glance"
    start_wsgi placement-api "$PLACEMENT_PORT" "'placement.wsgi.api'" \
        OS_PLACEMENT_CONFIG_DIR="$ETC/placement"
    # Two workers for the APIs every boot goes through (each a Python
    # process: one holds one core at most, whatever its threads). With one
    # nova-api worker, 20 creates at once took 3.07 s a call (p50) and 50
    # took 4.09 s; neutron-api makes, binds and updates every port: with
    # one worker, 50 boots at once took 30.7 s (p50) from the compute
    # host's claim to the port plugged, with two 10.7 s (a busier machine
    # for the first; benchmarks/README.rst, runs C and B).
    WSGI_WORKERS=2 start_wsgi neutron-api "$NEUTRON_PORT" \
        "'neutron.wsgi.api'" \
        OS_NEUTRON_CONFIG_DIR="$ETC/neutron" \
        OS_NEUTRON_CONFIG_FILES='neutron.conf;ml2_conf.ini'
    WSGI_WORKERS=2 start_wsgi nova-api "$NOVA_API_PORT" \
        "'nova.wsgi.osapi_compute'" \
        OS_NOVA_CONFIG_DIR="$ETC/nova" \
        OS_NOVA_CONFIG_FILES='api-paste.ini;nova.conf'
    # The agents' RPC (state reports, port details) is served apart from
    # the API since neutron's API runs under a WSGI server.
    start_process neutron-rpc-server -- "$VENV/bin/neutron-rpc-server" \
        --config-file "$ETC/neutron/neutron.conf" \
        --config-file "$ETC/neutron/ml2_conf.ini"
}

wait_apis() {
    wait_http glance-api "http://$HOST_IP:$GLANCE_PORT/versions" 120
    wait_http placement-api "http://$HOST_IP:$PLACEMENT_PORT/" 120
    wait_http neutron-api "http://$HOST_IP:$NEUTRON_PORT/" 120
    wait_http nova-api "http://$HOST_IP:$NOVA_API_PORT/" 120
}

start_nova_services() {
    local svc
    for svc in nova-conductor nova-scheduler nova-serialproxy; do
        start_process "$svc" -- "$VENV/bin/$svc" \
            --config-file "$ETC/nova/nova.conf"
    done
}

# -- the compute hosts --------------------------------------------------------

# Each compute host's two bridges, and the wire between the hosts. The
# agent makes the integration bridge itself; the physical one must exist.
ensure_bridges() {
    local host phys
    for host in "${COMPUTES[@]}"; do
        phys=$(phys_bridge "$host")
        ovs-vsctl --timeout=10 --may-exist add-br "$phys" -- set bridge \
            "$phys" datapath_type=netdev
    done
    ovs-vsctl --timeout=10 \
        -- --may-exist add-port "$(phys_bridge compute1)" ndc-wire12 \
        -- set interface ndc-wire12 type=patch options:peer=ndc-wire21 \
        -- --may-exist add-port "$(phys_bridge compute2)" ndc-wire21 \
        -- set interface ndc-wire21 type=patch options:peer=ndc-wire12
    # The host's foot on `public`: the address on the bridge's own port.
    phys=$(phys_bridge "$L3_HOST")
    ip addr replace "$PUBLIC_HOST_IP/${PUBLIC_CIDR#*/}" dev "$phys" ||
        die "could not give $phys the address $PUBLIC_HOST_IP"
    ip link set "$phys" up
}

# The agents poll for new ports every $AGENT_POLL seconds
# (tools/cloud/ovs_agent.py: neutron's option is whole seconds, at least
# 1). A boot waits for the agent's next pass after its port is plugged:
# with 1 s, half a second on average and up to a second, of a boot of
# 1.5 s at the API; with 0.2 s, 0.1 s on average, for about 1 % of a core
# per agent. NOVA_DOCKER_CLOUD_AGENT_POLL=1 gives neutron's least.
AGENT_POLL=${NOVA_DOCKER_CLOUD_AGENT_POLL:-0.2}

start_ovs_agents() {
    local host
    for host in "${COMPUTES[@]}"; do
        start_process "neutron-openvswitch-agent@$host" \
            NOVA_DOCKER_CLOUD_AGENT_POLL="$AGENT_POLL" -- \
            "$VENV/bin/python" "$REPO/tools/cloud/ovs_agent.py" \
            --config-file "$ETC/neutron/neutron.conf" \
            --config-file "$ETC/neutron/ovs-agent-$host.ini"
    done
    start_process neutron-l3-agent -- "$VENV/bin/neutron-l3-agent" \
        --config-file "$ETC/neutron/neutron.conf" \
        --config-file "$ETC/neutron/l3-agent.ini"
}

start_engine() {
    local host=$1 dir exec_root
    dir=$(engine_dir "$host")
    exec_root=$EXEC_ROOT_PREFIX$host
    mkdir -p "$dir" "$exec_root"
    # live-restore: a restart of this engine keeps its containers running,
    # as the README asks of operators.
    [ -e "$dir/daemon.json" ] || echo '{"live-restore": true}' \
        >"$dir/daemon.json"
    # The same paths as tests/fixtures/private_engine.py: nothing of the
    # host's engine (/var/lib/docker, /var/run/docker*) is shared.
    start_process "dockerd@$host" -- /usr/sbin/dockerd --bridge=none \
        --iptables=false --ip6tables=false --ip-masq=false \
        -H "unix://$dir/docker.sock" --data-root "$dir/data" \
        --exec-root "$exec_root" --pidfile "$dir/docker.pid" \
        --config-file "$dir/daemon.json"
}

# engine_ping HOST: that compute host's engine answers.
engine_ping() { engine_answers "$(engine_socket "$1")" 3; }

start_engines() {
    local host
    for host in "${COMPUTES[@]}"; do
        start_engine "$host"
    done
}

start_computes() {
    local host
    for host in "${COMPUTES[@]}"; do
        wait_for "dockerd@$host" 60 engine_ping "$host"
        start_process "nova-compute@$host" -- "$VENV/bin/nova-compute" \
            --config-file "$ETC/nova/nova.conf" \
            --config-file "$ETC/nova/$host.conf"
    done
}

# -- the registry (issue: nova-docker-registry) -------------------------------

# docker login with a Keystone user (demo's password is in
# $ETC/secrets.env); pushes land in the cloud's Glance, owned by the
# user's project. The nova service user is its Glance identity: an admin,
# as the registry needs to read other projects' public images' blobs.
start_registry() {
    [ -x "$VENV/bin/nova-docker-registry" ] || return 0
    check_port_free nova-docker-registry "$REGISTRY_PORT"
    # Uploads in progress are a user's layers.
    (umask 077 && mkdir -p "$STATE/registry/uploads")
    start_process nova-docker-registry -- "$VENV/bin/nova-docker-registry" \
        --config-file "$ETC/nova-docker-registry.conf"
}
