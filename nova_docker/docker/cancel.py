"""Requests that another thread can abort wherever they block.

Closing a requests Response wakes a reader blocked in its body, but a
thread blocked earlier - in connect(), or waiting for the status line of a
reply the engine never sends - holds a socket nobody else can reach. The
connection classes here hand every socket they open to the Cancellation
active in the calling thread (see ``Cancellation.scope``), so that
``cancel()`` can shut it down: a blocked connect() or recv() then returns
at once with an error on Linux.

Without an active scope the classes behave as urllib3's own.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Iterator

import requests.adapters
from urllib3 import connection as urllib3_connection
from urllib3 import connectionpool
from urllib3 import exceptions as urllib3_exceptions

from nova_docker.docker.chunked import ChunkedBodyMixin
from nova_docker.docker.timeouts import SendTimeoutMixin

_active = threading.local()


class Cancellation:
    """Lets one thread abort the requests another thread makes.

    Requests made inside ``with cancellation.scope():`` register the
    sockets they open. ``cancel()`` shuts all of them down and makes
    every later connect inside a scope fail before it starts. A
    cancellation stays cancelled.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Shut down every registered socket; safe to call repeatedly and
        from any thread (again, to catch a socket registered in the
        instant before its connect() began)."""
        with self._lock:
            self._cancelled = True
            sockets = list(self._sockets)
        for sock in sockets:
            shutdown(sock)

    def register(self, sock: socket.socket) -> None:
        """Track ``sock``; OSError(ECANCELED) if already cancelled."""
        with self._lock:
            if not self._cancelled:
                # Sockets of earlier requests are closed by now: drop them
                # so a long-lived cancellation does not grow.
                self._sockets = [s for s in self._sockets
                                 if s.fileno() != -1 and s is not sock]
                self._sockets.append(sock)
                return
        shutdown(sock)
        raise OSError(errno.ECANCELED, 'request cancelled')

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Make requests of this thread cancellable while inside."""
        previous = getattr(_active, 'cancellation', None)
        _active.cancellation = self
        try:
            yield
        finally:
            _active.cancellation = previous


def shutdown(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock`` (it sees an error or EOF)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected yet, or already closed: nothing to wake


def current() -> Cancellation | None:
    """The Cancellation whose scope this thread is in, if any."""
    return getattr(_active, 'cancellation', None)


def register(sock: socket.socket) -> None:
    """Hand ``sock`` to the active Cancellation (no-op outside a scope)."""
    cancellation = current()
    if cancellation is not None:
        cancellation.register(sock)


def _connect_tcp(address: tuple[str, int], timeout: float | None,
                 source_address, socket_options) -> socket.socket:
    # urllib3's create_connection(), except that the socket is registered
    # between socket() and connect(), where a connect may block.
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _name, target in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            register(sock)
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(target)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError('getaddrinfo returned no address for %s' % host)


class _CancellableMixin:

    def _new_conn(self) -> socket.socket:
        if current() is None:
            return super()._new_conn()
        try:
            return _connect_tcp((self._dns_host, self.port), self.timeout,
                                self.source_address, self.socket_options)
        except TimeoutError as exc:
            raise urllib3_exceptions.ConnectTimeoutError(
                self, 'Connection to %s timed out. (connect timeout=%s)'
                % (self.host, self.timeout)) from exc
        except OSError as exc:
            raise urllib3_exceptions.NewConnectionError(
                self, 'Failed to establish a new connection: %s' % exc
            ) from exc

    def connect(self) -> None:
        super().connect()
        # With TLS, self.sock now is a new SSLSocket over the registered
        # one (which wrapping detached): register what reads will use.
        register(self.sock)


class HTTPConnection(SendTimeoutMixin, ChunkedBodyMixin, _CancellableMixin,
                     urllib3_connection.HTTPConnection):
    pass


class HTTPSConnection(SendTimeoutMixin, ChunkedBodyMixin, _CancellableMixin,
                      urllib3_connection.HTTPSConnection):
    pass


class _HTTPPool(connectionpool.HTTPConnectionPool):
    ConnectionCls = HTTPConnection


class _HTTPSPool(connectionpool.HTTPSConnectionPool):
    ConnectionCls = HTTPSConnection


class HTTPAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter for http:// and https:// with connections whose
    sockets a Cancellation can reach."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        # A new dict: the default one is shared by every PoolManager.
        self.poolmanager.pool_classes_by_scheme = {
            'http': _HTTPPool, 'https': _HTTPSPool}
