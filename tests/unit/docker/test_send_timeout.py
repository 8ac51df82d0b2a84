"""A request body may stall as long as the call's read timeout allows,
not only ``connect_timeout``: an engine that reads an image load slowly
(it is writing layers to disk) must not cut the load."""

import socket
import threading
import time

import pytest

from nova_docker.docker import DockerClient
from nova_docker.docker import errors

VERSION = b'{"ApiVersion":"1.41","MinAPIVersion":"1.12"}'


def reply(body):
    # This server answers one request per connection, so it says so: a
    # client that kept the connection would send its next request into a
    # socket the server is about to close, and get a reset.
    return (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
            b'Connection: close\r\n'
            b'Content-Length: %d\r\n\r\n' % len(body) + body)


class SlowReader:
    """A unix-socket HTTP server that stops reading a request body for
    ``stall`` seconds before it reads the rest and answers."""

    def __init__(self, path, stall):
        self.stall = stall
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(4)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._handle(conn)

    def _handle(self, conn):
        head = conn.recv(65536)
        if b'/version' in head:
            conn.sendall(reply(VERSION))
            # A loaded machine closes late; the client must not have
            # taken the connection back for its next request meanwhile.
            time.sleep(0.3)
            return
        self.stop.wait(self.stall)
        conn.settimeout(30)
        data = head
        try:
            while not data.endswith(b'0\r\n\r\n'):
                chunk = conn.recv(1 << 20)
                if not chunk:
                    return
                data = data[-8:] + chunk
        except OSError:
            return
        conn.sendall(reply(b'{"stream":"Loaded image ID: sha256:ab"}'))

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def socket_path(tmp_path):
    return str(tmp_path / 'engine.sock')


def body():
    # Far more than the socket buffers hold, so sending must wait.
    return iter([bytes(1 << 20)] * 32)


def test_a_body_may_stall_longer_than_the_connect_timeout(socket_path):
    server = SlowReader(socket_path, stall=2)
    try:
        client = DockerClient('unix://' + socket_path, connect_timeout=0.5,
                              read_timeout=30, image_timeout=30)
        loaded = client.load_image(body())
    finally:
        server.close()
    assert loaded.image_ids == ('sha256:ab',)


def test_a_body_stalled_past_the_image_timeout_fails(socket_path):
    server = SlowReader(socket_path, stall=30)
    try:
        client = DockerClient('unix://' + socket_path, connect_timeout=0.3,
                              read_timeout=5, image_timeout=1)
        start = time.monotonic()
        with pytest.raises(errors.DockerError):
            client.load_image(body())
        assert time.monotonic() - start < 20
    finally:
        server.close()
