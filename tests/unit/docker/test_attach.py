"""The attach stream: an HTTP upgrade on the engine's socket, against the
fake engine."""

import threading
import time

import pytest

from nova_docker.docker import DockerClient
from nova_docker.docker import errors
from tests.fixtures.fake_engine import upper_echo
from tests.unit.docker.helpers import frame

ATTACH = r'/containers/[^/]+/attach'


def read_until(stream, marker, timeout=5):
    got = b''
    deadline = time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        data = stream.recv()
        if not data:
            break
        got += data
    return got


def test_attach_upgrades_and_carries_bytes_both_ways(fake_engine, client):
    fake_engine.route('POST', ATTACH, upgrade=upper_echo)
    stream = client.attach_container('nova-x', multiplexed=False)
    try:
        stream.send(b'echo marker\n')
        assert read_until(stream, b'MARKER\n') == b'ECHO MARKER\n'
    finally:
        stream.close()
    request = fake_engine.requests_to('POST', ATTACH)[0]
    assert request.path.endswith('/containers/nova-x/attach')
    assert request.headers['Connection'] == 'Upgrade'
    assert request.headers['Upgrade'] == 'tcp'
    # Its whole terminal, from now on: no replay of the log.
    assert {k: v[0] for k, v in request.query.items()} == {
        'stream': '1', 'stdin': '1', 'stdout': '1', 'stderr': '1',
        'logs': '0'}


def test_bytes_in_the_same_read_as_the_headers_are_kept(fake_engine,
                                                        client):
    fake_engine.route('POST', ATTACH, body=b'/ # ', upgrade=upper_echo)
    stream = client.attach_container('nova-x', multiplexed=False)
    try:
        assert read_until(stream, b'/ # ') == b'/ # '
    finally:
        stream.close()


def test_multiplexed_output_is_demultiplexed(fake_engine, client):
    def framed(conn, request):
        conn.send(frame(1, b'out ') + frame(2, b'err'))

    fake_engine.route('POST', ATTACH, upgrade=framed)
    stream = client.attach_container('nova-x', multiplexed=True)
    assert b''.join(stream.output()) == b'out err'


@pytest.mark.parametrize('status, error', [(404, errors.NotFound),
                                           (409, errors.Conflict),
                                           (500, errors.APIError)])
def test_a_refused_attach_is_the_engines_error(fake_engine, client, status,
                                               error):
    fake_engine.route('POST', ATTACH, status=status,
                      json={'message': 'no such container: nova-x'})
    with pytest.raises(error, match='no such container: nova-x') as info:
        client.attach_container('nova-x', multiplexed=False)
    assert info.value.status_code == status


def test_no_engine_is_engine_unreachable(tmp_path):
    client = DockerClient('unix://%s/none.sock' % tmp_path)
    with pytest.raises(errors.EngineUnreachable, match='none.sock'):
        client.attach_container('nova-x', multiplexed=False)


def test_close_from_another_thread_ends_a_blocked_read(fake_engine, client):
    held = threading.Event()

    def silent(conn, request):
        held.wait(10)

    fake_engine.route('POST', ATTACH, upgrade=silent)
    stream = client.attach_container('nova-x', multiplexed=False)
    got = []
    reader = threading.Thread(target=lambda: got.append(stream.recv()))
    reader.start()
    time.sleep(0.1)
    stream.close()
    reader.join(5)
    held.set()
    assert not reader.is_alive()
    assert got == [b'']


def test_a_silent_terminal_is_no_timeout(fake_engine):
    # Once upgraded, silence is a quiet shell, not a dead engine.
    client = DockerClient(fake_engine.url, read_timeout=0.2)
    held = threading.Event()

    def late(conn, request):
        held.wait(1)
        conn.send(b'late')

    fake_engine.route('POST', ATTACH, upgrade=late)
    stream = client.attach_container('nova-x', multiplexed=False)
    try:
        time.sleep(0.5)
        held.set()
        assert read_until(stream, b'late') == b'late'
    finally:
        stream.close()
        client.close()
