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


def build(conf=registry_conf.CONF) -> app.Registry:
    opts = conf.registry
    client = glance.Glance(glance.adapter_from_conf(conf))
    store = storage.Storage(client,
                            saved.Indexer(client, conf.glance.architecture),
                            sealer_from_conf(conf),
                            conf.glance.architecture)
    return app.Registry(
        store,
        uploads.Uploads(opts.upload_dir, opts.max_blob_size,
                        opts.upload_timeout),
        auth.from_conf(conf),
        anonymous_pull=opts.anonymous_pull,
        max_manifest_size=opts.max_manifest_size)


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
        return self._app(environ, start_response)


application = _Lazy()
