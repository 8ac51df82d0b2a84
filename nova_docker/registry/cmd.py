"""``nova-docker-registry --config-file FILE``: serve until SIGTERM or
SIGINT, then exit 0.

gunicorn serves the application: Docker sends layers as chunked request
bodies, which the standard library's WSGI server can not read.
"""

import sys

from gunicorn.app import base as gunicorn_base
from oslo_log import log as logging

from nova_docker.registry import conf as registry_conf
from nova_docker.registry import server
from nova_docker.registry import wsgi

LOG = logging.getLogger(__name__)


class _Server(gunicorn_base.BaseApplication):
    def __init__(self, application, options: dict):
        self._application = application
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            # control_socket_disable came with gunicorn 25.1, and so did
            # the socket it turns off.
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        return self._application


def server_options(conf, application=None) -> dict:
    opts = conf.registry
    options = {
        'bind': '%s:%d' % (opts.bind_host, opts.bind_port),
        'workers': opts.workers,
        'threads': opts.threads,
        # gthread, with request headers gathered without a thread and a
        # read timeout on every request body (see server.py).
        'worker_class': server.configure(opts.request_header_timeout,
                                         opts.request_read_timeout),
        # A layer upload may take long; the worker's heartbeat goes on
        # meanwhile (gthread), so this bounds only a stuck worker.
        'timeout': 120,
        'graceful_timeout': 10,
        'keepalive': opts.keepalive,
        # gunicorn 25.1+ opens a control socket at one path under the
        # user's home: two registries of one host would share it, and
        # nothing here uses it.
        'control_socket_disable': True,
        'accesslog': '-' if conf.debug else None,
        'proc_name': 'nova-docker-registry',
    }
    if application is not None:
        options['post_worker_init'] = (
            lambda worker: application.start_background())
    return options


def main(argv=None) -> int:
    conf = registry_conf.CONF
    wsgi.parse_config(sys.argv[1:] if argv is None else argv, conf)
    application = wsgi.build(conf)
    LOG.info('nova-docker-registry listening on %s:%d',
             conf.registry.bind_host, conf.registry.bind_port)
    _Server(application, server_options(conf, application)).run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
