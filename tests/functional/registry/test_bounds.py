"""Bounds on what a tenant can make nova-docker-registry hold: gzip bombs
pushed and pulled, huge tar extension headers, connections that send
nothing or half a request, uploads in flight per project, and uploads
left behind. The registry runs as its own process in front of a real
glance-api; memory is read from the server process's /proc status.
"""

import base64
import io
import os
import re
import socket
import tarfile
import tempfile
import time
import urllib.parse
import zlib

import pytest

from tests.fixtures import registry as registry_fx
from tests.fixtures.registry_client import Client
from tests.fixtures.registry_client import digest_of
from tests.fixtures.registry_client import error_of
from tests.fixtures.registry import USERS

MiB = 1024 * 1024


def gzip_bomb(unpacked: int, name: str = 'zeros') -> bytes:
    """A gzip'd tar of one file of ``unpacked`` zero bytes, made without
    holding it: about a thousandth of its size."""
    header = tarfile.TarInfo(name)
    header.size = unpacked
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [deflate.compress(header.tobuf(tarfile.USTAR_FORMAT))]
    zeros = bytes(MiB)
    for _ in range(unpacked // MiB):
        out.append(deflate.compress(zeros))
    out.append(deflate.compress(bytes(unpacked % MiB + 2 * 512 +
                                      -unpacked % 512)))
    out.append(deflate.flush())
    return b''.join(out)


def pax_bomb(pax_bytes: int) -> bytes:
    """A root file system tar whose first member carries a pax header of
    about ``pax_bytes`` bytes (one long comment record)."""
    value = 'x' * pax_bytes
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w',
                      format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo('bin/sh')
        info.size = 4
        info.pax_headers = {'comment': value}
        tar.addfile(info, io.BytesIO(b'#!/x'))
    return buf.getvalue()


def high_water(server) -> dict[int, int]:
    """Peak resident memory (VmHWM), in bytes, of each of the server's
    processes."""
    peaks = {}
    for pid in server.worker_pids() + [server.process.pid]:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    peaks[pid] = int(line.split()[1]) * 1024
    return peaks


def growth(before: dict[int, int], after: dict[int, int]) -> int:
    """The most any one process's peak grew by."""
    return max(after[pid] - before.get(pid, 0) for pid in after)


def _state(glance, *registries):
    return ({i['id'] for i in glance.list_images()},
            {i['id'] for i in glance.list_images(os_hidden='true')},
            [r.uploads_in_flight() for r in registries])


@pytest.fixture
def servers(glance_server):
    """``servers(**options)``: a registry process, stopped (and every
    Glance image removed) after the test."""
    started = []

    def start(**extra):
        server = registry_fx.RegistryServer(
            glance_server.url, USERS,
            extra={k: str(v) for k, v in extra.items()})
        server.setUp()
        started.append(server)
        return server
    yield start
    for server in started:
        server.cleanUp()
    for image in (glance_server.list_images(os_hidden='true') +
                  glance_server.list_images()):
        glance_server.delete_image(image['id'])


def _start_upload(client, name) -> str:
    resp = client('POST', '/v2/%s/blobs/uploads/' % name)
    assert resp.status_code == 202, resp.text
    return resp.headers['Location']


# -- gzip bombs and extension headers ----------------------------------------

def test_a_pushed_gzip_bomb_layer_is_refused_and_leaves_nothing(
        glance_server, servers):
    server = servers()
    alice = Client(server)
    bomb = gzip_bomb(256 * MiB)
    assert len(bomb) < 300 * 1024
    before = _state(glance_server, server)
    location = _start_upload(alice, 'bomb')
    resp = alice('PUT', location, data=bomb,
                 params={'digest': digest_of(bomb)})
    error = error_of(resp, 400, 'BLOB_UPLOAD_INVALID')
    assert 'max_layer_unpack' in error['message']
    assert _state(glance_server, server) == before
    # A real layer still goes through.
    assert alice.push_blob('bomb', gzip_bomb(MiB))


def test_a_layer_over_max_layer_unpacked_size_is_refused(glance_server,
                                                         servers):
    server = servers(max_layer_unpacked_size=4 * MiB)
    alice = Client(server)
    before = _state(glance_server, server)
    for chunked in (False, True):
        blob = gzip_bomb(8 * MiB)
        location = _start_upload(alice, 'big')
        if chunked:
            resp = alice('PATCH', location, data=iter([blob[:1000],
                                                       blob[1000:]]))
        else:
            resp = alice('PUT', location, data=blob,
                         params={'digest': digest_of(blob)})
        error = error_of(resp, 400, 'BLOB_UPLOAD_INVALID')
        assert 'max_layer_unpacked_size' in error['message']
        assert _state(glance_server, server) == before
    assert alice.push_blob('big', gzip_bomb(3 * MiB))


def test_a_pulled_gzip_bomb_image_holds_no_memory(glance_server, servers):
    # The ratio check off: the whole bomb is unpacked, in bounded pieces.
    server = servers(max_layer_unpack_ratio=0)
    guarded = servers()
    glance_server.create_image('bomb:1', gzip_bomb(256 * MiB))
    for registry in (server, guarded):
        alice = Client(registry)
        assert alice('GET', '/v2/').status_code == 200
        before = high_water(registry)
        resp = alice('GET', '/v2/bomb/manifests/1', timeout=120)
        grown = growth(before, high_water(registry))
        assert grown < 100 * MiB, grown
        if registry is server:
            assert resp.status_code == 200, resp.text
        else:
            # The default ratio refuses it outright.
            error = error_of(resp, 404, 'MANIFEST_UNKNOWN')
            assert 'unpacks to more than' in error['message']


def test_a_huge_pax_header_is_refused_unread(glance_server, servers):
    server = servers()
    alice = Client(server)
    glance_server.create_image('pax:1', pax_bomb(64 * MiB))
    assert alice('GET', '/v2/').status_code == 200
    before = high_water(server)
    resp = alice('GET', '/v2/pax/manifests/1', timeout=120)
    error = error_of(resp, 404, 'MANIFEST_UNKNOWN')
    assert 'extension header' in error['message']
    grown = growth(before, high_water(server))
    assert grown < 32 * MiB, grown


# -- slow and silent clients ---------------------------------------------

def _half_open(port: int, payloads) -> list[socket.socket]:
    socks = []
    for payload in payloads:
        sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        if payload:
            sock.sendall(payload)
        socks.append(sock)
    return socks


def _reply(sock: socket.socket) -> bytes:
    """One whole HTTP reply: headers and Content-Length bytes of body,
    however the server's writes arrive."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    length = int(re.search(rb'(?i)content-length: *(\d+)', head).group(1))
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b'\r\n\r\n' + body


def test_half_open_connections_do_not_stop_the_registry(servers):
    server = servers(threads=8)
    alice = Client(server)
    payloads = [b'', b'GET /v2/ HTTP/1.1\r\nHost: x\r\n',
                b'PATCH /v2/app/blobs/uploads/x HTTP/1.1\r\n'] * 9
    socks = _half_open(server.port, payloads)
    try:
        time.sleep(0.5)
        started = time.monotonic()
        resp = alice('GET', '/v2/', timeout=10)
        assert resp.status_code == 200
        assert time.monotonic() - started < 5
    finally:
        for sock in socks:
            sock.close()


def test_a_silent_request_body_frees_its_thread(servers):
    server = servers(threads=2, request_read_timeout=2)
    alice = Client(server)
    token = base64.b64encode(('%s:%s' % alice.session.auth).encode())
    locations = [_start_upload(alice, 'slow') for _ in range(3)]
    requests = [(
        'PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n'
        'Content-Length: 100000\r\n\r\nsome'
        % (urllib.parse.urlsplit(location).path, token.decode())).encode()
        for location in locations]
    socks = _half_open(server.port, requests)
    try:
        started = time.monotonic()
        resp = alice('GET', '/v2/', timeout=15)
        assert resp.status_code == 200
        assert time.monotonic() - started < 8
        for sock in socks:
            reply = _reply(sock)
            assert b' 400 ' in reply.split(b'\r\n', 1)[0], reply
            assert b'request_read_timeout' in reply
    finally:
        for sock in socks:
            sock.close()
    # The uploads the stalled PATCHes fed were removed.
    for location in locations:
        error_of(alice('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN')


# -- uploads in flight -------------------------------------------------------

def test_a_project_over_its_upload_cap_gets_429_others_go_on(servers):
    server = servers(max_uploads_per_project=2)
    alice, bob = Client(server, 'alice'), Client(server, 'bob')
    first = _start_upload(alice, 'app')
    _start_upload(alice, 'app')
    error = error_of(alice('POST', '/v2/app/blobs/uploads/'), 429,
                     'TOOMANYREQUESTS')
    assert 'max_uploads_per_project' in error['message']
    assert len(server.uploads_in_flight()) == 4
    # Another project is not held back by alice's.
    assert bob.push_blob('app', b'bob goes on')
    # And alice goes on once one of hers is done.
    assert alice('DELETE', first).status_code == 204
    _start_upload(alice, 'app')


def test_uploads_over_the_project_byte_cap_get_429_and_are_removed(servers):
    server = servers(max_upload_bytes_per_project=MiB)
    alice, bob = Client(server, 'alice'), Client(server, 'bob')
    held = _start_upload(alice, 'app')
    assert alice('PATCH', held, data=os.urandom(MiB // 2)).status_code == 202
    location = _start_upload(alice, 'app')
    error_of(alice('PATCH', location, data=iter([os.urandom(MiB)])), 429,
             'TOOMANYREQUESTS')
    error_of(alice('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN')
    assert bob.push_blob('app', os.urandom(MiB // 2 + 1))


def test_the_reaper_removes_a_stale_upload_with_no_other_upload(servers):
    server = servers(upload_timeout=1, reap_interval=1)
    alice = Client(server)
    location = _start_upload(alice, 'stale')
    assert alice('PATCH', location, data=b'abandoned').status_code == 202
    assert len(server.uploads_in_flight()) == 2
    deadline = time.monotonic() + 10
    while server.uploads_in_flight() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert server.uploads_in_flight() == []
    error_of(alice('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN')


# -- the server process ---------------------------------------------------

def test_no_control_socket_and_two_registries_run_side_by_side(
        glance_server):
    home = tempfile.mkdtemp(prefix='registry-home-')
    env = {'HOME': home, 'XDG_RUNTIME_DIR': ''}
    started = []
    try:
        for _ in range(2):
            server = registry_fx.RegistryServer(glance_server.url, USERS,
                                                env=env)
            server.setUp()
            started.append(server)
        for server in started:
            assert Client(server)('GET', '/v2/').status_code == 200
            assert server.process.poll() is None
        made = [os.path.join(root, name)
                for root, dirs, files in os.walk(home)
                for name in dirs + files]
        assert not [path for path in made if 'gunicorn' in path], made
    finally:
        for server in started:
            server.cleanUp()
        for root, dirs, files in os.walk(home, topdown=False):
            for entry in files:
                os.unlink(os.path.join(root, entry))
            for entry in dirs:
                os.rmdir(os.path.join(root, entry))
        os.rmdir(home)
