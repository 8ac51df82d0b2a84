"""Neutron ports wired into real containers on a real Open vSwitch bridge.

As root, on the real engine and Debian's Open vSwitch (userspace datapath):
every port becomes a veth whose host end is on the test's own OVS bridge
(or on a hybrid plug's qbr) and whose other end is eth<N> in the
instance's namespace. What the instance sees is read from inside its
workload container (``docker exec``); reachability is pinged from inside
too. All traffic stays on the test's bridge and namespaces.
"""

import contextlib
import os
import pathlib
import subprocess
import sys
import time
import uuid

import pytest
from nova.compute import power_state
from nova import exception
from pyroute2 import IPRoute

from nova_docker import conf as docker_conf
from nova_docker import exception as docker_exception
from nova_docker.network import wiring
from tests.fixtures import ovs as ovs_fixtures
from tests.fixtures import host_net
from tests.fixtures import netns as netns_fixtures
from tests.fixtures import private_engine as private_fixtures
from tests.fixtures import ports as ports_fixtures
from tests.fixtures.ports import ovs_vif
from tests.fixtures.ports import subnet
from tests.fixtures import traffic
from tests.fixtures import wiring as wiring_fixtures
from tests.fixtures import nova_objects

CONF = docker_conf.CONF
# A dockerd of the test's own (see tests/fixtures/private_engine.py).
private_engine = private_fixtures.private_engine
# Exits at once on SIGTERM; prints what the workload saw when it started.
SHOW_NET_AT_START = ("/bin/sh -c 'ip -o addr show; trap \"exit 0\" TERM; "
                     "while true; do sleep 0.2; done'")


def using(fixture):
    """A ``fixtures.Fixture`` as the body of a pytest fixture."""
    fixture.setUp()
    try:
        yield fixture
    finally:
        fixture.cleanUp()


@pytest.fixture(scope='module')
def ovs():
    ovs_fixtures.require_ovs()
    yield from using(wiring_fixtures.OsVifOnLocalOVS())


@pytest.fixture
def privsep_in_process():
    yield from using(wiring_fixtures.PrivsepInProcess())


@pytest.fixture
def bridge(ovs):
    yield from using(ovs_fixtures.OVSBridge())


@pytest.fixture
def leftovers():
    # Only what this run's ports are named after: the host's links and
    # Open vSwitch are shared (a cloud may be booting servers meanwhile).
    yield from using(host_net.HostNetLeftovers(
        prefixes=ports_fixtures.link_prefixes()))


@pytest.fixture
def net(driver, privsep_in_process, bridge, leftovers, instances):
    network = Network(driver, bridge.name, instances)
    yield network
    # With their ports, before the instances fixture removes what is left
    # and the leftovers fixture looks.
    for inst in network.booted:
        network.destroy(inst)


class Network:
    """One test network (10.77.0.0/24 and fd00:77::/64) on the test's
    bridge, and the servers booted on it."""

    def __init__(self, driver, bridge, instances):
        self.driver = driver
        self.bridge = bridge
        self.make_instance = instances
        self.network_infos = {}
        self.booted = []

    def port(self, host: int, hybrid=False, **kwargs):
        kwargs.setdefault('mac', 'fa:16:3e:77:00:%02x' % host)
        return ovs_vif([
            subnet('10.77.0.0/24', ['10.77.0.%d' % host], '10.77.0.1',
                   dns=['10.77.0.53'],
                   routes=[('192.168.77.0/24', '10.77.0.254')]),
            subnet('fd00:77::/64', ['fd00:77::%d' % host], 'fd00:77::1'),
        ], bridge=self.bridge, hybrid=hybrid, **kwargs)

    def boot(self, image_meta, *ports, hostname=None):
        inst = self.make_instance(hostname=hostname or 'vm-%s' % uuid.uuid4(
        ).hex[:6])
        network_info = list(ports)
        self.network_infos[inst.uuid] = network_info
        self.booted.append(inst)
        meta = nova_objects.image_meta(image_id=image_meta.id,
                                       os_command_line=SHOW_NET_AT_START)
        self.driver.spawn(None, inst, meta, [], None, {},
                          network_info=network_info)
        return inst

    def destroy(self, inst):
        self.driver.destroy(None, inst, self.network_infos[inst.uuid])


def run(engine, inst, *cmd):
    code, out, err = engine.exec('nova-' + inst.uuid, cmd)
    assert code == 0, (cmd, out, err)
    return out.decode()


def netns_of(engine, inst) -> str:
    """The path of the instance's network namespace (its workload's)."""
    pid = engine.get('/containers/nova-%s/json' % inst.uuid).json()[
        'State']['Pid']
    return '/proc/%d/ns/net' % pid


def pings(engine, inst, address) -> bool:
    """The host's ping run in the instance's namespace: the instance's
    workload has no CAP_NET_RAW, and busybox's ping needs it."""
    done = subprocess.run(
        ['nsenter', '--net=' + netns_of(engine, inst), 'ping', '-c', '1',
         '-W', '2', address], capture_output=True)
    return done.returncode == 0


def serves(engine, server, client, address, timeout=10) -> bool:
    """A TCP connection from ``client`` to ``server`` on ``address``
    carries a mebibyte (on the userspace datapath: only if every segment
    left the client's namespace with its checksum)."""
    return traffic.tcp_passes(netns_of(engine, server),
                              netns_of(engine, client), address,
                              timeout=timeout)


def assert_checksums_in_software(engine, inst, ifname='eth0'):
    """The instance's end of its port fills in transmit checksums itself:
    what leaves it is complete for the userspace datapath."""
    features = traffic.tx_checksum_offload(netns_of(engine, inst), ifname)
    assert features and not any(features.values()), features


def eventually(check, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def reachable(engine, inst, address, tries=5) -> bool:
    # The userspace switch learns a new port's MAC on its first packets.
    return any(pings(engine, inst, address) for _ in range(tries))


@contextlib.contextmanager
def forwarding_on(*linux_bridges):
    """IPv4 across a Linux bridge passes iptables' FORWARD chain here
    (br_netfilter), whose policy dockerd sets to DROP: accept what
    crosses the test's own qbr bridges, as Neutron's agent would for
    the ports' security groups."""
    rules = [['FORWARD', '-i', b, '-o', b, '-j', 'ACCEPT']
             for b in linux_bridges]
    for rule in rules:
        subprocess.run(['iptables', '-I'] + rule, check=True)
    try:
        yield
    finally:
        for rule in rules:
            subprocess.run(['iptables', '-D'] + rule, check=True)


def seen_at_start(driver, inst, address, starts=1) -> int:
    """How many of the workload's first ``starts`` starts saw ``address``
    on eth0 at once (SHOW_NET_AT_START prints the addresses first thing,
    the loopback's among them, once the workload runs: a start returns
    before its output is in the log, so wait for that many)."""
    deadline = time.monotonic() + 10
    while True:
        lines = driver.get_console_output(None, inst).splitlines()
        printed = sum(1 for line in lines if 'inet 127.0.0.1/' in line)
        if printed >= starts or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return sum(1 for line in lines
               if 'eth0' in line and 'inet %s/' % address in line)


def ipv4_conf(link) -> dict:
    conf = pathlib.Path('/proc/sys/net/ipv4/conf', link)
    return {key: (conf / key).read_text().strip()
            for key in ('rp_filter', 'accept_local', 'forwarding',
                        'arp_ignore')}


def master_of(ifname):
    with IPRoute() as ipr:
        link, = ipr.get_links(ifname=ifname)
        master = link.get('IFLA_MASTER')
        return ipr.get_links(master)[0].get('ifname') if master else None


def assert_wired(engine, inst, port, ifname='eth0', host=None):
    link = run(engine, inst, 'ip', '-o', 'link', 'show', ifname)
    assert port['address'] in link
    assert 'mtu 1450' in link
    addresses = run(engine, inst, 'ip', '-o', 'addr', 'show', ifname)
    assert 'inet 10.77.0.%d/24' % host in addresses
    assert 'inet6 fd00:77::%d/64' % host in addresses


@pytest.mark.every_engine
def test_two_servers_see_their_ports_and_reach_each_other(
        net, engine, busybox_image):
    port_a, port_b = net.port(11), net.port(12)
    a = net.boot(busybox_image, port_a, hostname='web-a')
    b = net.boot(busybox_image, port_b, hostname='web-b')

    assert_wired(engine, a, port_a, host=11)
    assert_wired(engine, b, port_b, host=12)
    routes = run(engine, a, 'ip', 'route')
    assert 'default via 10.77.0.1 dev eth0' in routes
    assert '192.168.77.0/24 via 10.77.0.254 dev eth0' in routes
    assert 'default via fd00:77::1 dev eth0' in run(
        engine, a, 'ip', '-6', 'route')
    assert 'UP' in run(engine, a, 'ip', '-o', 'link', 'show', 'lo')
    assert 'nameserver 10.77.0.53' in run(engine, a, 'cat',
                                          '/etc/resolv.conf')
    assert run(engine, a, 'hostname').strip() == 'web-a'
    hosts = run(engine, a, 'cat', '/etc/hosts')
    assert '10.77.0.11\tweb-a' in hosts
    assert 'fd00:77::11\tweb-a' in hosts

    # The workload's first look already had its address.
    assert seen_at_start(net.driver, a, '10.77.0.11') == 1

    # Neutron's agent finds the port by its external ids.
    tap = 'tap' + port_a['id'][:11]
    assert tap in ovs_fixtures.ports(net.bridge)
    ids = ovs_fixtures.interface_external_ids(tap)
    assert ids == {'iface-id': port_a['id'], 'iface-status': 'active',
                   'attached-mac': port_a['address'], 'vm-uuid': a.uuid}

    for source, host in ((a, 12), (b, 11)):
        assert reachable(engine, source, '10.77.0.%d' % host)
        assert reachable(engine, source, 'fd00:77::%d' % host)


@pytest.mark.every_engine
def test_ports_survive_reboots_and_stop_start(net, engine, busybox_image):
    port_a, port_b = net.port(21), net.port(22)
    a = net.boot(busybox_image, port_a)
    b = net.boot(busybox_image, port_b)
    network_info = net.network_infos[a.uuid]

    for starts, restart in enumerate(('SOFT', 'HARD', 'stop/start'), 2):
        if restart == 'stop/start':
            net.driver.power_off(a, timeout=5)
            # A stopped server answers on none of its addresses (once the
            # kernel's asynchronous clean-up of its namespace is done).
            assert eventually(lambda: not pings(engine, b, '10.77.0.21'))
            net.driver.power_on(None, a, network_info)
        else:
            net.driver.reboot(None, a, network_info, restart)
        assert_wired(engine, a, port_a, host=21)
        assert reachable(engine, b, '10.77.0.21'), restart
        assert reachable(engine, a, 'fd00:77::22'), restart
        assert_checksums_in_software(engine, a)
        assert serves(engine, a, b, '10.77.0.21'), restart
        # Wired before the workload started again.
        assert seen_at_start(net.driver, a, '10.77.0.21',
                             starts) == starts, restart


def test_the_hybrid_plug_puts_the_port_behind_a_qbr_bridge(
        net, engine, busybox_image):
    port_a, port_b = net.port(31, hybrid=True), net.port(32, hybrid=True)
    a = net.boot(busybox_image, port_a)
    b = net.boot(busybox_image, port_b)
    qbr_a, qbr_b = ('qbr' + p['id'][:11] for p in (port_a, port_b))
    qvo_a = 'qvo' + port_a['id'][:11]

    assert_wired(engine, a, port_a, host=31)
    assert qvo_a in ovs_fixtures.ports(net.bridge)
    assert ovs_fixtures.interface_external_ids(qvo_a)['iface-id'] == \
        port_a['id']
    assert master_of('tap' + port_a['id'][:11]) == qbr_a
    with forwarding_on(qbr_a, qbr_b):
        assert reachable(engine, a, '10.77.0.32')
        assert reachable(engine, b, '10.77.0.31')
    assert reachable(engine, a, 'fd00:77::32')

    # The qbr bridge outlives the sandbox; the new tap joins it again.
    net.driver.power_off(a, timeout=5)
    net.driver.power_on(None, a, net.network_infos[a.uuid])
    assert master_of('tap' + port_a['id'][:11]) == qbr_a
    assert seen_at_start(net.driver, a, '10.77.0.31', 2) == 2
    assert reachable(engine, b, 'fd00:77::31')
    assert_checksums_in_software(engine, a)
    assert serves(engine, a, b, 'fd00:77::31')


@pytest.mark.every_engine
@pytest.mark.parametrize('hybrid', [False, True], ids=['ovs', 'hybrid'])
def test_tcp_and_udp_pass_between_servers(net, engine, busybox_image,
                                          hybrid):
    # The userspace datapath forwards what it reads from the veth as it
    # is: a segment whose checksum the sender left to offload arrives
    # broken and the receiver drops it, while ping passes.
    port_a, port_b = (net.port(h, hybrid=hybrid) for h in (131, 132))
    a = net.boot(busybox_image, port_a)
    b = net.boot(busybox_image, port_b)
    qbrs = [('qbr' + p['id'])[:14] for p in (port_a, port_b)] if hybrid \
        else []
    with forwarding_on(*qbrs):
        assert reachable(engine, a, '10.77.0.132')
        assert reachable(engine, a, 'fd00:77::132')
        for source, server, address in ((a, b, '10.77.0.132'),
                                        (b, a, '10.77.0.131'),
                                        (a, b, 'fd00:77::132')):
            assert serves(engine, server, source, address), address
        assert traffic.udp_passes(netns_of(engine, b), netns_of(engine, a),
                                  '10.77.0.132')
    for inst in (a, b):
        assert_checksums_in_software(engine, inst)


@pytest.mark.parametrize('hybrid', [False, True], ids=['ovs', 'hybrid'])
def test_an_instances_broadcasts_reach_no_host_socket(
        net, engine, busybox_image, hybrid):
    # The host end of a port (and, hybrid, its qbr and qvo) is an
    # interface of the host's own stack: without a strict reverse-path
    # check, a limited broadcast from the instance is delivered to every
    # host socket bound on 0.0.0.0 and the broadcast's port.
    port_a, port_b = (net.port(h, hybrid=hybrid) for h in (141, 142))
    a = net.boot(busybox_image, port_a)
    b = net.boot(busybox_image, port_b)
    qbrs = [('qbr' + p['id'])[:14] for p in (port_a, port_b)] if hybrid \
        else []
    # Nor does the host route what an instance sends to a link of its.
    for p in (port_a, port_b):
        links = [(prefix + p['id'])[:14] for prefix in (
            ('tap', 'qbr', 'qvb', 'qvo') if hybrid else ('tap',))]
        for link in links:
            assert ipv4_conf(link) == {
                'rp_filter': '1', 'accept_local': '0', 'forwarding': '0',
                'arp_ignore': '8'}, link
    with traffic.host_udp_socket() as host, forwarding_on(*qbrs):
        port = host.getsockname()[1]
        for address in ('255.255.255.255', '10.77.0.255'):
            # It does reach the other server on the network...
            assert traffic.broadcast_passes(
                netns_of(engine, b), netns_of(engine, a), address, port), \
                address
            # ...and never the host.
            assert traffic.received(host) == [], address


@pytest.mark.parametrize('path', ['reboot', 'plug_vifs'])
def test_a_port_wired_before_gets_what_wiring_sets_now(
        net, engine, busybox_image, path):
    port_a, port_b = net.port(151), net.port(152)
    a = net.boot(busybox_image, port_a)
    b = net.boot(busybox_image, port_b)
    tap = 'tap' + port_a['id'][:11]
    # As a driver before this one left the port: offload on inside, the
    # tap an ordinary host interface.
    traffic.set_tx_checksum_offload(netns_of(engine, a), 'eth0', True)
    for key, value in (('rp_filter', '0'), ('forwarding', '1')):
        (pathlib.Path('/proc/sys/net/ipv4/conf', tap) / key).write_text(
            value)
    assert reachable(engine, b, '10.77.0.151')
    assert not serves(engine, a, b, '10.77.0.151', timeout=3)

    network_info = net.network_infos[a.uuid]
    if path == 'reboot':
        # The namespace, and so the port, stays: it is not wired again.
        net.driver.reboot(None, a, network_info, 'SOFT')
    else:
        # nova-compute's start (an upgrade) on a running instance.
        net.driver.plug_vifs(a, network_info)
    assert_checksums_in_software(engine, a)
    assert ipv4_conf(tap) == {'rp_filter': '1', 'accept_local': '0',
                              'forwarding': '0', 'arp_ignore': '8'}
    assert serves(engine, a, b, '10.77.0.151')


@pytest.mark.parametrize('offload', [True, False])
def test_offload_is_turned_off_only_where_the_plan_says(
        privsep_in_process, leftovers, offload):
    from nova_docker.network import privileged

    namespace = netns_fixtures.TestNamespace()
    namespace.setUp()
    port_id = ports_fixtures.new_port_id()
    port = {'host_name': ('tap' + port_id)[:14],
            'peer_name': ('nd' + port_id)[:14], 'ifname': 'eth0',
            'mac': 'fa:16:3e:77:02:01', 'mtu': None, 'addresses': [],
            'routes': [], 'bridge': None, 'checksum_offload': offload}
    try:
        privileged.add_port(namespace.path, port)
        features = traffic.tx_checksum_offload(namespace.path, 'eth0')
        assert features.get('tx-checksum-ip-generic') is offload, features
        if not offload:
            assert not any(features.values()), features
    finally:
        privileged.remove_port(port['host_name'])
        namespace.cleanUp()


def test_setting_a_port_again_skips_a_host_link_gone(
        privsep_in_process, leftovers):
    # A reboot keeps the namespace: a port whose qbr someone removed must
    # not keep its instance from ever starting again.
    from nova_docker.network import privileged

    namespace = netns_fixtures.TestNamespace()
    namespace.setUp()
    port_id = ports_fixtures.new_port_id()
    tap = ('tap' + port_id)[:14]
    port = {'host_name': tap, 'peer_name': ('nd' + port_id)[:14],
            'ifname': 'eth0', 'mac': 'fa:16:3e:77:02:02', 'mtu': None,
            'addresses': [], 'routes': [], 'bridge': None,
            'checksum_offload': False}
    try:
        privileged.add_port(namespace.path, port)
        traffic.set_tx_checksum_offload(namespace.path, 'eth0', True)
        gone = dict(port, host_links=[tap, ('qbr' + port_id)[:14]])
        privileged.refresh_port(namespace.path, gone, 'eth0')
        assert ipv4_conf(tap)['rp_filter'] == '1'
        features = traffic.tx_checksum_offload(namespace.path, 'eth0')
        assert not any(features.values()), features
    finally:
        privileged.remove_port(tap)
        namespace.cleanUp()


def test_hot_attach_and_detach(net, engine, busybox_image):
    port_a, port_b = net.port(41), net.port(42)
    a = net.boot(busybox_image, port_a)
    b = net.boot(busybox_image)
    assert 'eth0' not in run(engine, b, 'ip', '-o', 'link')

    net.driver.attach_interface(None, b, busybox_image, port_b)
    net.network_infos[b.uuid] = [port_b]
    assert_wired(engine, b, port_b, ifname='eth0', host=42)
    assert reachable(engine, a, '10.77.0.42')
    assert_checksums_in_software(engine, b)
    assert serves(engine, b, a, '10.77.0.42')

    extra = net.port(43, mac='fa:16:3e:77:01:43')
    net.driver.attach_interface(None, a, busybox_image, extra)
    assert_wired(engine, a, extra, ifname='eth1', host=43)

    net.driver.detach_interface(None, a, extra)
    assert 'eth1' not in run(engine, a, 'ip', '-o', 'link')
    assert 'tap' + extra['id'][:11] not in ovs_fixtures.ports(net.bridge)


def test_destroy_leaves_no_veth_port_bridge_or_namespace(
        net, engine, busybox_image):
    plain, hybrid = net.port(51), net.port(52, hybrid=True)
    a = net.boot(busybox_image, plain, hybrid)
    pid = engine.get('/containers/nova-%s-sandbox/json' % a.uuid).json()[
        'State']['Pid']
    net.destroy(a)
    names = host_net.snapshot().links
    for prefix in ('tap', 'qbr', 'qvb', 'qvo', 'nd'):
        for port in (plain, hybrid):
            assert (prefix + port['id'])[:14] not in names
    assert ovs_fixtures.ports(net.bridge) == []
    assert not os.path.exists('/proc/%d' % pid)


@pytest.mark.parametrize('hybrid', [False, True])
def test_links_a_cut_short_wiring_left_are_replaced(
        net, engine, busybox_image, hybrid):
    port = net.port(55, hybrid=hybrid)
    with IPRoute() as ipr:
        ipr.link('add', ifname='tap' + port['id'][:11], kind='veth',
                 peer={'ifname': 'nd' + port['id'][:12]})
    a = net.boot(busybox_image, port)
    assert_wired(engine, a, port, host=55)


@pytest.mark.parametrize('bad', ['route', 'mtu'])
def test_a_port_the_kernel_refuses_leaves_nothing(
        net, engine, busybox_image, bad):
    good = net.port(61)
    if bad == 'route':
        refused = ovs_vif([subnet('10.78.0.0/24', ['10.78.0.5'], None,
                                  routes=[('192.168.9.0/24', '172.31.0.1')])],
                          bridge=net.bridge, mac='fa:16:3e:78:00:05')
    else:
        refused = net.port(62, mtu=100000)
    with pytest.raises(docker_exception.PortWiringFailed) as caught:
        net.boot(busybox_image, good, refused)
    assert refused['id'] in str(caught.value)
    names = {n.lstrip('/') for c in engine.containers()
             for n in c.get('Names') or []}
    # This boot's own: other runs share the engine.
    assert 'nova-%s-sandbox' % net.booted[-1].uuid not in names
    assert ovs_fixtures.ports(net.bridge) == []
    # (HostNetLeftovers checks every veth end and bridge at clean-up.)


def test_a_port_of_another_kind_is_refused_before_anything_is_made(
        net, engine, busybox_image):
    before = len(engine.containers())
    for kind in ({'vif_type': 'vhostuser'}, {'vnic_type': 'direct'}):
        with pytest.raises(exception.InvalidInput) as caught:
            net.boot(busybox_image, net.port(71, **kind))
        assert next(iter(kind.values())) in str(caught.value)
    assert len(engine.containers()) == before


def test_a_tcp_engine_refuses_ports(net, busybox_image):
    CONF.set_override('host_url', 'tcp://127.0.0.1:2376', group='docker')
    try:
        with pytest.raises(docker_exception.PortsNeedLocalEngine):
            net.boot(busybox_image, net.port(81))
    finally:
        CONF.clear_override('host_url', group='docker')


class RecordingVirtAPI:
    """nova's virtapi as the compute manager gives it, for the wait on
    Neutron's events: records what was waited for and what was already
    done when the wait ended; ``time_out`` makes Neutron stay silent."""

    def __init__(self, engine, time_out=False):
        self.engine = engine
        self.time_out = time_out
        self.waited = []
        self.at_end = None

    @contextlib.contextmanager
    def wait_for_instance_event(self, instance, events, timeout=300,
                                error_callback=None):
        self.waited.append(list(events))
        yield
        workload = self.engine.get('/containers/nova-%s/json'
                                   % instance.uuid).json()
        self.at_end = {'workload_running': workload['State']['Running']}
        if self.time_out:
            raise exception.InstanceEventTimeout()


def test_the_workload_waits_for_neutrons_vif_plugged_event(
        net, engine, busybox_image):
    virtapi = net.driver.virtapi = RecordingVirtAPI(engine)
    down = net.port(91, active=False)
    a = net.boot(busybox_image, down, net.port(92))
    # Only the port Neutron reported down is waited for; its OVS port
    # existed before the wait ended, the workload started after it.
    assert virtapi.waited == [[('network-vif-plugged', down['id'])]]
    assert virtapi.at_end == {'workload_running': False}
    assert seen_at_start(net.driver, a, '10.77.0.91') == 1


@pytest.mark.parametrize('fatal', [True, False])
def test_neutron_silent_fails_the_boot_only_when_fatal(
        net, engine, busybox_image, fatal):
    net.driver.virtapi = RecordingVirtAPI(engine, time_out=True)
    docker_conf.CONF.set_override('vif_plugging_is_fatal', fatal)
    try:
        if fatal:
            with pytest.raises(exception.VirtualInterfaceCreateException):
                net.boot(busybox_image, net.port(93, active=False))
            assert ovs_fixtures.ports(net.bridge) == []
            assert not [c for c in engine.containers()
                        if any(n.startswith('/nova-') for n in c['Names'])
                        and c['Labels'].get(
                            'org.openstack.nova.sandbox-of') ==
                        net.booted[-1].uuid]
        else:
            a = net.boot(busybox_image, net.port(93, active=False))
            assert seen_at_start(net.driver, a, '10.77.0.93') == 1
    finally:
        docker_conf.CONF.clear_override('vif_plugging_is_fatal')


def test_an_engine_restart_rewires_the_same_ports(
        private_engine, privsep_in_process, bridge, leftovers):
    from nova_docker import driver as driver_mod

    engine = private_engine()
    api = engine.api()
    CONF.set_override('host_url', engine.url, 'docker')
    net = None
    try:
        drv = driver_mod.DockerDriver(virtapi=None)
        drv.init_host('test-node')
        meta, _ref = private_fixtures.load_busybox(engine, SHOW_NET_AT_START)
        net = Network(drv, bridge.name, lambda **kw: nova_objects.instance(
            **kw))
        port_a, port_b = net.port(101), net.port(102)
        a = net.boot(meta, port_a)
        b = net.boot(meta, port_b)

        engine.stop()  # no live-restore: every container stops
        engine.start()
        for inst in (a, b):
            assert drv.get_info(inst).state == power_state.SHUTDOWN
            drv.resume_state_on_host_boot(None, inst,
                                          net.network_infos[inst.uuid], None)
        assert_wired(api, a, port_a, host=101)
        assert reachable(api, a, '10.77.0.102')
        assert reachable(api, b, 'fd00:77::101')
        assert_checksums_in_software(api, a)
        assert serves(api, a, b, '10.77.0.101')
        assert seen_at_start(drv, a, '10.77.0.101', 2) == 2
    finally:
        if net:
            for inst in net.booted:
                net.destroy(inst)
        api.close()
        CONF.clear_override('host_url', 'docker')


def helper_processes(context: str) -> list[int]:
    """Pids of privsep-helper daemons of ``context`` (its python path)."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if any(a.endswith(b'privsep-helper') for a in argv) and \
                context.encode() in argv:
            found.append(int(pid))
    return found


def test_the_privileged_work_runs_in_privsep_helpers(
        driver, bridge, leftovers, instances, engine, busybox_image, ovs):
    # As on a compute host where nova-compute runs as root: the helper
    # command an operator sets (README), no sudo, no in-process shortcut.
    from vif_plug_ovs import privsep as ovs_privsep

    from nova_docker.network import privileged

    helper = os.path.join(sys.prefix, 'bin', 'privsep-helper')
    contexts = {'nova_docker_privileged': privileged.net_admin,
                'vif_plug_ovs_privileged': ovs_privsep.vif_plug}
    for group in contexts:
        CONF.set_override('helper_command', helper, group=group)
    net = Network(driver, bridge.name, instances)
    try:
        port_a = net.port(111)
        a = net.boot(busybox_image, port_a)
        assert_wired(engine, a, port_a, host=111)
        assert helper_processes('nova_docker.network.privileged.net_admin')
        net.destroy(a)
    finally:
        for group, context in contexts.items():
            context.stop()
            CONF.clear_override('helper_command', group=group)


def test_a_namespace_that_cannot_be_entered_is_a_wiring_failure(
        net, busybox_image):
    from nova_docker.network import plan as network_plan

    port = net.port(121)
    inst = nova_objects.instance()
    plan = network_plan.build([port], 'vm')
    with pytest.raises(docker_exception.PortWiringFailed) as caught:
        wiring.PortWiring().ensure_wired(inst, plan, '/proc/0/ns/net')
    assert port['id'] in str(caught.value)
    assert '/proc/0/ns/net' in str(caught.value)
