"""gunicorn's threaded worker, made to hold a thread only for a request
whose headers have arrived.

gunicorn's gthread worker hands a new connection to a thread, which then
reads the request line and headers with a blocking socket and no
timeout: as many clients as there are threads, each sending half a
request, stop the server for good. Here the worker's event loop gathers
the headers of every request (new and kept-alive connections alike)
without a thread, closes connections that take longer than
``header_timeout``, and gives each connection's socket a read timeout
for the body, so a silent client frees its thread after
``read_timeout`` seconds.

Set on the class by :func:`configure` before gunicorn starts its workers
(gunicorn names a worker class, it does not build one).
"""

import errno
import selectors
import time
from functools import partial

import gunicorn
from gunicorn.workers import gthread
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# The request line and headers a client may send before its request is
# handed to a thread anyway (gunicorn's parser then refuses what is over
# its own limits).
MAX_HEADER_BYTES = 64 * 1024
# CRLF as RFC 9112 asks; bare LF as lenient readers take it.
_END_OF_HEADERS = (b'\r\n\r\n', b'\n\n')


def _not_http(early: bytearray) -> bool:
    """Whether the first bytes can't begin an HTTP request (whose method
    is upper-case letters): a TLS handshake, say, which Docker sends
    first to every registry. Handed on at once, gunicorn's parser
    refuses it and closes the connection, so the client falls back to
    plain http now rather than after the header timeout."""
    return bool(early) and not (65 <= early[0] <= 90)


class _Conn(gthread.TConn):
    """A connection whose gathered header bytes go to its parser, and
    whose socket times out while a thread reads the body."""

    read_timeout: float | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.early = bytearray()

    def init(self):
        super().init()
        if self.early:
            self.parser.unreader.unread(bytes(self.early))
            self.early = bytearray()
        self.sock.settimeout(self.read_timeout)


class BoundedThreadWorker(gthread.ThreadWorker):
    """The gthread worker with headers gathered in the event loop."""

    header_timeout: float = 10.0
    read_timeout: float = 60.0

    def accept(self, listener):
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED,
                                 errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _Conn(self.cfg, client, address, listener.getsockname())
        conn.read_timeout = self.read_timeout
        self._gather(conn)

    def on_client_socket_readable(self, conn, client):
        # A kept-alive connection's next request: its headers too are
        # gathered here before a thread takes it.
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._gather(conn)

    def _gather(self, conn) -> None:
        if self.cfg.is_ssl or not isinstance(conn, _Conn):
            # TLS needs its handshake in a thread first; gunicorn's own
            # wait for data applies then.
            self.enqueue_req(conn)
            return
        conn.sock.setblocking(False)
        # pending_conns is gunicorn's queue of connections waiting for
        # data, closed by murder_pending() at their timeout.
        conn.timeout = time.monotonic() + self.header_timeout
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self._on_header_bytes, conn))

    def _on_header_bytes(self, conn, client) -> None:
        try:
            data = client.recv(MAX_HEADER_BYTES - len(conn.early))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b''
        conn.early += data
        done = (any(end in conn.early for end in _END_OF_HEADERS) or
                len(conn.early) >= MAX_HEADER_BYTES or
                _not_http(conn.early))
        if data and not done:
            # Not all there yet: wait on, under the same deadline.
            return
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        if not data:
            self.nr_conns -= 1
            conn.close()
            return
        conn.data_ready = True
        self.enqueue_req(conn)


def configure(header_timeout: float, read_timeout: float) -> str:
    """Set the timeouts; the worker class's name for gunicorn (its own
    gthread where it lacks the queue of pending connections this worker
    builds on: older releases)."""
    if not hasattr(gthread.ThreadWorker, 'murder_pending'):
        LOG.warning('gunicorn %s is too old for the registry\'s worker: '
                    'clients that send half a request can hold its threads; '
                    'install gunicorn 25.1 or later', gunicorn.__version__)
        return 'gthread'
    BoundedThreadWorker.header_timeout = header_timeout
    BoundedThreadWorker.read_timeout = read_timeout
    return '%s.%s' % (__name__, BoundedThreadWorker.__name__)
