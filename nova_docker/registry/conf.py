"""Options of nova-docker-registry: ``[registry]`` and ``[glance]``."""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
from oslo_utils import units

CONF = cfg.ConfigOpts()

registry_group = cfg.OptGroup(
    'registry', title='nova-docker-registry',
    help='The Docker registry whose storage is Glance.')

registry_opts = [
    cfg.HostAddressOpt(
        'bind_host', default='127.0.0.1',
        help='Address the registry listens on. Docker trusts plain http '
             'only for registries on 127.0.0.0/8 unless a daemon lists it '
             'in insecure-registries; put TLS in front of any other '
             'address.'),
    cfg.PortOpt('bind_port', default=5042,
                help='Port the registry listens on.'),
    cfg.IntOpt('workers', default=1, min=1,
               help='Server processes. Any process can finish any upload: '
                    'uploads live in upload_dir.'),
    cfg.IntOpt('threads', default=8, min=1,
               help='Requests each process serves at once.'),
    cfg.StrOpt('auth_strategy', default='keystone',
               choices=[('keystone', 'docker login credentials are a '
                         'Keystone user and password; the user\'s project '
                         'owns what it pushes'),
                        ('htpasswd', 'bcrypt entries of htpasswd_file, '
                         'each user mapped to a project by '
                         'htpasswd_projects')],
               help='How docker login credentials are checked.'),
    cfg.StrOpt('htpasswd_file',
               help='htpasswd file with bcrypt entries (htpasswd -B); '
                    'read again when it changes.'),
    cfg.DictOpt('htpasswd_projects', default={},
                help='user:project_id,... : the Glance owner of what each '
                     'htpasswd user pushes. A user missing here can not log '
                     'in.'),
    cfg.ListOpt('htpasswd_admins', default=[],
                help='htpasswd users who see every project\'s images, as '
                     'Glance admins do.'),
    cfg.StrOpt('keystone_user_domain', default='Default',
               help='Domain of the users who log in (auth_strategy '
                    'keystone). A user of several projects logs in as '
                    'user@project.'),
    cfg.StrOpt('keystone_auth_url',
               help='Keystone the users log in to (auth_strategy keystone); '
                    'unset means the [glance] auth_url.'),
    cfg.BoolOpt('anonymous_pull', default=False,
                help='Let clients without credentials pull public images.'),
    cfg.IntOpt('max_blob_size', default=10 * units.Gi, min=1,
               help='Largest blob (layer or config) an upload may reach, '
                    'in bytes.'),
    cfg.IntOpt('max_manifest_size', default=4 * units.Mi, min=1,
               help='Largest manifest a push may send, in bytes.'),
    cfg.StrOpt('upload_dir', default='/var/lib/nova-docker-registry/uploads',
               help='Where uploads in flight are kept until their final PUT '
                    'sends them to Glance. Every registry process of one '
                    'host must share it.'),
    cfg.IntOpt('upload_timeout', default=3600, min=1,
               help='Seconds after its last chunk that an unfinished upload '
                    'is removed.'),
    cfg.StrOpt('record_key', secret=True,
               help='Secret key (at least 32 characters, e.g. the output of '
                    '"openssl rand -hex 32") under which the registry seals '
                    'the nova_docker_* records it writes on Glance images. '
                    'Records whose seal does not verify (set by an image '
                    'owner, copied by a snapshot) are ignored. Required; '
                    'every registry process and nova-docker-registry-prune '
                    'must use the same key. Changing it makes every earlier '
                    'push an uploaded image (served from its own data, '
                    'under new digests) and hides earlier blobs from '
                    'pulls by digest until they are pushed again.'),

    cfg.IntOpt('max_layer_unpacked_size', default=32 * units.Gi, min=1,
               help='Largest size, in bytes, that a compressed layer may '
                    'unpack to. A push stores zstd layers in Glance '
                    'unpacked, and an engine unpacks every layer it loads, '
                    'so this bounds what one layer of a push costs; an '
                    'upload over it is refused with BLOB_UPLOAD_INVALID '
                    'and removed. A gzip image uploaded to Glance is held '
                    'to it too when it is pulled.'),
    cfg.IntOpt('max_layer_unpack_ratio', default=100, min=0,
               help='Largest ratio of unpacked to compressed size of a gzip '
                    'layer, checked once it has unpacked to 64 MiB: real '
                    'layers compress up to about 10 times, a gzip bomb '
                    'about 1000 times. 0 turns the check off. The compute '
                    'driver holds gzip layers to 100; a tag image keeps a '
                    'gzip layer over 64 MiB compressed (as pushed) only '
                    'while this is at most 100, and unpacks it otherwise.'),
    cfg.BoolOpt('archive_gzip_layers', default=True,
                help='Whether the docker load archive a push stores as the '
                     'tag\'s Glance image holds gzip layers as Docker '
                     'pushed them. True: the push writes each layer to '
                     'Glance once more as it is (a real image about half '
                     'the bytes of its unpacked layers), and the engine '
                     'unpacks it at the first boot on each host, as after a '
                     'docker pull. False: layers are unpacked into the '
                     'archive (a slower push, twice the Glance storage), '
                     'and a first boot skips that gunzip (measured on Docker '
                     '20.10: 0.46 s more per 100 MB of unpacked text-like '
                     'layers), which pays where Glance is near the compute '
                     'hosts (a fast network). zstd layers are always '
                     'unpacked.'),
    cfg.IntOpt('max_uploads_per_project', default=32, min=1,
               help='Uploads one project may have in flight at once; one '
                    'more is refused with 429 TOOMANYREQUESTS until one '
                    'finishes, is cancelled or expires (upload_timeout).'),
    cfg.IntOpt('max_uploads', default=256, min=1,
               help='Uploads all projects together may have in flight at '
                    'once (429 TOOMANYREQUESTS beyond).'),
    cfg.IntOpt('max_upload_bytes_per_project', default=20 * units.Gi, min=1,
               help='Bytes one project\'s uploads in flight may hold in '
                    'upload_dir together; an upload that would pass it is '
                    'refused with 429 TOOMANYREQUESTS and removed.'),
    cfg.IntOpt('max_upload_bytes', default=100 * units.Gi, min=1,
               help='Bytes all uploads in flight may hold in upload_dir '
                    'together (429 TOOMANYREQUESTS beyond).'),
    cfg.IntOpt('reap_interval', default=60, min=1,
               help='Seconds between two looks for uploads idle longer than '
                    'upload_timeout, by a thread in every server process.'),
    cfg.IntOpt('request_header_timeout', default=10, min=1,
               help='Seconds a client may take to send a request\'s headers. '
                    'They are awaited without holding one of the threads, '
                    'so connections that send nothing or half a request '
                    'can not stop the registry; the connection is closed '
                    'after this.'),
    cfg.IntOpt('request_read_timeout', default=60, min=1,
               help='Seconds a client may stay silent while sending a '
                    'request body (a layer), or read nothing of a reply, '
                    'before the request is refused and its connection '
                    'closed.'),
    cfg.IntOpt('min_upload_rate', default=1024, min=0,
               help='Bytes per second a request body must average, after a '
                    'grace of request_read_timeout, so that a client '
                    'trickling a byte now and then can not hold a thread '
                    'for ever. 0 turns the check off.'),
    cfg.IntOpt('keepalive', default=5, min=1,
               help='Seconds an idle kept-alive connection stays open.'),
    cfg.IntOpt('credential_cache_seconds', default=60, min=0,
               help='How long a verified login is trusted before its '
                    'password is checked again.'),
]

GLANCE_GROUP = 'glance'
glance_opts = [
    cfg.StrOpt('architecture',
               help='Architecture recorded in the image config served for '
                    'a root file system tar that has no architecture '
                    'property; unset means this host\'s.'),
]


def _ks_opts():
    return (ks_loading.get_session_conf_options() +
            ks_loading.get_auth_common_conf_options() +
            ks_loading.get_auth_plugin_conf_options('password') +
            ks_loading.get_adapter_conf_options(include_deprecated=False))


def register(conf: cfg.ConfigOpts = CONF) -> None:
    conf.register_group(registry_group)
    conf.register_opts(registry_opts, group=registry_group)
    conf.register_opts(glance_opts, group=GLANCE_GROUP)
    ks_loading.register_session_conf_options(conf, GLANCE_GROUP)
    ks_loading.register_auth_conf_options(conf, GLANCE_GROUP)
    ks_loading.register_adapter_conf_options(conf, GLANCE_GROUP)


def list_opts():
    """For oslo-config-generator's ``nova_docker.registry`` namespace."""
    seen, glance = set(), []
    for opt in glance_opts + _ks_opts():
        if opt.dest not in seen:
            seen.add(opt.dest)
            glance.append(opt)
    return [(registry_group, registry_opts), (GLANCE_GROUP, glance)]


register()
