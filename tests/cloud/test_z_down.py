"""Last of the tier (modules run in name order): ``tools/cloud.sh down``
leaves the host as the session found it."""

import os
import subprocess
import sys
import tempfile

import pytest

from tests.cloud import cloud as cloud_mod
from tests.fixtures import private_engine


def cloud_processes(spare=()):
    """Every process whose command line names the cloud's state or the
    engines' exec roots, or that runs from the cloud's venv (but those of
    ``spare``)."""
    return [(pid, cmd) for pid, cmd in private_engine.processes()
            if pid != os.getpid() and pid not in spare and (
                cloud_mod.STATE in cmd or cloud_mod.EXEC_ROOT_PREFIX in cmd
                or cmd.startswith(cloud_mod.VENV))]


@pytest.mark.skipif(cloud_mod.REUSE, reason='NOVA_DOCKER_CLOUD_REUSE=1 '
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
    for bridge in cloud_mod.host_network()['bridges']:
        if bridge.startswith(cloud_mod.BRIDGE_PREFIX):
            ports |= set(subprocess.run(
                ['ovs-vsctl', '--timeout=10', 'list-ports', bridge],
                capture_output=True, text=True, check=True).stdout.split())
    # The server's port is on a bridge as its veth's host end (the
    # routers' ports, in their namespaces, are veths named alike).
    [port] = cloud.demo.json('port', 'list', '--server', server_id)
    tap = 'tap' + port['ID'][:11]
    assert tap in ports, ports
    assert tap in cloud_mod.host_network()['links']
    # The routers' namespaces, and the host's foot on public.
    before_down = cloud_mod.host_network()
    assert {n for n in before_down['netns'] if n.startswith('qrouter-')}
    assert _public_routes()

    # Processes of other users of the machine that merely name the
    # state directory: someone reading a log, and one with the path in
    # its arguments. They are not the cloud's.
    log = os.path.join(cloud_mod.STATE, 'log')
    bystanders = [
        subprocess.Popen(['tail', '-f', os.path.join(log, 'keystone.log')],
                         stdout=subprocess.DEVNULL, start_new_session=True),
        subprocess.Popen([sys.executable, '-c',
                          'import time; time.sleep(600)',
                          os.path.join(log, 'x')],
                         start_new_session=True)]
    try:
        cloud_session.down = True
        cloud_mod.cloud_sh('down')
        assert [b.args for b in bystanders if b.poll() is not None] == []
    finally:
        for bystander in bystanders:
            bystander.kill()
            bystander.wait()

    assert cloud_processes(spare={b.pid for b in bystanders}) == []
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
    after = cloud_mod.host_network()
    before = cloud_session.before
    assert {b for b in after['bridges']
            if b.startswith(cloud_mod.BRIDGE_PREFIX)} == set()
    assert after['netns'] == before['netns']
    assert ports & after['links'] == set()
    assert {link for link in after['links'] - before['links']
            if link.startswith(cloud_mod.BRIDGE_PREFIX)} == set()
    # Nor a route to public, nor a rule of neutron's on the host (the
    # routers' rules were inside their namespaces).
    assert _public_routes() == ''
    rules = subprocess.run(['iptables-save'], capture_output=True,
                           text=True, check=True).stdout
    assert 'neutron' not in rules
    status = cloud_mod.cloud_sh('status', check=False)
    assert status.returncode != 0


def _public_routes():
    return subprocess.run(['ip', 'route', 'show', cloud_mod.PUBLIC_CIDR],
                          capture_output=True, text=True,
                          check=True).stdout.strip()


def test_down_and_up_refuse_a_directory_up_did_not_make():
    cloud_mod.require_root()
    with tempfile.TemporaryDirectory() as state:
        kept = os.path.join(state, 'etc', 'somebody-elses.conf')
        os.makedirs(os.path.dirname(kept))
        with open(kept, 'w') as f:
            f.write('mine\n')
        for cmd in ('down', 'up'):
            proc = subprocess.run(
                [cloud_mod.CLOUD_SH, cmd], stdin=subprocess.DEVNULL,
                capture_output=True, text=True, timeout=300,
                env=dict(os.environ, NOVA_DOCKER_CLOUD_STATE=state))
            assert proc.returncode != 0, proc.stdout
            assert 'not made by tools/cloud.sh up' in proc.stderr, (
                proc.stdout, proc.stderr)
            assert os.listdir(state) == ['etc'], cmd
            assert os.listdir(os.path.dirname(kept)) == [
                'somebody-elses.conf'], cmd
