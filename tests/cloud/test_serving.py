"""Servers that serve: TCP between servers on ``private``, on one host and
across the two, through the cloud's Open vSwitch userspace datapath
(where a veth that leaves its TCP checksums to offload sends packets the
receiver drops: ping passed, every TCP connection timed out); security
groups that hold (the Open vSwitch firewall), floating IPs that make a
server reachable from the host, and a second project that reaches the
demo project's servers through floating IPs only.

Each server runs busybox ``httpd`` on port 8080 serving its own address;
every other server fetches the page with busybox ``wget`` (under
``timeout``: Debian's static wget has no ``-T``), in its container on
its host's engine.
"""

import ipaddress
import itertools
import subprocess
import time

import pytest

from tests.cloud import cloud as cloud_mod

COUNT = 4
PORT = 8080
# The name of the serving image (not the demo's ``httpd``: a cloud left by
# ``tools/demo.sh --keep`` may hold that one).
IMAGE = 'cloud-tests-httpd'
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
                      '--property', 'os_command_line=' + SERVE, IMAGE)
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


# -- security groups, floating IPs, the other project ------------------------
#
# One more server, ``guarded``, serves the same page in a security group of
# its own that starts with no ingress rule; a server of ``serving`` (in
# ``default``) is the client. The firewall applies a rule change a moment
# after the API takes it: each check waits for the state it expects.

GUARDED_GROUP = 'guarded'
# How long the firewall gets to apply a rule change.
SETTLE = 60


def _until(what, check, timeout=SETTLE):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError('not %s after %d s' % (what, timeout))
        time.sleep(2)


@pytest.fixture(scope='module')
def guarded(cloud_session, serving):
    """(host, workload id, address, server id) of a server serving its
    address in the group ``guarded``, which lets nothing in."""
    cloud = cloud_session.cloud
    demo = cloud.demo
    group = demo.json('security', 'group', 'create', GUARDED_GROUP)
    server_id = None
    try:
        # The image of ``serving``: its command serves the page.
        image = demo.json('image', 'show', IMAGE)['id']
        server_id = demo.json(
            'server', 'create', '--image', image, '--flavor', 'm1.tiny',
            '--network', 'private', '--security-group', group['id'],
            'guarded')['id']
        server = cloud.wait_status(server_id, 'ACTIVE', timeout=600)
        host = cloud.host_of(server)
        yield (host, cloud.workload(host, server_id)['Id'],
               _address(server), server_id)
    finally:
        if not cloud_session.down:
            if server_id:
                cloud.delete_servers([server_id])
            demo.run('security', 'group', 'delete', group['id'],
                     check=False)


def _client(serving):
    return next(iter(serving.values()))


def _serves(cloud, client, address, names=None, seconds=5):
    """Whether ``client`` gets, from ``address`` within ``seconds``, the
    page of the server whose private address is ``names`` (``address``
    itself unless it is a floating IP)."""
    host, workload = client[:2]
    code, out, _err = cloud.exec(host, workload, [
        '/bin/busybox', 'timeout', str(seconds), 'wget', '-q', '-O', '-',
        'http://%s:%d/' % (address, PORT)])
    return code == 0 and (' %s/' % (names or address)) in out.decode()


def _pings(cloud, client, address):
    """Whether ``address`` answers a ping sent from ``client``'s network
    namespace. Instances have no NET_RAW (``[docker] cap_drop``): the
    host's busybox pings from inside the namespace, as root."""
    host, workload, _ = client[:3]
    pid = cloud.inspect(host, workload)['State']['Pid']
    proc = subprocess.run(['nsenter', '-t', str(pid), '-n', '/bin/busybox',
                           'ping', '-c', '1', '-W', '2', address],
                          capture_output=True)
    return proc.returncode == 0


def _rule(demo, *args):
    return demo.json('security', 'group', 'rule', 'create', *args,
                     GUARDED_GROUP)['id']


def test_a_security_group_rule_opens_tcp_and_its_removal_closes_it(
        cloud, serving, guarded):
    client, address = _client(serving), guarded[2]
    assert not _serves(cloud, client, address), (
        'a server of a group without rules served its page')
    # Nor does ``default`` let in what is not a member of it.
    assert not _serves(cloud, guarded, client[2]), (
        'a server outside default reached a member of default')
    rule = _rule(cloud.demo, '--protocol', 'tcp', '--dst-port', PORT)
    try:
        _until('reachable after the rule', lambda: _serves(
            cloud, client, address))
    finally:
        cloud.demo.run('security', 'group', 'rule', 'delete', rule)
    _until('unreachable after the rule went', lambda: not _serves(
        cloud, client, address))


def test_a_security_group_rule_opens_icmp_and_its_removal_closes_it(
        cloud, serving, guarded):
    client, address = _client(serving), guarded[2]
    assert not _pings(cloud, client, address), (
        'a server of a group without rules answered ping')
    rule = _rule(cloud.demo, '--protocol', 'icmp')
    try:
        _until('answering ping after the rule', lambda: _pings(
            cloud, client, address))
    finally:
        cloud.demo.run('security', 'group', 'rule', 'delete', rule)
    _until('silent after the rule went', lambda: not _pings(
        cloud, client, address))


@pytest.mark.parametrize('restart', ['reboot --hard', 'stop, start'])
def test_a_restarted_server_keeps_its_group(cloud, serving, guarded,
                                            restart):
    """A hard reboot restarts the workload in the same sandbox; a stop
    takes the sandbox down with its namespace and veth, and the start
    wires the port anew: on both, the group holds from the first
    moment (nothing gets in before the rule) and follows its rules."""
    client, address, server_id = _client(serving), guarded[2], guarded[3]
    if restart == 'reboot --hard':
        cloud.demo.run('server', 'reboot', '--hard', server_id)
    else:
        cloud.demo.run('server', 'stop', server_id)
        cloud.wait_status(server_id, 'SHUTOFF')
        cloud.demo.run('server', 'start', server_id)
    cloud.wait_status(server_id, 'ACTIVE')
    _until('serving again', lambda: _serves(cloud, guarded, address))
    assert not _serves(cloud, client, address), (
        'after %s, a server of a group without rules served its page'
        % restart)
    rule = _rule(cloud.demo, '--protocol', 'tcp', '--dst-port', PORT)
    try:
        _until('reachable after %s, with the rule' % restart,
               lambda: _serves(cloud, client, address))
    finally:
        cloud.demo.run('security', 'group', 'rule', 'delete', rule)
    _until('unreachable after the rule went', lambda: not _serves(
        cloud, client, address))


def _host_fetches(address, names):
    """Whether the host itself (outside every tenant network) gets, from
    ``address``, the page of the server whose private address is
    ``names``."""
    proc = subprocess.run(
        ['curl', '-s', '--noproxy', '*', '--max-time', '5',
         'http://%s:%d/' % (address, PORT)], capture_output=True, text=True)
    return proc.returncode == 0 and (' %s/' % names) in proc.stdout


@pytest.fixture
def open_port(cloud, guarded):
    """``guarded`` lets port 8080 in from anywhere while the test runs."""
    rule = _rule(cloud.demo, '--protocol', 'tcp', '--dst-port', PORT)
    yield
    cloud.demo.run('security', 'group', 'rule', 'delete', rule, check=False)


@pytest.fixture
def alt_server(cloud_session, busybox_tar):
    """(host, workload id) of a server of the ``alt`` project on its own
    network ``alt-private``."""
    cloud = cloud_session.cloud
    alt = cloud.alt
    image = alt.json('image', 'create', '--container-format', 'docker',
                     '--disk-format', 'raw', '--file', str(busybox_tar),
                     'alt-busybox')
    server_id = None
    try:
        server_id = alt.json('server', 'create', '--image', image['id'],
                             '--flavor', 'm1.tiny', '--network',
                             'alt-private', 'alt')['id']
        server = cloud.wait_status(server_id, 'ACTIVE', timeout=600)
        host = cloud.host_of(server)
        yield host, cloud.workload(host, server_id)['Id']
    finally:
        if server_id:
            alt.run('server', 'delete', server_id, check=False)
            cloud.wait_gone(server_id)
        alt.run('image', 'delete', image['id'], check=False)


def test_a_floating_ip_makes_a_server_reachable_from_the_host_and_no_more(
        cloud, guarded, open_port, alt_server):
    demo, address, server_id = cloud.demo, guarded[2], guarded[3]
    fip = demo.json('floating', 'ip', 'create', 'public')
    floating = fip['floating_ip_address']
    try:
        assert ipaddress.ip_address(floating) in ipaddress.ip_network(
            cloud_mod.PUBLIC_CIDR)
        assert not _host_fetches(floating, address)
        demo.run('server', 'add', 'floating', 'ip', server_id, floating)
        _until('served to the host at %s' % floating,
               lambda: _host_fetches(floating, address))
        # The other project reaches the server through its floating IP
        # only: its private address is not routed to from alt-private,
        # although the group lets anyone in on the port.
        _until('served to the alt project at %s' % floating,
               lambda: _serves(cloud, alt_server, floating, address))
        assert not _serves(cloud, alt_server, address)
        demo.run('server', 'remove', 'floating', 'ip', server_id, floating)
        _until('unreachable once the floating IP went',
               lambda: not _host_fetches(floating, address))
    finally:
        demo.run('floating', 'ip', 'delete', fip['id'], check=False)
