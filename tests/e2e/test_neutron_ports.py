"""Neutron ports through Nova's API, wired into real containers on real OVS.

Each test runs its own all-in-one cloud (``tests.e2e.cloud``) with
:class:`tests.e2e.cloud.OVSPortsMixin`: nova's ``NeutronFixture`` answers
for Neutron, and the ports the servers boot with (``networks: [{'port':
<id>}]``) are bound on an Open vSwitch bridge of the test's own with the
userspace datapath. What the API says about a server is checked against
what its workload container shows (``docker exec ip -o addr``), what the
bridge holds and what the host's links are; reachability is pinged between
two servers on nova's ``network_1`` (192.168.1.0/24, fd37:44e8:ad06::/64),
so no packet leaves the test's bridge.
"""

import ipaddress
import re
import subprocess
import time

from nova.tests import fixtures as nova_fixtures

from tests.e2e import cloud
from tests.fixtures import host_net
from tests.fixtures import ovs as ovs_fixtures

NEUTRON = nova_fixtures.NeutronFixture
V4_SUBNET = NEUTRON.subnet_1
V6_SUBNET = NEUTRON.subnet_ipv6_1
NETWORK = NEUTRON.network_1  # 'private', mtu 1450

# ``ip -o addr`` (busybox and iproute2): index, name, family, address.
ADDR_LINE = re.compile(r'^\d+:\s+(?P<ifname>[^\s@]+)\s+(?P<family>inet6?)\s+'
                       r'(?P<address>[0-9a-f.:]+)/(?P<prefix>\d+)'
                       r'.*?\sscope\s+(?P<scope>\w+)')
LINK_LINE = re.compile(r'^\d+:\s+(?P<ifname>[^\s:@]+)[@:].*?\smtu\s+'
                       r'(?P<mtu>\d+).*?link/ether\s+(?P<mac>[0-9a-f:]{17})')


def fixed_ips(host):
    """One address of each of network_1's subnets: 192.168.1.<host> and
    fd37:44e8:ad06::<host>."""
    return [{'ip_address': '192.168.1.%d' % host,
             'subnet_id': V4_SUBNET['id']},
            {'ip_address': 'fd37:44e8:ad06::%d' % host,
             'subnet_id': V6_SUBNET['id']}]


def prefixlen(subnet):
    return ipaddress.ip_network(subnet['cidr'], strict=False).prefixlen


PREFIXES = {V4_SUBNET['id']: prefixlen(V4_SUBNET),
            V6_SUBNET['id']: prefixlen(V6_SUBNET)}


def tap(port):
    return 'tap' + port['id'][:11]


class TestNeutronPorts(cloud.OVSPortsMixin, cloud.DockerCloudTestCase):

    def setUp(self):
        super().setUp()
        self.image = self.upload_busybox()
        # network_1's two ports of nova's fixture, dual-stack here.
        self.port_a = self.bind_on_bridge(NEUTRON.port_1,
                                          fixed_ips=fixed_ips(3))
        self.port_b = self.bind_on_bridge(NEUTRON.port_2,
                                          fixed_ips=fixed_ips(30))

    # -- helpers ------------------------------------------------------------

    def boot_on(self, name, port):
        return self.boot(name, self.image['id'],
                         networks=[{'port': port['id']}])

    def run_inside(self, server, *cmd):
        """``docker exec nova-<id> cmd...`` in the workload; its stdout."""
        code, out, err = self.engine.exec('nova-' + server['id'], cmd)
        self.assertEqual(0, code, '%s in %s: %r %r' % (
            cmd, server['id'], out, err))
        return out.decode()

    def addresses_inside(self, server):
        """``{ifname: {'address/prefixlen', ...}}`` of the workload's
        global addresses (not lo's, not IPv6 link-local ones)."""
        found = {}
        for line in self.run_inside(server, 'ip', '-o', 'addr').splitlines():
            m = ADDR_LINE.match(line)
            if not m:
                self.assertNotIn('inet', line, 'unparsed line')
                continue
            if m['ifname'] == 'lo' or m['scope'] == 'link':
                continue
            found.setdefault(m['ifname'], set()).add(
                '%s/%s' % (m['address'], m['prefix']))
        return found

    def ethernet_links_inside(self, server):
        """``{ifname: (mac, mtu)}`` of the workload's Ethernet links."""
        found = {}
        for line in self.run_inside(server, 'ip', '-o', 'link').splitlines():
            m = LINK_LINE.match(line)
            if m:
                found[m['ifname']] = (m['mac'], int(m['mtu']))
        return found

    def state(self, name):
        """The engine's ``State`` of container ``name``."""
        resp = self.engine.get('/containers/%s/json' % name)
        resp.raise_for_status()
        return resp.json()['State']

    def netns_pid(self, server):
        return self.state('nova-' + server['id'])['Pid']

    def pings(self, server, address, wait=2):
        """One ping from the server's namespace, answered within ``wait``
        seconds: the host's ping entered into the workload's netns
        (busybox's ping in the container lacks CAP_NET_RAW)."""
        done = subprocess.run(
            ['nsenter', '--net=/proc/%d/ns/net' % self.netns_pid(server),
             'ping', '-c', '1', '-W', str(wait), address],
            capture_output=True, timeout=30)
        return done.returncode == 0

    def assert_unreachable(self, server, address):
        # Nothing answers on this bridge once the port is gone: a second
        # is plenty for an answer that comes at all.
        self.assertFalse(self.pings(server, address, wait=1),
                         '%s still reaches %s' % (server['name'], address))

    def wait_link_gone(self, name, timeout=5):
        """Wait for the host's link ``name`` to go; fail if it stays.

        The kernel deletes a dead namespace's veths asynchronously: when
        the engine reports a sandbox stopped, its port's veth may still be
        there for a moment (milliseconds on an idle host).
        """
        deadline = time.monotonic() + timeout
        while name in host_net.snapshot().links:
            if time.monotonic() > deadline:
                self.fail('link %s still on the host after %s s' % (
                    name, timeout))
            time.sleep(0.05)

    def assert_reaches(self, server, address, tries=5):
        # The userspace switch learns a new port's MAC on its first
        # packets: the first ping may go unanswered.
        for _ in range(tries):
            if self.pings(server, address):
                return
        self.fail('%s does not reach %s in %d pings' % (
            server['name'], address, tries))

    def sandboxes_of(self, server):
        return [c for c in self.engine.containers()
                if (c.get('Labels') or {}).get(cloud.SANDBOX_LABEL) ==
                server['id']]

    def assert_port_inside(self, server, port):
        """What the API shows of ``server``'s one port is the Neutron
        port, and it is what the workload has as eth0; the port's tap is
        on the test's bridge with Neutron's external ids."""
        server = self.show(server)
        want_ips = {ip['ip_address'] for ip in port['fixed_ips']}
        # The API's view: GET /servers/{id} addresses and os-interface.
        self.assertEqual([NETWORK['name']], list(server['addresses']))
        shown = server['addresses'][NETWORK['name']]
        self.assertEqual(want_ips, {a['addr'] for a in shown})
        self.assertEqual({port['mac_address']},
                         {a['OS-EXT-IPS-MAC:mac_addr'] for a in shown})
        self.assertEqual({'fixed'}, {a['OS-EXT-IPS:type'] for a in shown})
        interfaces = self.api.get_port_interfaces(server['id'])
        self.assertEqual([(port['id'], port['mac_address'], NETWORK['id'])],
                         [(i['port_id'], i['mac_addr'], i['net_id'])
                          for i in interfaces])

        # The workload's view: exactly the API's addresses, with the
        # subnets' prefixes, on eth0 with the port's MAC and the network's
        # MTU; no other Ethernet link.
        self.assertEqual(
            {'eth0': {'%s/%d' % (ip['ip_address'], PREFIXES[ip['subnet_id']])
                      for ip in port['fixed_ips']}},
            self.addresses_inside(server))
        self.assertEqual({'eth0': (port['mac_address'], NETWORK['mtu'])},
                         self.ethernet_links_inside(server))

        # The switch's view: Neutron's agent finds the port by these.
        self.assertIn(tap(port), self.bridge.ports())
        ids = ovs_fixtures.interface_external_ids(tap(port))
        self.assertEqual(
            (port['id'], port['mac_address'], server['id']),
            (ids.get('iface-id'), ids.get('attached-mac'),
             ids.get('vm-uuid')))
        return server

    def assert_gone(self, server, port):
        """Neither the server's containers nor its port are left."""
        self.assertEqual([], self.containers_of(server['id']))
        self.assertEqual([], self.sandboxes_of(server))
        self.assertNotIn(tap(port), self.bridge.ports())
        self.assertNotIn(tap(port), host_net.snapshot().links)

    # -- tests --------------------------------------------------------------

    def test_ports_are_inside_and_the_servers_reach_each_other(self):
        a = self.boot_on('web-a', self.port_a)
        b = self.boot_on('web-b', self.port_b)
        for server, port in ((a, self.port_a), (b, self.port_b)):
            self.assert_port_inside(server, port)
        self.assertEqual({tap(self.port_a), tap(self.port_b)},
                         set(self.bridge.ports()))

        for source, target in ((a, 30), (b, 3)):
            self.assert_reaches(source, '192.168.1.%d' % target)
            self.assert_reaches(source, 'fd37:44e8:ad06::%d' % target)

        # Delete one: its port leaves the bridge and the host, and the
        # other server no longer reaches its address.
        self.delete(b)
        self.assert_gone(b, self.port_b)
        self.assert_unreachable(a, '192.168.1.30')
        self.assertEqual([tap(self.port_a)], self.bridge.ports())
        self.assert_port_inside(a, self.port_a)

        self.delete(a)
        self.assert_gone(a, self.port_a)
        self.assertEqual([], self.bridge.ports())
        # (At clean-up HostNetLeftovers looks again for every tap, nd
        # link and OVS port made during the test; EngineClean for every
        # workload and sandbox.)

    def test_stop_start_and_reboot_keep_the_port(self):
        a = self.boot_on('web-a', self.port_a)
        b = self.boot_on('web-b', self.port_b)
        self.assert_reaches(b, '192.168.1.3')

        # A stopped server's namespace is gone, its veth with it: it
        # answers on none of its addresses.
        self.action(a, {'os-stop': None})
        self.wait_for(a, status='SHUTOFF')
        self.assertEqual([], [c for c in self.sandboxes_of(a)
                              if c['State'] == 'running'])
        self.wait_link_gone(tap(self.port_a))
        self.assert_unreachable(b, '192.168.1.3')

        # Started again: the same port, wired anew before the workload
        # runs.
        self.action(a, {'os-start': None})
        self.wait_for(a, status='ACTIVE')
        self.assert_port_inside(a, self.port_a)
        self.assert_reaches(b, '192.168.1.3')
        self.assert_reaches(a, 'fd37:44e8:ad06::30')

        # A reboot restarts the workload only: the namespace (the
        # sandbox's process) and the port stay.
        sandbox_pid = self.state('nova-%s-sandbox' % a['id'])['Pid']
        started = self.state('nova-' + a['id'])['StartedAt']
        self.action(a, {'reboot': {'type': 'SOFT'}})
        self.wait_for(a, status='ACTIVE')
        self.assertNotEqual(started,
                            self.state('nova-' + a['id'])['StartedAt'])
        self.assertEqual(sandbox_pid,
                         self.state('nova-%s-sandbox' % a['id'])['Pid'])
        self.assert_port_inside(a, self.port_a)
        self.assert_reaches(b, 'fd37:44e8:ad06::3')

        # Deleted while stopped: no OVS port stays (not even the row a
        # dead veth may leave in ovsdb).
        self.action(a, {'os-stop': None})
        self.wait_for(a, status='SHUTOFF')
        self.delete(a)
        self.assert_gone(a, self.port_a)
        self.assertEqual([tap(self.port_b)], self.bridge.ports())
        self.delete(b)
        self.assert_gone(b, self.port_b)
        self.assertEqual([], self.bridge.ports())
