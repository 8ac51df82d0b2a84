"""Last of the tier (modules run in name order): ``tools/cloud.sh down``
leaves the host as the session found it."""

import os
import subprocess

import pytest

from tests.cloud import cloud as cloud_mod
from tests.cloud import conftest
from tests.fixtures import private_engine


def cloud_processes():
    """Every process whose command line names the cloud's state or the
    engines' exec roots, or that runs from the cloud's venv."""
    return [(pid, cmd) for pid, cmd in private_engine.processes()
            if pid != os.getpid() and (
                cloud_mod.STATE in cmd or cloud_mod.EXEC_ROOT_PREFIX in cmd
                or cmd.startswith(cloud_mod.VENV))]


@pytest.mark.skipif(conftest.REUSE, reason='NOVA_DOCKER_CLOUD_REUSE=1 '
                    'keeps the cloud up')
def test_down_leaves_nothing(cloud, cloud_session, busybox_image):
    # A server left running, with a port on the private network: down
    # must take its container, its veth and its OVS port away too.
    server_id = cloud.demo.json('server', 'create', '--image',
                                busybox_image['id'], '--flavor', 'm1.tiny',
                                '--network', 'private', 'left-running')['id']
    host = cloud.host_of(cloud.wait_status(server_id, 'ACTIVE'))
    assert cloud.workload(host, server_id)['State'] == 'running'
    assert cloud_processes()
    ports = set()
    for bridge in conftest.host_network()['bridges']:
        if bridge.startswith(cloud_mod.BRIDGE_PREFIX):
            ports |= set(subprocess.run(
                ['ovs-vsctl', '--timeout=10', 'list-ports', bridge],
                capture_output=True, text=True, check=True).stdout.split())
    taps = {p for p in ports if p.startswith('tap')}
    assert len(taps) == 1, ports
    assert taps <= conftest.host_network()['links']

    cloud_session.down = True
    cloud_mod.cloud_sh('down')

    assert cloud_processes() == []
    assert not os.path.exists(cloud_mod.STATE)
    # Both engines are gone with their data roots: no container, no image.
    for host in cloud_mod.COMPUTES:
        assert not os.path.exists(cloud_mod.engine_socket(host))
        assert not os.path.exists(cloud_mod.EXEC_ROOT_PREFIX + host)
    assert private_engine.mounts_below(
        [cloud_mod.STATE] + [cloud_mod.EXEC_ROOT_PREFIX + h
                             for h in cloud_mod.COMPUTES]) == []
    # Other programs may make links and bridges meanwhile (the host is
    # shared outside CI): what counts is what carries the cloud's names.
    after = conftest.host_network()
    before = cloud_session.before
    assert {b for b in after['bridges']
            if b.startswith(cloud_mod.BRIDGE_PREFIX)} == set()
    assert after['netns'] == before['netns']
    assert ports & after['links'] == set()
    assert {link for link in after['links'] - before['links']
            if link.startswith(cloud_mod.BRIDGE_PREFIX)} == set()
    status = cloud_mod.cloud_sh('status', check=False)
    assert status.returncode != 0
