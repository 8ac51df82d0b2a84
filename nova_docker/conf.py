"""The ``[docker]`` options of nova-compute."""

import copy

from oslo_config import cfg
from oslo_privsep import priv_context

docker_group = cfg.OptGroup(
    'docker',
    title='Docker driver options',
    help='How nova-compute reaches the Docker Engine and shapes containers.')

connection_opts = [
    cfg.StrOpt(
        'host_url',
        default='unix:///var/run/docker.sock',
        help='Docker Engine API endpoint: unix:///path/to/socket, or '
             'tcp://host:port (TLS unless tls_enabled is false).'),
    cfg.BoolOpt(
        'tls_enabled',
        default=True,
        help='Use TLS for a tcp:// host_url. Turning this off sends the '
             'engine API, which is root on that host, in clear text: only '
             'for a loopback or otherwise trusted link.'),
    cfg.StrOpt(
        'ca_file',
        help='CA bundle that verifies the engine\'s TLS certificate. Unset '
             'means the system CA store.'),
    cfg.StrOpt(
        'cert_file',
        help='Client certificate presented to the engine (tcp:// with TLS).'),
    cfg.StrOpt(
        'key_file',
        help='Private key of cert_file.'),
    cfg.BoolOpt(
        'api_insecure',
        default=False,
        help='Skip verification of the engine\'s TLS certificate. TLS stays '
             'on; only the server check is skipped.'),
    cfg.FloatOpt(
        'connect_timeout',
        default=10.0,
        min=0.1,
        help='Seconds to wait for a connection to the engine.'),
    cfg.FloatOpt(
        'read_timeout',
        default=60.0,
        min=1.0,
        help='Seconds to wait for a reply to an ordinary API call.'),
    cfg.FloatOpt(
        'event_stream_timeout',
        default=60.0,
        min=1.0,
        help='Seconds the engine\'s event stream may stay silent before '
             'nova-compute opens it again, resuming after the last event '
             'it saw and re-reading container states, so nothing is lost. '
             'A quiet engine sends nothing for long periods; this bounds '
             'how long a silent network split to a tcp:// engine goes '
             'unnoticed.'),
    cfg.FloatOpt(
        'image_timeout',
        default=1800.0,
        min=1.0,
        help='Seconds of silence allowed while an image is loaded, saved, '
             'pulled, pushed or committed.'),
    cfg.BoolOpt(
        'shared_engine',
        default=False,
        help='Whether the engine at host_url may hold containers of other '
             'nova-compute services too. Off (the default), nova-compute '
             'refuses to start when the engine holds containers labelled '
             'with another compute host, since a misconfigured second '
             'compute on one engine is far more common than a deliberate '
             'share. Each compute only ever lists and acts on containers '
             'labelled with its own host, shared or not.'),
]

# Taken from Docker's default set (which already leaves out SYS_ADMIN,
# NET_ADMIN, SYS_MODULE and the like): what an ordinary server
# workload does not need and an attacker in an instance would.
DEFAULT_CAP_DROP = ('NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP')
DEFAULT_LOG_MAX_SIZE = '10m'
DEFAULT_LOG_MAX_FILES = 3

container_opts = [
    cfg.IntOpt(
        'pids_limit',
        default=1024,
        min=0,
        help='Most processes one container may run (0: no limit). Guards '
             'the host against a fork bomb in one instance.'),
    cfg.ListOpt(
        'cap_drop',
        default=list(DEFAULT_CAP_DROP),
        help='Linux capabilities taken from every container, on top of '
             'what the engine already leaves out of its default set. '
             'NET_RAW: no raw sockets, so no ARP/IP spoofing or packet '
             'sniffing on the instance\'s network; MKNOD: no device '
             'nodes made inside, so the device cgroup is not the only '
             'fence between an instance and the host\'s disks; '
             'AUDIT_WRITE: no forged records in the host\'s audit '
             'log; SETFCAP: no file capabilities set on binaries, which '
             'would hand capabilities to whoever runs them. Names with '
             'or without CAP_, any case.'),
    cfg.ListOpt(
        'cap_add',
        default=[],
        help='Linux capabilities given back to every container, for '
             'workloads that need one that cap_drop (or the engine\'s '
             'default set) takes away, e.g. NET_RAW for ping. Each one '
             'widens what a compromised instance can do to the host and '
             'its neighbours; a capability here wins over cap_drop.'),
    cfg.BoolOpt(
        'cpu_hard_cap',
        default=True,
        help='Cap each container at its flavor\'s vCPUs worth of CPU '
             'time (NanoCpus, at most the engine\'s CPU count), as a '
             'libvirt guest can never use more than its vCPUs. Without '
             'it, CPU shares only weigh busy containers against each '
             'other: one instance may take every idle core of the host, '
             'more than placement gave it, and run slower the moment '
             'its neighbours wake. A flavor with the quota:cpu_quota or '
             'quota:cpu_period extra spec gets that CFS limit instead.'),
    cfg.StrOpt(
        'log_max_size',
        default=DEFAULT_LOG_MAX_SIZE,
        help='Size at which a container\'s console log (the engine\'s '
             'json-file log driver) is rotated, e.g. 10m, 512k, 1g. '
             'Together with log_max_files it bounds the disk one '
             'instance\'s output can take, so a chatty or hostile '
             'instance cannot fill the engine\'s disk and stop every '
             'other instance. Empty leaves logging to the engine\'s '
             'own log-driver and log-opts (daemon.json); the console '
             'log then needs a driver the engine can read back.'),
    cfg.IntOpt(
        'log_max_files',
        default=DEFAULT_LOG_MAX_FILES,
        min=1,
        help='Console log files kept per container (the current one '
             'and the rotated ones) when log_max_size is set; older '
             'output is dropped.'),
    cfg.BoolOpt(
        'workload_tty',
        default=True,
        help='Run every workload on a terminal (Tty), with its stdin kept '
             'open, as a VM always has its serial port: an image whose '
             'command is a shell (busybox\'s sh) shows its prompt and '
             'takes commands on the serial console, and programs see an '
             'interactive terminal. Its console log then is what the '
             'terminal showed (stdout and stderr as one, lines ending in '
             'CR LF). Off: no terminal; stdout and stderr stay two '
             'streams, written as they are, and the serial console '
             'relays them without terminal handling (no prompt from a '
             'shell, no line editing). Applies to workloads created from '
             'then on.'),
    cfg.FloatOpt(
        'lifecycle_event_delay',
        default=15.0,
        min=0.0,
        help='Seconds a container\'s stop is held back before Nova hears '
             'of it; a start within that time (a reboot) cancels it. '
             'Nova hears of a container that exits on its own this long '
             'after it exits.'),
    cfg.StrOpt(
        'sandbox_image',
        help='Engine-local image of every instance\'s sandbox, the '
             'container that holds its network namespace (its Neutron '
             'ports), hostname, resolv.conf and /etc/hosts while the '
             'workload restarts. Unset (the default): the driver makes a '
             'tiny image of its own (nova-docker/sandbox) on x86_64 and '
             'aarch64 engines, with no registry. Set it on another '
             'architecture, to an image whose command blocks forever.'),
]

image_opts = [
    cfg.IntOpt(
        'max_image_size_gb',
        default=50,
        min=1,
        help='Largest size, in GB, that a Glance image may unpack to when '
             'the flavor has no root disk size (root_gb 0). A flavor with '
             'root_gb bounds its images by that instead, as libvirt refuses '
             'an image larger than the flavor\'s disk. Guards the engine\'s '
             'disk against a small compressed image that inflates without '
             'end.'),
    cfg.StrOpt(
        'image_download_dir',
        help='Directory for a temporary copy of each Glance image while it '
             'is loaded into the engine. Unset (the default) streams the '
             'image from Glance straight into the engine with no copy on '
             'disk; the data is verified either way and nothing is stored '
             'unless it matched. Set it when the engine reads slower than '
             'Glance may keep a download open. The copy has no name in '
             'the directory and is gone when the load ends. A zstd layer '
             'of an OCI archive is unpacked into a file here too (the '
             'engine gets it plain); unset, into the default temp dir.'),
]

volume_opts = [
    cfg.StrOpt(
        'volume_mount_dir',
        help='Host directory under which each instance\'s Cinder volumes '
             'are mounted (<dir>/<instance uuid>/<device name>), e.g. '
             '/var/lib/nova/docker-volumes. Unset (the default), volumes '
             'are off: attaching one is refused. Set, every workload '
             'created from then on sees its own subdirectory at /mnt, '
             'read-only (the image\'s own /mnt is hidden), with its '
             'volumes mounted in it: /dev/vdb at /mnt/vdb, at once when '
             'attached to a running server, and before its command runs '
             'at every start. Servers created before it was set must be '
             'rebuilt to take volumes. The directory is made a shared '
             'mount when nova-compute starts, so it must be in the mount '
             'namespace of the engine (a local engine, host_url unix://). '
             'Needs the volume privsep helper ([nova_docker_volume_'
             'privileged]: CAP_SYS_ADMIN) and os-brick\'s.'),
    cfg.StrOpt(
        'blank_volume_filesystem',
        default='ext4',
        choices=[('ext4', 'format a blank volume with ext4'),
                 ('xfs', 'format a blank volume with xfs'),
                 ('none', 'refuse a blank volume')],
        help='File system made on a volume that holds no signature at all '
             '(blkid finds nothing) when it is first attached. A volume '
             'with ext4 or xfs is mounted as it is; one with anything '
             'else (a partition table, LUKS, another file system) is '
             'refused. A volume is never formatted because its mount '
             'failed.'),
    cfg.BoolOpt(
        'volume_use_multipath',
        default=False,
        help='Attach volumes through multipath where the connection type '
             'allows it (os-brick; as [libvirt] volume_use_multipath).'),
]

# The sections of nova.conf that configure the privsep helpers: the one
# that wires ports, and the one that mounts volumes.
PRIVSEP_GROUP = 'nova_docker_privileged'
VOLUME_PRIVSEP_GROUP = 'nova_docker_volume_privileged'

ALL_OPTS = connection_opts + container_opts + image_opts + volume_opts


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(docker_group)
    conf.register_opts(ALL_OPTS, group=docker_group)


def list_opts():
    """oslo-config-generator entry point: ours, and those of the privsep
    helpers that wire ports (nova_docker.network.privileged) and mount
    volumes (nova_docker.volume.privileged)."""
    return [(docker_group, ALL_OPTS),
            (PRIVSEP_GROUP, copy.deepcopy(priv_context.OPTS)),
            (VOLUME_PRIVSEP_GROUP, copy.deepcopy(priv_context.OPTS))]


CONF = cfg.CONF
register_opts(CONF)
