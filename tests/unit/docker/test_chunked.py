"""A chunked request body reaches the engine's socket as the very chunk
objects it was made of: urllib3's own framing copies every chunk (1.1 ms
per MiB here), and that copy must not come back."""

import pytest

from nova_docker.docker import cancel
from nova_docker.docker import chunked
from nova_docker.docker import connection


class RecordingSocket:
    """What a connection writes, piece by piece."""

    def __init__(self):
        self.sent = []

    def sendall(self, data):
        self.sent.append(data)

    def settimeout(self, timeout):
        pass

    def close(self):
        pass


def dechunk(body):
    """The data of a chunked body, and what followed its last chunk."""
    data = b''
    while True:
        size_line, body = body.split(b'\r\n', 1)
        size = int(size_line, 16)
        if not size:
            return data, body
        data += body[:size]
        assert body[size:size + 2] == b'\r\n'
        body = body[size + 2:]


def connections():
    return [connection._UnixConnection('http+unix://%2Ftmp%2Fnone.sock'),
            cancel.HTTPConnection('127.0.0.1', 1),
            cancel.HTTPSConnection('127.0.0.1', 1)]


@pytest.mark.parametrize('conn', connections(),
                         ids=lambda conn: type(conn).__name__)
def test_chunks_are_sent_as_they_are(conn):
    chunks = [bytes([n]) * (1 << 20) for n in range(3)]
    conn.sock = RecordingSocket()
    conn.request('POST', '/images/load', body=iter(chunks),
                 headers={'Content-Type': 'application/x-tar'},
                 chunked=True)
    for chunk in chunks:
        assert any(piece is chunk for piece in conn.sock.sent)
    head, body = b''.join(conn.sock.sent).split(b'\r\n\r\n', 1)
    assert b'Transfer-Encoding: chunked' in head
    assert dechunk(body) == (b''.join(chunks), b'\r\n')


def test_empty_chunks_do_not_end_the_body():
    conn = connections()[0]
    conn.sock = RecordingSocket()
    conn.request('POST', '/x', body=iter([b'ab', b'', b'cd']), chunked=True)
    _head, body = b''.join(conn.sock.sent).split(b'\r\n\r\n', 1)
    assert dechunk(body) == (b'abcd', b'\r\n')


def test_an_empty_body_is_the_last_chunk_alone():
    conn = connections()[0]
    conn.sock = RecordingSocket()
    conn.request('POST', '/x', body=iter([]), chunked=True)
    _head, body = b''.join(conn.sock.sent).split(b'\r\n\r\n', 1)
    assert body == b'0\r\n\r\n'


def test_bytes_bodies_are_left_to_urllib3():
    conn = connections()[0]
    conn.sock = RecordingSocket()
    conn.request('POST', '/x', body=b'{"a": 1}')
    head, body = b''.join(conn.sock.sent).split(b'\r\n\r\n', 1)
    assert b'Content-Length: 8' in head and body == b'{"a": 1}'


def test_an_error_of_the_body_stops_before_the_last_chunk():
    def body():
        yield b'abc'
        raise ValueError('checksum mismatch')

    conn = connections()[0]
    conn.sock = RecordingSocket()
    with pytest.raises(ValueError):
        conn.request('POST', '/x', body=body(), chunked=True)
    assert not b''.join(conn.sock.sent).endswith(b'0\r\n\r\n')
    assert conn._pending_body is None


def test_framed_text_is_encoded():
    assert b''.join(chunked.framed(['é'])) == b'2\r\n\xc3\xa9\r\n'
