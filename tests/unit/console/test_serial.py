"""Serial console listeners bridging TCP clients to the fake engine's
attach stream."""

import socket
import threading
import time

from nova.console import serial as nova_serial
from nova import exception
import pytest

from nova_docker.console import serial
from tests.fixtures.fake_engine import upper_echo

ATTACH = r'/containers/[^/]+/attach'
UUID = 'e2f4c3f0-0000-4000-8000-00000000c0de'


def connect(port):
    sock = socket.create_connection((serial.address(), port), timeout=5)
    return sock


def read_until(sock, marker, timeout=5):
    got = b''
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    while marker not in got and time.monotonic() < deadline:
        data = sock.recv(4096)
        if not data:
            break
        got += data
    return got


@pytest.fixture
def attached(fake_engine, client):
    """attach(uuid) of the fake engine's containers, recording calls."""
    calls = []

    def attach(uuid):
        calls.append(uuid)
        return client.attach_container('nova-' + uuid, multiplexed=False)

    attach.calls = calls
    return attach


@pytest.fixture
def consoles(attached):
    made = serial.SerialConsoles(attached)
    yield made
    made.close_all()


def test_a_client_talks_to_the_workloads_terminal(fake_engine, consoles):
    fake_engine.route('POST', ATTACH, upgrade=upper_echo)
    port = consoles.open(UUID)
    with connect(port) as sock:
        sock.sendall(b'hello\n')
        assert read_until(sock, b'HELLO\n') == b'HELLO\n'
    request = fake_engine.requests_to('POST', ATTACH)[0]
    assert request.path.endswith('/containers/nova-%s/attach' % UUID)


def test_the_port_is_the_instances_until_closed(fake_engine, consoles):
    port = consoles.open(UUID)
    assert consoles.open(UUID) == port
    assert consoles.port(UUID) == port
    assert (serial.address(), port) in nova_serial.ALLOCATED_PORTS
    consoles.close(UUID)
    assert (serial.address(), port) not in nova_serial.ALLOCATED_PORTS
    assert consoles.port(UUID) is None
    with pytest.raises(ConnectionRefusedError):
        connect(port)


def test_a_second_client_is_refused_while_one_is_connected(fake_engine,
                                                           consoles):
    fake_engine.route('POST', ATTACH, upgrade=upper_echo)
    port = consoles.open(UUID)
    with connect(port) as first:
        first.sendall(b'one\n')
        assert read_until(first, b'ONE\n') == b'ONE\n'
        with connect(port) as second:
            assert read_until(second, b'\n.') == serial.BUSY_LINE
            assert second.recv(10) == b''  # and closed
        # The first one is undisturbed.
        first.sendall(b'two\n')
        assert read_until(first, b'TWO\n') == b'TWO\n'
    # Once it left, the next one gets in.
    with connect(port) as third:
        third.sendall(b'three\n')
        assert read_until(third, b'THREE\n') == b'THREE\n'


def test_a_client_that_leaves_ends_only_its_attach(fake_engine, consoles):
    ended = threading.Event()

    def echo_then_note_end(conn, request):
        upper_echo(conn, request)
        ended.set()

    fake_engine.route('POST', ATTACH, upgrade=echo_then_note_end)
    port = consoles.open(UUID)
    with connect(port) as sock:
        sock.sendall(b'x\n')
        read_until(sock, b'X\n')
    assert ended.wait(5)
    # Still listening for the next one.
    with connect(port) as sock:
        sock.sendall(b'y\n')
        assert read_until(sock, b'Y\n') == b'Y\n'


def test_a_workload_that_stops_ends_the_session(fake_engine, consoles):
    def exits(conn, request):
        conn.send(b'bye\r\n')

    fake_engine.route('POST', ATTACH, upgrade=exits)
    port = consoles.open(UUID)
    with connect(port) as sock:
        assert read_until(sock, b'\0') == b'bye\r\n'


def test_a_nova_refusal_is_the_line_the_client_reads(consoles, attached):
    def not_running(uuid):
        raise exception.InstanceNotReady(instance_id=uuid)

    refusing = serial.SerialConsoles(not_running)
    try:
        port = refusing.open(UUID)
        with connect(port) as sock:
            line = read_until(sock, b'\0')
        assert b'Instance %s is not ready' % UUID.encode() in line
    finally:
        refusing.close_all()


def test_closing_ends_the_connected_session(fake_engine, consoles):
    fake_engine.route('POST', ATTACH, upgrade=upper_echo)
    port = consoles.open(UUID)
    with connect(port) as sock:
        sock.sendall(b'a\n')
        read_until(sock, b'A\n')
        consoles.close(UUID)
        assert read_until(sock, b'\0') == b''


def test_ensure_listens_again_on_a_recorded_port(fake_engine, consoles):
    fake_engine.route('POST', ATTACH, upgrade=upper_echo)
    port = consoles.open(UUID)
    consoles.close_all()
    consoles.ensure(UUID, port)
    assert (serial.address(), port) in nova_serial.ALLOCATED_PORTS
    with connect(port) as sock:
        sock.sendall(b'again\n')
        assert read_until(sock, b'AGAIN\n') == b'AGAIN\n'


def test_ensure_on_a_port_held_elsewhere_is_a_nova_error(consoles):
    with socket.create_server((serial.address(), 0)) as other:
        port = other.getsockname()[1]
        with pytest.raises(exception.SocketPortInUseException):
            consoles.ensure(UUID, port)
    assert consoles.port(UUID) is None


def test_an_ipv6_address_is_listened_on(fake_engine, attached):
    fake_engine.route('POST', ATTACH, upgrade=upper_echo)
    with socket.create_server(('::1', 0), family=socket.AF_INET6) as probe:
        port = probe.getsockname()[1]
    listener = serial.Listener(UUID, '::1', port, lambda: attached(UUID))
    try:
        with socket.create_connection(('::1', port), timeout=5) as sock:
            sock.sendall(b'six\n')
            assert read_until(sock, b'SIX\n') == b'SIX\n'
    finally:
        listener.close()
