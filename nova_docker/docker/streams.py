"""Reading streamed replies: JSON lines, multiplexed logs, raw chunks."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Iterable, Iterator
from typing import Any

import requests

from nova_docker.docker import errors

STDIN, STDOUT, STDERR = 0, 1, 2

# Logs of a container without a TTY: frames of
# [stream type][0][0][0][big-endian uint32 length][payload].
_FRAME_HEADER = struct.Struct('>B3xL')
_FRAME_PADDING = b'\0\0\0'

RAW_STREAM = 'application/vnd.docker.raw-stream'
MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream'


def iter_chunks(response: requests.Response,
                chunk_size: int | None = None) -> Iterator[bytes]:
    """The body of a streamed reply as it arrives; ``chunk_size`` None
    gives each HTTP chunk as soon as it is received. Closes the reply."""
    try:
        yield from response.iter_content(chunk_size)
    except requests.RequestException as exc:
        raise errors.transport_error(exc, response.url) from exc
    finally:
        response.close()


def rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Chunks of at least ``size`` bytes (the last may be shorter).

    The engine sends 32 KiB HTTP chunks; consumers such as an upload to
    Glance do better with fewer, larger pieces.
    """
    pending: list[bytes] = []
    length = 0
    for chunk in chunks:
        pending.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b''.join(pending)
            pending, length = [], 0
    if length:
        yield b''.join(pending)


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Whole non-blank lines out of chunks cut anywhere."""
    pending = b''
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b'\n')
        for line in lines:
            if line.strip():
                yield line.strip()
    if pending.strip():
        yield pending.strip()


def check_line(line: dict, where: str = 'the engine') -> dict:
    """``line`` itself, or StreamError if it reports an error."""
    if 'error' not in line and 'errorDetail' not in line:
        return line
    detail = line.get('errorDetail') or {}
    message = (detail.get('message') if isinstance(detail, dict) else None)
    message = message or line.get('error') or json.dumps(line)
    raise errors.StreamError(
        'Error in the reply to %s: %s' % (where, message),
        status_code=200, explanation=message)


def decode_line(line: bytes, where: str = 'the engine') -> Any:
    """One JSON line, checked for an error report."""
    try:
        obj = json.loads(line)
    except ValueError:
        raise errors.StreamError(
            'Malformed line in the reply to %s: %r' % (where, line[:200]),
            status_code=200, explanation=None) from None
    if isinstance(obj, dict):
        check_line(obj, where)
    return obj


def json_lines(response: requests.Response) -> Iterator[Any]:
    """Decoded JSON objects of a streamed reply, one per line, as they
    arrive. Raises StreamError on a line carrying ``error`` or
    ``errorDetail`` (the engine's way to fail after HTTP 200)."""
    where = errors.describe_request(response)
    try:
        for line in split_lines(iter_chunks(response)):
            yield decode_line(line, where)
    finally:
        response.close()


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(stream type, payload) frames of a multiplexed stream, in order.

    Frames and even headers may be split across chunks.
    """
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= _FRAME_HEADER.size:
            kind, size = _check_header(buf)
            end = _FRAME_HEADER.size + size
            if len(buf) < end:
                break
            yield kind, bytes(buf[_FRAME_HEADER.size:end])
            del buf[:end]
    if buf:
        raise errors.StreamError(
            'Multiplexed stream ended inside a frame (%d bytes left)'
            % len(buf), status_code=200)


def _check_header(buf: bytearray) -> tuple[int, int]:
    kind, size = _FRAME_HEADER.unpack_from(buf)
    if kind not in (STDIN, STDOUT, STDERR) or buf[1:4] != _FRAME_PADDING:
        raise errors.StreamError(
            'Not a multiplexed stream: bad frame header %r'
            % bytes(buf[:_FRAME_HEADER.size]), status_code=200)
    return kind, size


def demux_payloads(chunks: Iterable[bytes],
                   streams: tuple[int, ...] = (STDOUT, STDERR)
                   ) -> Iterator[bytes]:
    """The payloads of the frames of ``streams``, in order."""
    return (data for kind, data in demux(chunks) if kind in streams)


def demux_bytes(chunks: Iterable[bytes],
                streams: tuple[int, ...] = (STDOUT, STDERR)) -> bytes:
    """The payloads of the frames of ``streams``, joined in order."""
    return b''.join(demux_payloads(chunks, streams))


def tail_bytes(pieces: Iterable[bytes], limit: int) -> bytes:
    """The last ``limit`` bytes of ``pieces``, holding at most about twice
    that in memory however long the stream is."""
    buf = bytearray()
    for piece in pieces:
        buf += piece
        if len(buf) > 2 * limit:
            del buf[:-limit]
    return bytes(buf[-limit:]) if limit else b''


def content_kind(response: requests.Response) -> str | None:
    """'raw', 'multiplexed' or None when the reply does not say."""
    content_type = response.headers.get('Content-Type', '')
    if content_type.startswith(MULTIPLEXED_STREAM):
        return 'multiplexed'
    if content_type.startswith(RAW_STREAM):
        return 'raw'
    return None


def _shutdown_socket(response: requests.Response) -> None:
    # Closing a response does not wake a thread blocked reading it;
    # shutting the socket down does (the read sees end of stream).
    connection = getattr(response.raw, 'connection', None)
    sock = getattr(connection, 'sock', None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: nothing to wake


class Stream:
    """An iterator over a streamed reply that any thread may close.

    ``close()`` ends the iteration of a reader blocked in another thread
    (it then stops cleanly), and releases the connection.
    """

    def __init__(self, response: requests.Response, items: Iterator[Any]):
        self._response = response
        self._items = items
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def headers(self):
        """The reply's headers (e.g. the engine's ``Date``)."""
        return self._response.headers

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Any:
        if self._closed:
            raise StopIteration
        try:
            return next(self._items)
        except Exception:
            # Whatever a read interrupted by close() raises (end of stream,
            # a closed file) is the expected way for it to end.
            if self._closed:
                raise StopIteration from None
            raise

    def close(self) -> None:
        """Stop the stream; safe to call from any thread, more than once."""
        self._closed = True
        _shutdown_socket(self._response)
        self._response.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
