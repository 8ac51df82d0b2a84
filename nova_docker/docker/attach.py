"""Attaching to a container's stdin, stdout and stderr: ``POST
/containers/{id}/attach`` upgraded to a raw two-way byte stream.

The engine answers ``101 UPGRADED`` (or ``200`` from engines that ignore
the ``Upgrade`` header) and from then on the connection is the
container's terminal: bytes written go to its stdin, bytes read are its
output. With a TTY (``Config.Tty``) the output is raw; without one it is
multiplexed in frames (see :mod:`nova_docker.docker.streams`). requests
cannot hand out the socket of an upgraded connection, so this speaks
HTTP/1.1 itself, on the same unix socket (or TLS connection) as every
other call: nothing of the engine is opened to anyone else.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import quote, urlsplit

from nova_docker.docker import errors
from nova_docker.docker import streams

# The reply's status line and headers; the engine sends a few hundred
# bytes, more is no engine.
MAX_HEADER_BYTES = 64 * 1024
_RECV = 64 * 1024


class AttachedStream:
    """A container's terminal: :meth:`send` to its stdin, :meth:`recv`
    of its output (frames if :attr:`multiplexed`). Any thread may
    :meth:`close` it, which ends a :meth:`recv` blocked in another."""

    def __init__(self, sock: socket.socket, pending: bytes,
                 multiplexed: bool):
        self._sock = sock
        self._pending = pending
        self.multiplexed = multiplexed

    def recv(self, size: int = _RECV) -> bytes:
        """Some output; b'' once the stream ended (the container stopped,
        or the stream was closed)."""
        if self._pending:
            data, self._pending = self._pending, b''
            return data
        try:
            return self._sock.recv(size)
        except OSError:
            return b''

    def output(self):
        """The container's output as it comes (frames' payloads when
        multiplexed), until the stream ends."""
        chunks = iter(self.recv, b'')
        if self.multiplexed:
            return streams.demux_payloads(chunks)
        return chunks

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def close(self) -> None:
        """End the stream from any thread, more than once."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # never connected, or shut down already
        self._sock.close()


def _request(path: str, api_version: str) -> bytes:
    return ('POST /v%s%s HTTP/1.1\r\n'
            'Host: docker\r\n'
            'Content-Length: 0\r\n'
            'Connection: Upgrade\r\n'
            'Upgrade: tcp\r\n'
            '\r\n' % (api_version, path)).encode('ascii')


def _read_head(sock: socket.socket, where: str) -> tuple[bytes, bytes]:
    """The reply's status line and headers, and what followed them."""
    buf = b''
    while b'\r\n\r\n' not in buf:
        if len(buf) > MAX_HEADER_BYTES:
            raise errors.APIError('The reply to %s has no end of headers '
                                  'in %d bytes' % (where, MAX_HEADER_BYTES))
        data = sock.recv(_RECV)
        if not data:
            raise errors.EngineUnreachable(
                'The Docker Engine closed the connection of %s before '
                'answering' % where)
        buf += data
    head, _sep, rest = buf.partition(b'\r\n\r\n')
    return head, rest


def _parse_head(head: bytes, where: str) -> tuple[int, str, dict]:
    lines = head.decode('latin-1').split('\r\n')
    parts = lines[0].split(' ', 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        raise errors.APIError('The reply to %s is not HTTP: %r'
                              % (where, lines[0][:200])) from None
    headers = {}
    for line in lines[1:]:
        name, _sep, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    return status, parts[2] if len(parts) > 2 else '', headers


def _error_body(sock: socket.socket, rest: bytes, headers: dict) -> bytes:
    """The body of an error reply (the engine's JSON message), bounded."""
    try:
        length = min(int(headers.get('content-length', '0')),
                     MAX_HEADER_BYTES)
    except ValueError:
        length = 0
    while len(rest) < length:
        data = sock.recv(length - len(rest))
        if not data:
            break
        rest += data
    return rest[:length]


class AttachMixin:
    """``POST /containers/{id}/attach`` as a raw stream."""

    def _connect_raw(self) -> socket.socket:
        """A new connection to the engine, as requests would make one."""
        if self.base_url.startswith('unix://'):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(self.base_url[len('unix://'):])
            except BaseException:
                sock.close()
                raise
            return sock
        parts = urlsplit(self._http_base)
        sock = socket.create_connection((parts.hostname, parts.port),
                                        timeout=self.connect_timeout)
        if self.tls is None:
            return sock
        return self._tls_context().wrap_socket(
            sock, server_hostname=parts.hostname)

    def _tls_context(self) -> ssl.SSLContext:
        verify = self.tls.verify
        context = ssl.create_default_context(
            cafile=verify if isinstance(verify, str) else None)
        if verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.tls.cert_file:
            context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        return context

    def attach_container(self, container: str, multiplexed: bool,
                         logs: bool = False) -> AttachedStream:
        """The container's stdin, stdout and stderr as one stream.

        :param multiplexed: whether its output comes in frames (the
            container has no TTY): the engine's Content-Type does not
            say so reliably before API 1.42.
        :param logs: replay its output so far first.
        """
        path = '/containers/%s/attach?%s' % (
            quote(container, safe=''),
            'stream=1&stdin=1&stdout=1&stderr=1&logs=%d' % int(logs))
        where = 'POST %s%s' % (self.base_url, path)
        try:
            sock = self._connect_raw()
        except OSError as exc:
            raise errors.EngineUnreachable(
                'Cannot talk to the Docker Engine at %s: %s'
                % (self.base_url, exc)) from exc
        try:
            sock.settimeout(self.read_timeout)
            sock.sendall(_request(path, self.api_version))
            head, rest = _read_head(sock, where)
            status, reason, headers = _parse_head(head, where)
            if status not in (101, 200):
                raise errors.error_for_status(
                    status, reason, where, _error_body(sock, rest, headers))
            # From now on silence is a quiet terminal, not a dead engine.
            sock.settimeout(None)
        except socket.timeout as exc:
            sock.close()
            raise errors.EngineTimeout(
                'The Docker Engine at %s did not answer %s in time'
                % (self.base_url, where)) from exc
        except OSError as exc:
            sock.close()
            raise errors.EngineUnreachable(
                'Lost the Docker Engine at %s during %s: %s'
                % (self.base_url, where, exc)) from exc
        except BaseException:
            sock.close()
            raise
        return AttachedStream(sock, rest, multiplexed)
