"""Servers that serve: TCP between servers on ``private``, on one host and
across the two, through the cloud's Open vSwitch userspace datapath
(where a veth that leaves its TCP checksums to offload sends packets the
receiver drops: ping passed, every TCP connection timed out).

Each server runs busybox ``httpd`` on port 8080 serving its own address;
every other server fetches the page with busybox ``wget`` (under
``timeout``: Debian's static wget has no ``-T``), in its container on
its host's engine.
"""

import itertools

import pytest

COUNT = 4
PORT = 8080
# The image's busybox has no httpd or timeout link: called by name.
SERVE = ("/bin/sh -c 'mkdir -p /www && ip -o -4 addr show eth0 "
         ">/www/index.html && exec /bin/busybox httpd -f -p %d -h /www'"
         % PORT)


@pytest.fixture(scope='module')
def serving(cloud_session, busybox_tar):
    """``{server id: (host, workload id, address)}`` of COUNT servers
    serving their address, spread over the hosts by the scheduler."""
    cloud = cloud_session.cloud
    demo = cloud.demo
    image = demo.json('image', 'create', '--container-format', 'docker',
                      '--disk-format', 'raw', '--file', str(busybox_tar),
                      '--property', 'os_command_line=' + SERVE, 'httpd')
    demo.run('server', 'create', '--image', image['id'], '--flavor',
             'm1.tiny', '--network', 'private', '--min', COUNT, '--max',
             COUNT, 'serving')
    ids = [s['ID'] for s in demo.json('server', 'list', '--name',
                                      '^serving-')]
    try:
        found = {}
        for server_id in ids:
            server = cloud.wait_status(server_id, 'ACTIVE', timeout=600)
            host = cloud.host_of(server)
            found[server_id] = (host, cloud.workload(host, server_id)['Id'],
                                _address(server))
        yield found
    finally:
        if not cloud_session.down:
            cloud.delete_servers(ids)
            demo.run('image', 'delete', image['id'], check=False)


def _address(server):
    """The server's one address on ``private`` (``server show -f json``
    gives ``{"private": [...]}``; older clients ``private=...``)."""
    addresses = server['addresses']
    if isinstance(addresses, dict):
        [address] = addresses['private']
        return address
    return addresses.partition('=')[2].strip()


def _fetch(cloud, client, address):
    host, workload, _ = client
    return cloud.exec(host, workload, [
        '/bin/busybox', 'timeout', '20', 'wget', '-q', '-O', '-',
        'http://%s:%d/' % (address, PORT)])


def _pairs(serving, same_host):
    return [(a, b) for a, b in itertools.permutations(serving.values(), 2)
            if (a[0] == b[0]) == same_host]


@pytest.mark.parametrize('same_host', [True, False],
                         ids=['one host', 'across hosts'])
def test_a_page_served_by_one_server_is_fetched_by_another(
        cloud, serving, same_host):
    pairs = _pairs(serving, same_host)
    # COUNT servers on two hosts always share one; the scheduler's spread
    # (as test_hosts shows) puts them on both.
    assert pairs, 'the scheduler put no two servers %s' % (
        'on one host' if same_host else 'on different hosts')
    for client, server in pairs:
        code, out, err = _fetch(cloud, client, server[2])
        assert code == 0, (client, server, out, err)
        assert (' %s/' % server[2]) in out.decode(), out
