"""Building the application from configuration, and the module-level
``application`` for gunicorn or uwsgi
(``nova_docker.registry.wsgi:application``; the configuration file is
``$NOVA_DOCKER_REGISTRY_CONFIG``, else
``/etc/nova-docker/registry.conf``)."""

import os

from oslo_log import log as logging

from nova_docker.registry import app
from nova_docker.registry import auth
from nova_docker.registry import conf as registry_conf
from nova_docker.registry import glance
from nova_docker.registry import records
from nova_docker.registry import saved
from nova_docker.registry import storage
from nova_docker.registry import uploads

DEFAULT_CONFIG = '/etc/nova-docker/registry.conf'


def parse_config(args, conf=registry_conf.CONF) -> None:
    logging.register_options(conf)
    conf(args, project='nova-docker-registry')
    logging.setup(conf, 'nova-docker-registry')


def sealer_from_conf(conf=registry_conf.CONF) -> records.Sealer:
    """The registry's sealer; exits with what to set when the key is
    missing or short, rather than serve records anyone could forge."""
    try:
        return records.Sealer(conf.registry.record_key)
    except ValueError as exc:
        raise SystemExit('nova-docker-registry: %s' % exc) from None


def upload_limits(conf=registry_conf.CONF) -> uploads.Limits:
    opts = conf.registry
    return uploads.Limits(
        per_project=opts.max_uploads_per_project, total=opts.max_uploads,
        bytes_per_project=opts.max_upload_bytes_per_project,
        bytes_total=opts.max_upload_bytes,
        max_unpacked=opts.max_layer_unpacked_size,
        max_ratio=opts.max_layer_unpack_ratio or None)


def build(conf=registry_conf.CONF) -> app.Registry:
    """The application; its reaper thread is not started (see
    :meth:`app.Registry.start_background`)."""
    opts = conf.registry
    client = glance.Glance(glance.adapter_from_conf(conf))
    indexer = saved.Indexer(client, conf.glance.architecture,
                            max_unpacked=opts.max_layer_unpacked_size,
                            max_ratio=opts.max_layer_unpack_ratio or None)
    store = storage.Storage(client, indexer, sealer_from_conf(conf),
                            conf.glance.architecture,
                            max_ratio=opts.max_layer_unpack_ratio or None,
                            gzip_layers=opts.archive_gzip_layers)
    in_flight = uploads.Uploads(opts.upload_dir, opts.max_blob_size,
                                opts.upload_timeout, upload_limits(conf),
                                discard=store.discard_stream)
    return app.Registry(
        store, in_flight, auth.from_conf(conf),
        anonymous_pull=opts.anonymous_pull,
        max_manifest_size=opts.max_manifest_size,
        body_limits=app.BodyLimits(opts.request_read_timeout,
                                   opts.min_upload_rate),
        reaper=uploads.Reaper(in_flight, opts.reap_interval))


class _Lazy:
    """Reads the configuration at the first request, so importing this
    module (as a WSGI server does before forking) reads no files."""

    def __init__(self):
        self._app = None

    def __call__(self, environ, start_response):
        if self._app is None:
            path = os.environ.get('NOVA_DOCKER_REGISTRY_CONFIG',
                                  DEFAULT_CONFIG)
            parse_config(['--config-file', path])
            self._app = build()
            self._app.start_background()
        return self._app(environ, start_response)


application = _Lazy()
