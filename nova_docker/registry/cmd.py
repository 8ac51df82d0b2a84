"""``nova-docker-registry --config-file FILE``: serve until SIGTERM or
SIGINT, then exit 0.

gunicorn serves the application: Docker sends layers as chunked request
bodies, which the standard library's WSGI server can not read.
"""

import sys

from gunicorn.app import base as gunicorn_base
from oslo_log import log as logging

from nova_docker.registry import conf as registry_conf
from nova_docker.registry import wsgi

LOG = logging.getLogger(__name__)


class _Server(gunicorn_base.BaseApplication):
    def __init__(self, application, options: dict):
        self._application = application
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return self._application


def server_options(conf) -> dict:
    opts = conf.registry
    return {
        'bind': '%s:%d' % (opts.bind_host, opts.bind_port),
        'workers': opts.workers,
        'threads': opts.threads,
        'worker_class': 'gthread',
        # A layer upload may take long; the worker's heartbeat goes on
        # meanwhile (gthread), so this bounds only a stuck worker.
        'timeout': 120,
        'graceful_timeout': 10,
        'accesslog': '-' if conf.debug else None,
        'proc_name': 'nova-docker-registry',
    }


def main(argv=None) -> int:
    conf = registry_conf.CONF
    wsgi.parse_config(sys.argv[1:] if argv is None else argv, conf)
    application = wsgi.build(conf)
    LOG.info('nova-docker-registry listening on %s:%d',
             conf.registry.bind_host, conf.registry.bind_port)
    _Server(application, server_options(conf)).run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
