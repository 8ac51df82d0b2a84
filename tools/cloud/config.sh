# Sourced by tools/cloud.sh: the configuration files of every service,
# written into $ETC at each `up` (from $SECRETS, made once and kept with
# the databases).
#
# Most of them hold a password: the database's, RabbitMQ's, or the
# service user's, an admin of the cloud. $ETC is 0700 and every file in
# it is written under umask 077 (0600 from its creation: no moment where
# another local user could open it), as are $STATE/clouds.yaml and
# keystone's keys.

# The RabbitMQ user of the cloud's services (there is no guest).
RABBIT_USER_NAME=nova-docker-cloud

# private FILE: stdin into FILE, made anew so that it is 0600 whatever
# mode an older one had (the caller runs under umask 077).
private() {
    rm -f "$1"
    cat >"$1"
}

new_password() {
    head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9'
}

# The passwords, made once and kept with the databases; one missing from
# a kept file (an older cloud's) is added.
make_secrets() {
    local name
    [ -e "$SECRETS" ] || : >"$SECRETS"
    for name in DB ADMIN DEMO ALT SERVICE RABBIT; do
        grep -q "^${name}_PASSWORD=" "$SECRETS" ||
            echo "${name}_PASSWORD=$(new_password)" >>"$SECRETS"
    done
    grep -q '^RABBIT_USER=' "$SECRETS" ||
        echo "RABBIT_USER=$RABBIT_USER_NAME" >>"$SECRETS"
    # The registry seals its records in Glance under this key.
    grep -q '^REGISTRY_RECORD_KEY=' "$SECRETS" ||
        echo "REGISTRY_RECORD_KEY=$(head -c 32 /dev/urandom |
            od -An -tx1 | tr -d ' \n')" >>"$SECRETS"
}

db_url() {
    echo "mysql+pymysql://$1:$DB_PASSWORD@$HOST_IP:$MYSQL_PORT/$2?charset=utf8"
}

transport_url() {
    echo "rabbit://$RABBIT_USER:$RABBIT_PASSWORD@$HOST_IP:$RABBIT_PORT/"
}

# [keystone_authtoken] (and kin) of a service user in the service project.
auth_section() {
    local section=$1 user=$2
    cat <<EOF

[$section]
auth_type = password
auth_url = $KEYSTONE_URL
www_authenticate_uri = $KEYSTONE_URL
username = $user
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
EOF
}

# For the section before it: keystoneauth tries a request again when its
# connection failed (a pooled connection the other end just closed, the
# API restarting); nova's placement client does not otherwise (its
# neutron client has http_retries too). Not for the registry's Glance:
# a retry would send again a streamed body already partly sent.
retries() {
    echo "connect_retries = 3"
    echo "connect_retry_delay = 0.1"
}

write_keystone_conf() {
    private "$ETC/keystone.conf" <<EOF
[DEFAULT]
[database]
connection = $(db_url keystone keystone)
[identity]
# bcrypt's fewest rounds: a cloud on loopback with generated passwords,
# where each token costs one hash (the default 12 rounds: 0.3 s each).
password_hash_rounds = 4
[token]
provider = fernet
# Keystone's own cache, in its process (one gunicorn worker, so one
# cache): every API worker's keystonemiddleware validates each token it
# meets (its in-process cache is a pool of dicts, one per concurrent
# request: a token is validated again in each), and without this each
# validation reads the user, project, roles and catalog from MariaDB:
# in a profiled run of benchmarks.cloud, validations were 35 % of
# keystone's CPU and reading role assignments 54 %; with the cache,
# keystone's samples fell from 670 to 108 (benchmarks/README.rst).
[cache]
enabled = true
backend = oslo_cache.dict
[fernet_tokens]
key_repository = $DATA/keystone/fernet-keys
[credential]
key_repository = $DATA/keystone/credential-keys
EOF
}

write_glance_conf() {
    mkdir -p "$ETC/glance" "$DATA/glance/images" "$DATA/glance/staging" \
        "$DATA/glance/tasks"
    private "$ETC/glance/glance-api.conf" <<EOF
[DEFAULT]
enabled_backends = fs:file
[database]
connection = $(db_url glance glance)
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $DATA/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $DATA/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $DATA/glance/tasks
[paste_deploy]
flavor = keystone
$(auth_section keystone_authtoken glance)
EOF
    cp "$VENV/etc/glance/glance-api-paste.ini" "$ETC/glance/"
}

write_placement_conf() {
    mkdir -p "$ETC/placement"
    private "$ETC/placement/placement.conf" <<EOF
[DEFAULT]
[api]
auth_strategy = keystone
[placement_database]
connection = $(db_url placement placement)
$(auth_section keystone_authtoken placement)
EOF
}

# Every privsep context a neutron or nova process may start: there is no
# sudo here, and the cloud runs as root, so the helper is started directly.
# PRIVSEP_THREADS, if set, is each daemon's thread_pool_size (the calls it
# runs at once; privsep's default is the number of cores).
privsep_sections() {
    local conf_args=$1 section
    shift
    for section in "$@"; do
        printf '\n[%s]\nhelper_command = %s %s\n' "$section" \
            "$VENV/bin/privsep-helper" "$conf_args"
        [ -z "${PRIVSEP_THREADS:-}" ] ||
            printf 'thread_pool_size = %s\n' "$PRIVSEP_THREADS"
    done
}

NEUTRON_PRIVSEP=(privsep privsep_dhcp_release privsep_ovs_vsctl
                 privsep_namespace privsep_conntrack privsep_link)

write_neutron_conf() {
    mkdir -p "$ETC/neutron"
    private "$ETC/neutron/neutron.conf" <<EOF
[DEFAULT]
core_plugin = ml2
# Routers and floating IPs (the L3 agent on compute1).
service_plugins = router
auth_strategy = keystone
transport_url = $(transport_url)
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
# Events to nova (network-vif-plugged: what a boot waits for) go at once,
# then the notifier holds every later one for this long to send them
# together: with neutron's 2 s, from a port up to its event at nova-api
# took 1.1 s and 0.6 s (p50; p90 1.4 s and 2.3 s) in batches of 20 and
# 50 boots; with 1 s, the least, 0.2 s and none (p90 0.6 s and 0.8 s).
# benchmarks/README.rst has the runs.
send_events_interval = 1
# api_workers is neutron-server's own (gunicorn's --workers serves the
# API: tools/cloud/services.sh). Two RPC workers: the agents' port
# details and device up/down calls of a batch of boots, each a round trip
# the port's network-vif-plugged waits on; memory is plentiful (23 GB),
# cores are two.
api_workers = 1
rpc_workers = 2
rpc_state_report_workers = 1
# No DHCP agent in this cloud (subnets are made without DHCP): with the
# notifier on, every port's create, update and delete tries to schedule
# its network to a DHCP agent (a query of the agents and two warnings;
# 0.4 % of neutron-api's CPU in a profiled run of benchmarks.cloud).
dhcp_agent_notification = false
[database]
connection = $(db_url neutron neutron)
[oslo_concurrency]
lock_path = $DATA/neutron/lock
[agent]
# Root already; neutron's privileged calls go through privsep (below).
root_helper =
$(auth_section keystone_authtoken neutron)
$(auth_section nova nova)
EOF
    cp "$VENV/etc/neutron/api-paste.ini" "$ETC/neutron/"
    # ML2/Open vSwitch: tenant networks are VLANs on $PHYSNET, the patched
    # pair of "physical" bridges that joins the two compute hosts.
    private "$ETC/neutron/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vlan
tenant_network_types = vlan
mechanism_drivers = openvswitch
extension_drivers = port_security
[ml2_type_flat]
flat_networks = $PHYSNET
[ml2_type_vlan]
network_vlan_ranges = $PHYSNET:$VLAN_RANGE
EOF
}

# One neutron-openvswitch-agent per compute host, each with bridges of its
# own on the host's userspace Open vSwitch.
write_ovs_agent_conf() {
    local host=$1 file=$ETC/neutron/ovs-agent-$1.ini
    private "$file" <<EOF
[DEFAULT]
host = $host
[ovs]
integration_bridge = $(int_bridge "$host")
bridge_mappings = $PHYSNET:$(phys_bridge "$host")
# No kernel datapath on these machines: ovs-vswitchd in userspace.
datapath_type = netdev
ovsdb_connection = unix:/var/run/openvswitch/db.sock
of_listen_address = $HOST_IP
of_listen_port = $(of_port "$host")
[agent]
tunnel_types =
# How long a new port waits, at most, for the agent to see it (and so
# the server for network-vif-plugged): the agent's loop sleeps this much
# between passes, even with ovsdb monitoring on. Neutron's default of 2 s
# is half a container's boot on average; 1 s is the option's least. The
# cloud starts its agents through tools/cloud/ovs_agent.py, which polls
# every $AGENT_POLL seconds instead (tools/cloud/services.sh).
polling_interval = 1
[securitygroup]
# Security groups as OpenFlow rules with conntrack (ct()) in br-int: the
# userspace datapath has a conntrack of its own, and ports stay plugged
# straight into OVS (no hybrid qbr bridge, no iptables on the host).
firewall_driver = ${NOVA_DOCKER_CLOUD_FIREWALL:-openvswitch}
[oslo_concurrency]
lock_path = $DATA/neutron/lock-$host
EOF
    privsep_sections "--config-file $ETC/neutron/neutron.conf --config-file \
$file" "${NEUTRON_PRIVSEP[@]}" >>"$file"
}

# The L3 agent: the routers' namespaces (qrouter-<id>) on this host, their
# ports on compute1's integration bridge. A router's ports are veth pairs
# (ovs_use_veth), not OVS internal ports: an internal port of the
# userspace datapath is a tap device that OVS serves from the host's
# namespace. On a netdev datapath neutron turns the namespace end's
# checksum offload off, as the driver does for instances.
write_l3_agent_conf() {
    local file=$ETC/neutron/l3-agent.ini
    private "$file" <<EOF
[DEFAULT]
host = $L3_HOST
interface_driver = openvswitch
ovs_use_veth = true
agent_mode = legacy
# No metadata service in this cloud (instances get no DHCP either).
enable_metadata_proxy = false
[ovs]
integration_bridge = $(int_bridge "$L3_HOST")
datapath_type = netdev
ovsdb_connection = unix:/var/run/openvswitch/db.sock
[oslo_concurrency]
lock_path = $DATA/neutron/lock-l3
EOF
    privsep_sections "--config-file $ETC/neutron/neutron.conf --config-file \
$file" "${NEUTRON_PRIVSEP[@]}" >>"$file"
}

write_nova_conf() {
    mkdir -p "$ETC/nova"
    private "$ETC/nova/nova.conf" <<EOF
[DEFAULT]
transport_url = $(transport_url)
state_path = $DATA/nova
my_ip = $HOST_IP
# Resize may stay on the host (the engine changes a container's limits in
# place); cold migration goes through Glance, so no SSH between hosts.
allow_resize_to_same_host = true
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $ETC/nova/api-paste.ini
[api_database]
connection = $(db_url nova nova_api)
[database]
connection = $(db_url nova nova)
[conductor]
# Two: every boot's build request, schedule and instance updates pass
# through the conductor (one Python process holds one core at most).
workers = 2
[filter_scheduler]
# nova counts a boot the driver refuses (a user's non-docker image) as a
# failure of the host, and the BuildFailureWeigher then sends every later
# boot elsewhere until one succeeds there: with two hosts, one bad image
# stacks all servers on the other. The other default weighers stay.
build_failure_weight_multiplier = 0
# host_subset_size stays 1. Creates sent at once each weigh the hosts
# without the others' claims in flight, so a batch of separate requests
# can pile onto one host (41 and 47 of 50 seen); a random pick among the
# two best (2) spread them, but with two hosts it is a coin for every
# server, also within one multi-server request, which the weighers
# spread evenly: tests/cloud's four- and six-server requests rely on it.
# The batches' time is the cores' either way (benchmarks/README.rst).
[scheduler]
# One process (its requests run in threads). With two, the master's
# placement connection, opened at start to check the client, is inherited
# by both forked workers: their requests share one socket and read each
# other's answers (KeyError 'allocation_requests' in a batch; a reset
# when the API had already closed it). tests/cloud/test_tuning.py checks
# that no two processes share a connection.
workers = 1
# New compute hosts are mapped to the cell without nova-manage.
discover_hosts_in_cells_interval = 10
[oslo_concurrency]
lock_path = $DATA/nova/lock
[os_vif_ovs]
# Debian's ovsdb-server listens on its unix socket only.
ovsdb_connection = unix:/var/run/openvswitch/db.sock
# A port joins br-int on the dead VLAN (4095) until the OVS agent has
# bound it and installed its security group's flows: no packet passes
# in between, at boot and at every rewiring (reboot, engine restart).
isolate_vif = true
[serial_console]
# nova-serialproxy on loopback; the computes' consoles listen there too.
enabled = true
base_url = ws://$HOST_IP:$SERIALPROXY_PORT/
serialproxy_host = $HOST_IP
serialproxy_port = $SERIALPROXY_PORT
proxyclient_address = $HOST_IP
[oslo_messaging_notifications]
driver = noop
$(auth_section keystone_authtoken nova)
$(auth_section placement placement)
$(retries)
$(auth_section neutron neutron)
$(retries)
$(auth_section service_user nova)
send_service_user_token = true
EOF
    cp "$VENV/etc/nova/api-paste.ini" "$ETC/nova/"
}

# What makes compute1 and compute2 two hosts: their own name, engine,
# instances and locks.
write_compute_conf() {
    local host=$1 file=$ETC/nova/$1.conf
    mkdir -p "$DATA/$host/instances" "$DATA/$host/lock" "$DATA/nova-$host"
    # state_path holds the node's identity (compute_id): one per host, and
    # kept with the databases, which know the node by it.
    private "$file" <<EOF
[DEFAULT]
host = $host
compute_driver = docker.DockerDriver
state_path = $DATA/nova-$host
instances_path = $DATA/$host/instances
# Containers share the host's CPUs as processes do: nova's default of 4
# vCPUs per core (8 m1.tiny servers on a 2-core host) is a VM's ratio.
cpu_allocation_ratio = 32.0
# Builds at once per host. Under native threading nova runs at most this
# many (default 10; the long-task pool is sized by the larger of the two
# limits, so both are set) and each build spends most of its time
# waiting on Neutron: with 10, 20 and 50 boots at once logged "long_task pool
# does not have free threads" 30 times (the 11th build on a host waited
# for one of the first ten); with 32, none (benchmarks/README.rst).
max_concurrent_builds = 32
max_concurrent_snapshots = 32
# Nova's default pool runs each build's network allocation (the port's
# binding update: 0.4 s of waiting on neutron-api alone, seconds in a
# batch): with 32 builds at once, its 10 threads would hold the 11th.
default_thread_pool_size = 64
[oslo_concurrency]
lock_path = $DATA/$host/lock
[docker]
host_url = unix://$(engine_socket "$host")
[serial_console]
port_range = $(serial_ports "$host")
EOF
    # Eight calls at once in each privileged daemon: a boot wires its port
    # through several (the namespace's links, the veth, routes; pyroute2
    # forks into the namespace for each), and privsep's default, one per
    # core, is two here for 25 boots at once on a host. (Not measured
    # apart from the other settings.)
    PRIVSEP_THREADS=8 privsep_sections \
        "--config-file $ETC/nova/nova.conf --config-file $file" \
        nova_docker_privileged vif_plug_ovs_privileged >>"$file"
}

write_clouds_yaml() {
    private "$STATE/clouds.yaml" <<EOF
# Written by tools/cloud.sh up; use with
#   export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml
clouds:
  nova-docker-admin:
    auth:
      auth_url: $KEYSTONE_URL
      username: admin
      password: $ADMIN_PASSWORD
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  nova-docker:
    auth:
      auth_url: $KEYSTONE_URL
      username: demo
      password: $DEMO_PASSWORD
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  nova-docker-alt:
    auth:
      auth_url: $KEYSTONE_URL
      username: alt
      password: $ALT_PASSWORD
      project_name: alt
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
EOF
}

# RabbitMQ on loopback only, with the cloud's user as the one it makes on
# its first start (instead of guest, whom every local user can be).
write_rabbitmq_conf() {
    printf '[].\n' | private "$ETC/rabbitmq-plugins"
    private "$ETC/rabbitmq.conf" <<EOF
listeners.tcp.default = $HOST_IP:$RABBIT_PORT
disk_free_limit.absolute = 100MB
default_vhost = /
default_user = $RABBIT_USER
default_pass = $RABBIT_PASSWORD
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
EOF
}

write_registry_conf() {
    private "$ETC/nova-docker-registry.conf" <<EOF
[registry]
bind_host = $HOST_IP
bind_port = $REGISTRY_PORT
auth_strategy = keystone
upload_dir = $STATE/registry/uploads
record_key = $REGISTRY_RECORD_KEY
$(auth_section glance nova)
EOF
}

write_all_conf() {
    mkdir -p "$RUN" "$LOG" "$DATA/nova/lock" "$DATA/neutron"
    local mask
    mask=$(umask)
    umask 077
    # An $ETC of an older cloud.sh was 0755.
    mkdir -p "$ETC" && chmod 0700 "$ETC"
    make_secrets
    # shellcheck disable=SC1090
    . "$SECRETS"
    write_keystone_conf
    write_glance_conf
    write_placement_conf
    write_neutron_conf
    write_l3_agent_conf
    write_nova_conf
    local host
    for host in "${COMPUTES[@]}"; do
        write_ovs_agent_conf "$host"
        write_compute_conf "$host"
    done
    write_rabbitmq_conf
    write_registry_conf
    write_clouds_yaml
    umask "$mask"
}
