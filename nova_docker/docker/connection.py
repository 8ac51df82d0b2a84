"""Transport to the Docker Engine: URL parsing, TLS, a pooled thread-safe
session, timeouts and API version negotiation."""

from __future__ import annotations

import copy
import os
import socket
import threading
import time
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
import requests_unixsocket
from requests_unixsocket.adapters import UnixHTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

from nova_docker.docker import cancel
from nova_docker.docker import chunked
from nova_docker.docker import errors
from nova_docker.docker import timeouts

# The oldest engine API this client works with: every endpoint and
# parameter it uses exists in 1.41 (Docker Engine 20.10).
MIN_API = '1.41'
# The newest API this client has been written against (Docker Engine 29).
# What 1.44 to 1.52 changed, the client reads either way: events without
# status/id/from (docker/system.py), image inspect without VirtualSize,
# Container, ContainerConfig or DockerVersion, inspect and create
# without Config.MacAddress or NetworkSettings' top-level fields (none of
# which it reads or sends). A newer engine is spoken to at this version
# as long as it still accepts it (its MinAPIVersion).
MAX_API = '1.52'

# nova-compute calls the engine from many green or native threads at once;
# a pool smaller than that makes urllib3 open and throw away connections.
DEFAULT_POOL_SIZE = 32

DEFAULT_TCP_PORT_TLS = 2376
DEFAULT_TCP_PORT_PLAIN = 2375

UNIX_SCHEME = 'http+unix://'


class TLSConfig:
    """How to reach a ``tcp://`` engine over TLS.

    ``ca_file`` verifies the engine's certificate (unset: the system CA
    store). ``cert_file``/``key_file`` are the client certificate the
    engine asks for with ``--tlsverify``. ``insecure`` skips the server
    check only: the connection stays encrypted.
    """

    def __init__(self, ca_file: str | None = None,
                 cert_file: str | None = None,
                 key_file: str | None = None,
                 insecure: bool = False):
        if key_file and not cert_file:
            raise ValueError('TLS key_file %s given without cert_file'
                             % key_file)
        for path in (ca_file, cert_file, key_file):
            # Checked now so a typo stops the service at start-up rather
            # than surfacing as an OSError on the first call.
            if path and not os.path.isfile(path):
                raise ValueError('TLS file %s does not exist' % path)
        self.ca_file = ca_file
        self.cert_file = cert_file
        self.key_file = key_file
        self.insecure = insecure

    @property
    def verify(self) -> bool | str:
        """The ``verify`` argument of requests."""
        if self.insecure:
            return False
        return self.ca_file or True

    @property
    def cert(self) -> str | tuple[str, str] | None:
        """The ``cert`` argument of requests."""
        if self.cert_file and self.key_file:
            return (self.cert_file, self.key_file)
        return self.cert_file

    def __repr__(self) -> str:
        return ('TLSConfig(ca_file=%r, cert_file=%r, key_file=%r, '
                'insecure=%r)' % (self.ca_file, self.cert_file,
                                  self.key_file, self.insecure))


# The default of DockerClient(tls=...): a tcp:// engine is reached over
# TLS with the system CAs unless the caller passes tls=None on purpose.
DEFAULT_TLS = TLSConfig()


def parse_base_url(base_url: str, tls: TLSConfig | None) -> str:
    """The URL prefix requests is given for ``base_url``.

    ``unix:///run/docker.sock`` -> ``http+unix://%2Frun%2Fdocker.sock``;
    ``tcp://host:port`` -> ``https://host:port`` (``http://`` only when
    ``tls`` is None). TLS settings do not apply to a unix socket.
    """
    if base_url.startswith('unix://'):
        path = base_url[len('unix://'):]
        if not path.startswith('/'):
            raise ValueError('Docker socket path must be absolute: %s'
                             % base_url)
        return UNIX_SCHEME + quote(path, safe='')
    if base_url.startswith('tcp://'):
        parts = urlsplit(base_url)
        if not parts.hostname or parts.path not in ('', '/'):
            raise ValueError('Docker URL must be tcp://host[:port]: %s'
                             % base_url)
        scheme = 'http' if tls is None else 'https'
        port = parts.port or (DEFAULT_TCP_PORT_PLAIN if tls is None
                              else DEFAULT_TCP_PORT_TLS)
        host = parts.hostname
        if ':' in host:
            host = '[%s]' % host
        return '%s://%s:%d' % (scheme, host, port)
    raise ValueError('Docker URL must start with unix:// or tcp://: %s'
                     % base_url)


class _UnixConnection(timeouts.SendTimeoutMixin, chunked.ChunkedBodyMixin,
                      UnixHTTPConnection):

    def connect(self) -> None:
        # With a timeout set, connect() on a unix socket whose listen
        # backlog is full fails at once with EAGAIN instead of waiting as
        # a TCP connect would; wait for room up to the connect timeout.
        limit = self.timeout if isinstance(self.timeout, (int, float)) else 10
        deadline = time.monotonic() + limit
        path = unquote(urlsplit(self.unix_socket_url).netloc)
        while True:
            sock = self._open()
            try:
                sock.connect(path)
                self.sock = sock
                return
            except BlockingIOError:
                sock.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)
            except BaseException:
                sock.close()
                raise

    def _open(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # A Cancellation can then abort this request (see cancel.py);
            # it raises if cancelled, which also ends the wait above.
            cancel.register(sock)
        except OSError:
            sock.close()
            raise
        sock.settimeout(self.timeout)
        return sock


class _UnixConnectionPool(HTTPConnectionPool):
    # requests_unixsocket's own pool keeps a single connection; this one
    # keeps up to maxsize so concurrent threads reuse theirs.

    def __init__(self, socket_url: str, maxsize: int):
        super().__init__('localhost', maxsize=maxsize)
        self.socket_url = socket_url

    def _new_conn(self) -> _UnixConnection:
        # urllib3 sets conn.timeout to the connect timeout before it
        # connects, and the socket timeout to the read timeout after.
        return _UnixConnection(self.socket_url)


class UnixAdapter(requests_unixsocket.UnixAdapter):
    """requests_unixsocket's adapter with one pool per socket, not per URL.

    The stock adapter keys pools by the full URL, so every container id
    gets a pool of its own and connections are hardly ever reused.
    """

    def __init__(self, pool_maxsize: int = DEFAULT_POOL_SIZE):
        super().__init__()
        self._pool_maxsize = pool_maxsize

    def get_connection(self, url, proxies=None):
        socket_url = UNIX_SCHEME + urlsplit(url).netloc
        with self.pools.lock:
            pool = self.pools.get(socket_url)
            if pool is None:
                pool = _UnixConnectionPool(socket_url, self._pool_maxsize)
                self.pools[socket_url] = pool
        return pool


def make_session(tls: TLSConfig | None,
                 pool_size: int = DEFAULT_POOL_SIZE) -> requests.Session:
    """A session safe to share between threads (it holds no cookies we
    rely on and its adapters pool connections per host)."""
    session = requests.Session()
    # The engine API is root on the host: never send it through a proxy
    # or with .netrc credentials picked up from the environment.
    session.trust_env = False
    session.mount(UNIX_SCHEME, UnixAdapter(pool_maxsize=pool_size))
    for prefix in ('http://', 'https://'):
        session.mount(prefix, cancel.HTTPAdapter(
            pool_connections=4, pool_maxsize=pool_size, max_retries=0))
    if tls is not None:
        session.verify = tls.verify
        session.cert = tls.cert
    return session


def parse_version(version: str) -> tuple[int, ...]:
    """'1.41' -> (1, 41), so that '1.9' sorts before '1.10'."""
    try:
        return tuple(int(part) for part in str(version).split('.'))
    except ValueError:
        raise ValueError('not an API version: %r' % (version,)) from None


def negotiate_api_version(engine: dict, where: str) -> str:
    """The API version to speak to an engine whose ``GET /version`` reply
    is ``engine``: min(engine's ApiVersion, MAX_API), if the engine
    accepts it and it is not older than MIN_API."""
    engine_max = engine.get('ApiVersion')
    engine_min = engine.get('MinAPIVersion') or engine_max
    if not engine_max:
        raise errors.UnsupportedVersion(
            'The Docker Engine at %s did not report its API version. %s'
            % (where, _supported_range()))
    try:
        chosen = min(engine_max, MAX_API, key=parse_version)
        too_new = parse_version(engine_min) > parse_version(MAX_API)
    except ValueError as exc:
        raise errors.UnsupportedVersion(
            'The Docker Engine at %s reported a malformed API version: %s'
            % (where, exc)) from None
    if parse_version(chosen) < parse_version(MIN_API) or too_new:
        raise errors.UnsupportedVersion(
            'The Docker Engine %s at %s speaks API versions %s to %s. %s'
            % (engine.get('Version', '(unknown version)'), where,
               engine_min, engine_max, _supported_range()))
    return chosen


def _supported_range() -> str:
    return ('nova-docker speaks API versions %s to %s: use Docker Engine '
            '20.10 or newer whose minimum API version is at most %s.'
            % (MIN_API, MAX_API, MAX_API))


def flag(value: bool) -> str:
    """A boolean query parameter as the engine reads it."""
    return '1' if value else '0'


_DEFAULT = object()


class Connection:
    """The HTTP side of DockerClient: one session, URL building, timeouts,
    error mapping and the lazily negotiated API version."""

    def __init__(self, base_url: str = 'unix:///var/run/docker.sock',
                 tls: TLSConfig | None = DEFAULT_TLS,
                 connect_timeout: float = 10,
                 read_timeout: float = 60,
                 image_timeout: float = 1800,
                 pool_size: int = DEFAULT_POOL_SIZE):
        self.base_url = base_url
        self.tls = tls if base_url.startswith('tcp://') else None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.image_timeout = image_timeout
        self._http_base = parse_base_url(base_url, self.tls)
        self._session = make_session(self.tls, pool_size)
        self._version_lock = threading.Lock()
        self._api_version: str | None = None
        self._cancellation: cancel.Cancellation | None = None

    def interruptible(self, cancellation: cancel.Cancellation
                      ) -> Connection:
        """A view of this client whose requests ``cancellation`` can
        abort from another thread, wherever they block (connecting,
        awaiting the reply, reading a stream).

        Each request of the view opens a connection of its own (a pooled
        one may be blocked in a socket no one registered); so use it for
        a long-lived stream and the few calls around it, not for a busy
        path.
        """
        view = copy.copy(self)
        view._cancellation = cancellation
        view._version_lock = threading.Lock()
        return view

    @property
    def api_version(self) -> str:
        """The negotiated API version, e.g. '1.41' (asks the engine once)."""
        if self._api_version is None:
            self._negotiate()
        return self._api_version

    def _negotiate(self, engine: dict | None = None) -> None:
        with self._version_lock:
            if self._api_version is not None:
                return
            if engine is None:
                engine = self._call('GET', '/version', versioned=False)
            # Not cached on failure: the engine may be upgraded or come
            # up later, and the next call should find out.
            self._api_version = negotiate_api_version(engine, self.base_url)

    def _url(self, path: str, versioned: bool = True) -> str:
        if versioned:
            return '%s/v%s%s' % (self._http_base, self.api_version, path)
        return self._http_base + path

    def _timeouts(self, read: Any) -> tuple[float, float | None]:
        if read is _DEFAULT:
            read = self.read_timeout
        return (self.connect_timeout, read)

    def _send(self, method: str, path: str, *, versioned: bool = True,
              timeout: Any = _DEFAULT, stream: bool = False,
              **kwargs: Any) -> Any:
        url = self._url(path, versioned)
        connect_read = self._timeouts(timeout)
        try:
            # A body may stall as long as a reply may (see timeouts.py).
            with timeouts.sending(connect_read[1]):
                response = self._request(method, url, timeout=connect_read,
                                         stream=stream, **kwargs)
            return errors.from_response(response, stream=stream)
        except requests.RequestException as exc:
            raise errors.transport_error(exc, url) from exc

    def _request(self, method: str, url: str, **kwargs: Any
                 ) -> requests.Response:
        if self._cancellation is None:
            return self._session.request(method, url, **kwargs)
        # A session of its own, so that the connection is a new one whose
        # socket the cancellation holds. Closing the session right away
        # leaves a streamed reply's connection open: urllib3 only closes
        # idle pooled connections, and this one is checked out.
        with make_session(self.tls, pool_size=1) as session:
            with self._cancellation.scope():
                return session.request(method, url, **kwargs)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; the decoded reply or a DockerError.

        ``timeout`` is the read timeout of this call (None: no limit).
        """
        return self._send(method, path, **kwargs)

    def _stream(self, method: str, path: str, **kwargs: Any
                ) -> requests.Response:
        """One request whose checked reply is read by the caller."""
        return self._send(method, path, stream=True, **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
