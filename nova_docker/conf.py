"""The ``[docker]`` options of nova-compute."""

from oslo_config import cfg

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
]

container_opts = [
    cfg.IntOpt(
        'pids_limit',
        default=1024,
        min=0,
        help='Most processes one container may run (0: no limit). Guards '
             'the host against a fork bomb in one instance.'),
    cfg.FloatOpt(
        'lifecycle_event_delay',
        default=15.0,
        min=0.0,
        help='Seconds a container\'s stop is held back before Nova hears '
             'of it; a start within that time (a reboot) cancels it. '
             'Nova hears of a container that exits on its own this long '
             'after it exits.'),
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
             'the directory and is gone when the load ends.'),
]

ALL_OPTS = connection_opts + container_opts + image_opts


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(docker_group)
    conf.register_opts(ALL_OPTS, group=docker_group)


def list_opts():
    """oslo-config-generator entry point."""
    return [(docker_group, ALL_OPTS)]


CONF = cfg.CONF
register_opts(CONF)
