"""Cold migration and resize through the ``openstack`` CLI: a file the
server wrote is there after, its address is the same, and its container
runs on the engine of the host Nova names and on no other.

The other compute service is disabled while a resize must stay on its
host (``allow_resize_to_same_host``): the scheduler could pick either.
"""

import re

import pytest

from tests.cloud import cloud as cloud_mod

FLAVOR = 'cloud-tests-bigger'
MIB = 1024 * 1024
KEPT = ['sh', '-c', 'cat /root/kept']


def other(host):
    return [h for h in cloud_mod.COMPUTES if h != host][0]


@pytest.fixture(scope='module')
def bigger(cloud_session):
    admin = cloud_session.cloud.admin
    flavor = admin.json('flavor', 'create', '--ram', 1024, '--vcpus', 2,
                        '--disk', 1, FLAVOR)
    yield flavor
    if not cloud_session.down:
        admin.run('flavor', 'delete', flavor['id'], check=False)


@pytest.fixture(scope='module')
def writer(cloud_session, busybox_image, bigger):
    """A server that wrote /root/kept, and its address."""
    cloud = cloud_session.cloud
    server_id = cloud.demo.json('server', 'create', '--image',
                                busybox_image['id'], '--flavor', 'm1.tiny',
                                'mover')['id']
    try:
        server = cloud.wait_status(server_id, 'ACTIVE')
        host = cloud.host_of(server)
        code, _, err = cloud.exec(host, cloud.workload(host, server_id)['Id'],
                                  ['sh', '-c', 'echo kept > /root/kept'])
        assert code == 0, err
        yield server_id, address(server)
    finally:
        if not cloud_session.down:
            cloud.delete_servers([server_id])


def address(server):
    return server['addresses']


def where(cloud, server_id, status='ACTIVE'):
    """(host, workload) of the server, checking that no other engine
    holds a container of it."""
    server = cloud.wait_status(server_id, status, timeout=600)
    host = cloud.host_of(server)
    assert cloud.hosts_holding(server_id) == [host]
    return host, cloud.workload(host, server_id), server


def assert_kept(cloud, server_id, addresses):
    host, workload, server = where(cloud, server_id)
    assert workload['State'] == 'running'
    code, out, _ = cloud.exec(host, workload['Id'], KEPT)
    assert (code, out) == (0, b'kept\n')
    assert address(server) == addresses
    # The port is wired on this host: its address is inside, on eth0.
    code, out, _ = cloud.exec(host, workload['Id'],
                              ['ip', '-o', '-4', 'addr', 'show', 'eth0'])
    assert code == 0
    ipv4 = re.search(r'\d+\.\d+\.\d+\.\d+', str(addresses)).group()
    assert ' %s/' % ipv4 in out.decode()
    return host


def memory(cloud, host, workload):
    return cloud.inspect(host, workload['Id'])['HostConfig']['Memory']


def no_transfer_image(cloud, server_id):
    hidden = cloud.admin.json('image', 'list', '--hidden', '--long')
    assert [i for i in hidden if server_id in i['Name']] == []


def transfer_image(cloud, server_id):
    hidden = cloud.admin.json('image', 'list', '--hidden', '--long')
    found = [i for i in hidden if server_id in i['Name']]
    assert len(found) == 1, found
    return cloud.admin.json('image', 'show', found[0]['ID'])


def test_migrate_then_confirm(cloud, writer, busybox_image):
    server_id, addresses = writer
    source = cloud.host_of(cloud.server(server_id))
    cloud.admin.run('--os-compute-api-version', '2.56', 'server', 'migrate',
                    '--host', other(source), server_id)
    server = cloud.wait_status(server_id, 'VERIFY_RESIZE', timeout=600)
    assert cloud.host_of(server) == other(source)
    # Both hosts run Docker's classic store: the transfer carries only
    # the server's own layer, not busybox's (which the target loads).
    sent = transfer_image(cloud, server_id)
    assert sent['properties']['migration_partial_base'] == \
        busybox_image['id']
    assert sent['size'] < min(busybox_image['size'], MIB)
    cloud.admin.run('server', 'resize', 'confirm', server_id)
    assert assert_kept(cloud, server_id, addresses) == other(source)
    no_transfer_image(cloud, server_id)


@pytest.fixture
def stay_here(cloud, writer):
    """The other host's compute service disabled while the test runs."""
    host = cloud.host_of(cloud.server(writer[0]))
    cloud.admin.run('compute', 'service', 'set', '--disable', other(host),
                    'nova-compute')
    yield host
    cloud.admin.run('compute', 'service', 'set', '--enable', other(host),
                    'nova-compute')


def test_resize_on_the_same_host_then_revert(cloud, writer, stay_here):
    server_id, addresses = writer
    cloud.demo.run('server', 'resize', '--flavor', FLAVOR, server_id)
    host, workload, _ = where(cloud, server_id, 'VERIFY_RESIZE')
    assert host == stay_here
    assert memory(cloud, host, workload) == 1024 * MIB
    cloud.demo.run('server', 'resize', 'revert', server_id)
    assert assert_kept(cloud, server_id, addresses) == stay_here
    assert memory(cloud, host, cloud.workload(host, server_id)) == 512 * MIB


def test_resize_then_confirm(cloud, writer):
    server_id, addresses = writer
    cloud.demo.run('server', 'resize', '--flavor', FLAVOR, server_id)
    cloud.wait_status(server_id, 'VERIFY_RESIZE', timeout=600)
    cloud.demo.run('server', 'resize', 'confirm', server_id)
    host = assert_kept(cloud, server_id, addresses)
    assert memory(cloud, host, cloud.workload(host, server_id)) == 1024 * MIB
    no_transfer_image(cloud, server_id)
