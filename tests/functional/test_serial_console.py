"""The serial console on the real engine: a TCP client typing into the
shell of a busybox workload, through the driver's listener and the
engine's attach stream."""

import socket
import time
import uuid

from nova.compute import power_state
from nova.console import serial as nova_serial
from nova import exception
import pytest

from nova_docker.console import serial
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from nova_docker import labels
from tests.fixtures import nova_objects

CONF = driver_mod.CONF

# Runs once per engine (tests/fixtures/engines.py).
pytestmark = pytest.mark.every_engine


@pytest.fixture(autouse=True)
def shared_engine():
    # Other test runs may have containers of other compute hosts on the
    # host's engine at the same time.
    CONF.set_override('shared_engine', True, 'docker')
    yield
    CONF.clear_override('shared_engine', 'docker')


@pytest.fixture
def consoles_on():
    CONF.set_override('enabled', True, 'serial_console')
    yield
    CONF.clear_override('enabled', 'serial_console')


def spawn(driver, instance, image_meta):
    driver.spawn(None, instance, image_meta, [], None, {})


def connect(console):
    return socket.create_connection((console.host, console.port), timeout=10)


def read_until(sock, marker, timeout=10):
    got = b''
    deadline = time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        if not data:
            break
        got += data
    return got


def run(sock, marker):
    """Type a command that prints ``marker`` (computed by the shell, so
    the echo of the typed line does not count) and read its answer."""
    left, right = marker[:len(marker) // 2], marker[len(marker) // 2:]
    sock.sendall(b'echo %s""%s\n' % (left.encode(), right.encode()))
    return read_until(sock, b'\n' + marker.encode())


def marker():
    return 'mark-%s' % uuid.uuid4().hex[:12]


def console_log_has(driver, inst, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in driver.get_console_output(None, inst):
            return True
        time.sleep(0.1)
    return False


def test_a_client_types_into_the_workloads_shell(
        consoles_on, driver, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    console = driver.get_serial_console(None, inst)
    assert console.host == CONF.serial_console.proxyclient_address
    mark = marker()
    with connect(console) as sock:
        assert ('\n' + mark).encode() in run(sock, mark)
    # What the terminal showed is the console log, answer included (the
    # typed line, quotes in its middle, does not hold the marker).
    assert console_log_has(driver, inst, mark)
    # The client went; the instance runs on.
    assert driver.get_info(inst).state == power_state.RUNNING


def test_the_port_is_recorded_on_the_sandbox(consoles_on, driver, engine,
                                             instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    sandbox = engine.get('/containers/nova-%s-sandbox/json'
                         % inst.uuid).json()
    recorded = sandbox['Config']['Labels'][labels.LABEL_SERIAL_PORT]
    assert int(recorded) == driver.get_serial_console(None, inst).port


def test_two_instances_never_share_a_console(consoles_on, driver,
                                             instances, busybox_image):
    first, second = instances(), instances()
    spawn(driver, first, busybox_image)
    spawn(driver, second, busybox_image)
    one = driver.get_serial_console(None, first)
    two = driver.get_serial_console(None, second)
    assert one.port != two.port
    mark = marker()
    with connect(one) as sock:
        run(sock, mark)
    assert console_log_has(driver, first, mark)
    assert mark not in driver.get_console_output(None, second)


def test_a_second_client_is_refused_while_one_is_connected(
        consoles_on, driver, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    console = driver.get_serial_console(None, inst)
    with connect(console) as first:
        mark = marker()
        run(first, mark)
        with connect(console) as second:
            assert read_until(second, b'.\r\n') == serial.BUSY_LINE
        mark = marker()
        assert ('\n' + mark).encode() in run(first, mark)


def test_reboot_keeps_the_port_and_reaches_the_new_process(
        consoles_on, driver, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    before = driver.get_serial_console(None, inst)
    driver.reboot(None, inst, None, 'HARD')
    after = driver.get_serial_console(None, inst)
    assert after.port == before.port
    mark = marker()
    with connect(after) as sock:
        assert ('\n' + mark).encode() in run(sock, mark)


def test_a_restarted_driver_listens_on_the_same_port(
        consoles_on, driver, engine_client, image_api, instances,
        busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    port = driver.get_serial_console(None, inst).port
    # nova-compute stops, and starts again on the same engine.
    driver.cleanup_host('test-node')
    again = driver_mod.DockerDriver(virtapi=None,
                                    host=host_mod.Host(engine_client),
                                    image_api=image_api)
    again.init_host('test-node')
    try:
        # Listening from the start, before anyone asks for the console.
        mark = marker()
        with socket.create_connection(
                (serial.address(), port), timeout=10) as sock:
            assert ('\n' + mark).encode() in run(sock, mark)
        assert again.get_serial_console(None, inst).port == port
    finally:
        again.destroy(None, inst, None)


def test_destroy_closes_the_console_and_frees_its_port(
        consoles_on, driver, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    console = driver.get_serial_console(None, inst)
    driver.destroy(None, inst, None)
    with pytest.raises(ConnectionRefusedError):
        connect(console)
    assert (console.host, console.port) not in nova_serial.ALLOCATED_PORTS


def test_a_stopped_instances_console_is_refused(consoles_on, driver,
                                                instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    console = driver.get_serial_console(None, inst)
    driver.power_off(inst, timeout=0)
    with pytest.raises(exception.InstanceNotReady, match='not running'):
        driver.get_serial_console(None, inst)
    # A client already told the port reads why.
    with connect(console) as sock:
        assert b'is not running' in read_until(sock, b'again.\r\n')
    driver.power_on(None, inst, None)
    mark = marker()
    with connect(console) as sock:
        assert ('\n' + mark).encode() in run(sock, mark)


def test_without_serial_consoles_there_is_none(driver, engine, instances,
                                               busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    with pytest.raises(exception.ConsoleTypeUnavailable):
        driver.get_serial_console(None, inst)
    sandbox = engine.get('/containers/nova-%s-sandbox/json'
                         % inst.uuid).json()
    assert sandbox['Config']['Labels'][labels.LABEL_SERIAL_PORT] == ''


def test_an_instance_made_while_they_were_off_has_none(
        driver, instances, busybox_image):
    inst = instances()
    spawn(driver, inst, busybox_image)
    CONF.set_override('enabled', True, 'serial_console')
    try:
        with pytest.raises(exception.ConsoleTypeUnavailable,
                           match='Rebuild the server'):
            driver.get_serial_console(None, inst)
    finally:
        CONF.clear_override('enabled', 'serial_console')


def test_a_missing_instance_is_instance_not_found(consoles_on, driver):
    with pytest.raises(exception.InstanceNotFound):
        driver.get_serial_console(None, nova_objects.instance())
