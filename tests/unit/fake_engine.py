"""A fake Docker Engine API served over HTTP/1.1 on a unix socket.

Tests register routes (method + path regex -> canned reply) and read back
what the client sent. The regex is matched against the whole path with a
leading ``/v1.NN`` version prefix removed; ``requests`` keeps the path as
sent. Replies are a JSON document, a body, or an iterable of chunks sent
with chunked transfer encoding (a generator may block to hold a stream
open; a callable taking the Request gives each request chunks of its own).
``FakeEngine(tcp=True)`` listens on 127.0.0.1 instead (plain HTTP).
"""

from __future__ import annotations

import http.server
import json as jsonlib
import os
import re
import shutil
import socketserver
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

DEFAULT_VERSION = {
    'Version': '20.10.24',
    'ApiVersion': '1.41',
    'MinAPIVersion': '1.12',
    'Os': 'linux',
    'Arch': 'amd64',
}

# GET /info of a well set-up engine: nothing for the driver to warn about.
DEFAULT_INFO = {
    'NCPU': 2,
    'MemTotal': 2 * 1024 ** 3,
    'ServerVersion': '20.10.24',
    'SecurityOptions': ['name=seccomp,profile=default'],
    'LiveRestoreEnabled': True,
    # A storage driver that bounds every instance's disk.
    'Driver': 'btrfs',
    'DriverStatus': [['Btrfs', '']],
}

_VERSION_PREFIX = re.compile(r'^/v\d+\.\d+(?=/)')


class Request(NamedTuple):
    """One request as the fake engine received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict
    body: bytes


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    status: int
    headers: dict[str, str]
    body: bytes | None
    chunks: Iterable[bytes | str] | Callable[[Request], Iterable] | None
    delay: float


class FakeEngine:
    """The fake engine; ``url`` is ``unix:///tmp/.../docker.sock`` (or
    ``tcp://127.0.0.1:<port>`` with ``tcp``, known once started)."""

    def __init__(self, tcp: bool = False) -> None:
        self._dir = tempfile.mkdtemp(prefix='fake-docker-')
        self.tcp = tcp
        self.socket_path = os.path.join(self._dir, 'docker.sock')
        self.url = 'unix://' + self.socket_path
        self.requests: list[Request] = []
        # Connections accepted so far: shows whether the client reuses them.
        self.connections = 0
        self._routes: list[Route] = []
        self._lock = threading.Lock()
        self._server: socketserver.BaseServer | None = None
        self.route('GET', '/version', json=DEFAULT_VERSION)
        self.route('GET', '/info', json=DEFAULT_INFO)
        # An engine with no containers yet.
        self.route('GET', '/containers/json', json=[])
        self.route('GET', '/_ping', body=b'OK',
                   headers={'Content-Type': 'text/plain; charset=utf-8'})

    def route(self, method: str, path_regex: str, status: int = 200,
              json: Any = None, body: bytes | str | None = None,
              chunks: Iterable[bytes | str] | Callable | None = None,
              headers: dict[str, str] | None = None,
              delay: float = 0) -> None:
        """Answer ``method`` on paths matching ``path_regex``; the latest
        route registered for a path wins."""
        headers = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json)
            headers.setdefault('Content-Type', 'application/json')
        if isinstance(body, str):
            body = body.encode('utf-8')
        route = Route(method.upper(), re.compile(path_regex), status,
                      headers, body, chunks, delay)
        with self._lock:
            self._routes.insert(0, route)

    def find(self, method: str, path: str) -> Route | None:
        bare = _VERSION_PREFIX.sub('', path)
        with self._lock:
            for route in self._routes:
                if route.method == method and route.pattern.fullmatch(bare):
                    return route
        return None

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def requests_to(self, method: str, path_regex: str) -> list[Request]:
        """Received requests whose unversioned path matches."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and
                pattern.fullmatch(_VERSION_PREFIX.sub('', r.path))]

    def start(self) -> None:
        handler = type('BoundHandler', (_Handler,), {'engine': self})
        if self.tcp:
            self._server = _TCPServer(('127.0.0.1', 0), handler)
            self.url = 'tcp://127.0.0.1:%d' % self._server.server_address[1]
        else:
            self._server = _Server(self.socket_path, handler)
        # A short poll interval keeps stop() (and so each test) quick.
        thread = threading.Thread(target=self._server.serve_forever,
                                  args=(0.02,), name='fake-docker-engine',
                                  daemon=True)
        thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    engine: FakeEngine

    def setup(self) -> None:
        super().setup()
        self.engine.count_connection()

    def log_message(self, format, *args):
        pass  # keep test output clean

    def _read_body(self) -> bytes:
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            return self._read_chunked()
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b';')[0].strip(), 16)
            if size == 0:
                # Trailer section ends with an empty line.
                while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                    pass
                return b''.join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path,
                          parse_qs(parts.query, keep_blank_values=True),
                          CaseInsensitiveDict(self.headers.items()),
                          self._read_body())
        self.engine.record(request)
        route = self.engine.find(self.command, parts.path)
        try:
            if route is None:
                self._reply(404, {'Content-Type': 'application/json'},
                            b'{"message":"page not found"}')
            else:
                if route.delay:
                    time.sleep(route.delay)
                self._answer(route, request)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away

    def _answer(self, route: Route, request: Request) -> None:
        if route.chunks is not None:
            chunks = route.chunks
            if callable(chunks):
                chunks = chunks(request)
            self._reply_chunked(route.status, route.headers, chunks)
        else:
            self._reply(route.status, route.headers, route.body or b'')

    def _reply(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status not in (204, 304):
            self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if status not in (204, 304):
            self.wfile.write(body)
        self.wfile.flush()

    def _reply_chunked(self, status: int, headers: dict,
                       chunks: Iterable[bytes | str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        self.wfile.flush()
        for chunk in chunks:
            if isinstance(chunk, str):
                chunk = chunk.encode('utf-8')
            if not chunk:
                continue  # an empty chunk would end the body
            self.wfile.write(b'%x\r\n%s\r\n' % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b'0\r\n\r\n')
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle
