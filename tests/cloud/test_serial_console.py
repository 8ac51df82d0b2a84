"""The serial console through nova-serialproxy: ``openstack console url
show --serial`` gives a ``ws://`` URL, and a websocket client typing into
it gets the answer of the server's shell."""

import time
import uuid

import pytest
import websocket

from tests.cloud import cloud as cloud_mod


@pytest.fixture(scope='module')
def shell_image(cloud_session, busybox_tar):
    """busybox whose command is its shell, as on a VM's serial port."""
    demo = cloud_session.cloud.demo
    image = demo.json('image', 'create', '--container-format', 'docker',
                      '--disk-format', 'raw', '--file', str(busybox_tar),
                      '--property', 'os_command_line=/bin/sh',
                      'cloud-tests-shell')
    yield image
    if not cloud_session.down:
        demo.run('image', 'delete', image['id'], check=False)


@pytest.fixture(scope='module')
def shell_server(cloud_session, shell_image):
    cloud = cloud_session.cloud
    server = cloud.demo.json('server', 'create', '--image', shell_image['id'],
                             '--flavor', 'm1.tiny', '--nic', 'none',
                             'console-shell')
    try:
        yield cloud.wait_status(server['id'], 'ACTIVE')
    finally:
        if not cloud_session.down:
            cloud.delete_servers([server['id']])


def console_url(cloud, server_id):
    return cloud.demo.json('console', 'url', 'show', '--serial',
                           server_id)['url']


def open_console(url):
    # No Origin: a client that is no browser, as nova's proxy allows.
    return websocket.create_connection(url, timeout=30,
                                       subprotocols=['binary'],
                                       suppress_origin=True)


def read_until(ws, marker, timeout=30):
    got = b''
    deadline = time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        data = ws.recv()
        if not data:
            break
        got += data if isinstance(data, bytes) else data.encode()
    return got


def ask(ws, marker):
    """Type a command whose output is ``marker`` (the typed line, quotes
    in its middle, is not) and read until the shell answered it."""
    half = len(marker) // 2
    ws.send_binary(b'echo %s""%s\n' % (marker[:half].encode(),
                                       marker[half:].encode()))
    return read_until(ws, marker.encode())


def test_a_websocket_client_types_into_the_servers_shell(cloud,
                                                          shell_server):
    url = console_url(cloud, shell_server['id'])
    assert url.startswith('ws://127.0.0.1:6083/')
    marker = 'mark-%s' % uuid.uuid4().hex[:12]
    ws = open_console(url)
    try:
        assert marker.encode() in ask(ws, marker)
    finally:
        ws.close()
    # The terminal's exchange is in the console log as well.
    cloud.wait_console(shell_server['id'], text=marker)
    # Leaving the console leaves the server running.
    assert cloud.server(shell_server['id'])['status'] == 'ACTIVE'
    host = cloud_mod.Cloud.host_of(cloud.server(shell_server['id']))
    assert cloud.workload(host, shell_server['id'])['State'] == 'running'


def test_the_console_is_there_again_after_a_reboot(cloud, shell_server):
    cloud.demo.run('server', 'reboot', '--hard', '--wait',
                   shell_server['id'])
    cloud.wait_status(shell_server['id'], 'ACTIVE')
    marker = 'mark-%s' % uuid.uuid4().hex[:12]
    ws = open_console(console_url(cloud, shell_server['id']))
    try:
        assert marker.encode() in ask(ws, marker)
    finally:
        ws.close()
