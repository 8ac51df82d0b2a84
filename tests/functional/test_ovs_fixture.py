"""Tests of the Open vSwitch, netns and host-network test fixtures.

As root with Open vSwitch running (tools/ensure-ovs.sh); they skip
otherwise, or fail when ``CI`` is set.  The addresses are in subnets no
host address or route overlaps (:func:`netns.unused_subnet`), on links
the tests make: the namespaces have no route beyond their own bridge,
and the host ends of their veths carry no IP traffic of the host's.
"""

import contextlib
import socket
import uuid

import pytest

from tests.fixtures import host_net
from tests.fixtures import netns as netns_fx
from tests.fixtures import ovs as ovs_fx


@pytest.fixture
def ovs():
    ovs_fx.require_ovs()


def _hex(n=6):
    return uuid.uuid4().hex[:n]


def _mac():
    return 'fa:16:3e:%s:%s:%s' % tuple(
        uuid.uuid4().hex[i:i + 2] for i in (0, 2, 4))


def _absent(names):
    """Which of ``names`` (links, netns, OVS bridges/ports) the host still
    has."""
    now = host_net.snapshot()
    everything = (now.links | now.netns | now.ovs_bridges | now.ovs_ports)
    return sorted(set(names) & everything)


def _neighbours(ns):
    """``{address: mac}`` of the namespace's neighbour tables."""
    with ns.iproute() as ipr:
        return {n.get('dst'): n.get('lladdr')
                for family in (socket.AF_INET, socket.AF_INET6)
                for n in ipr.get_neighbours(family=family)
                if n.get('lladdr')}


def test_two_namespaces_on_a_bridge_ping_both_ways(ovs):
    tag = _hex()
    taps = ['tap%sa' % tag, 'tap%sb' % tag]
    net4 = netns_fx.unused_subnet(4)
    net6 = netns_fx.unused_subnet(6)
    v4 = [str(net4[1]), str(net4[2])]
    v6 = [str(net6[1]), str(net6[2])]
    made = list(taps)
    with contextlib.ExitStack() as stack:
        stack.enter_context(host_net.HostNetLeftovers(only=taps))
        br = stack.enter_context(ovs_fx.OVSBridge())
        made.append(br.name)
        assert br.name.startswith('brt-') and len(br.name) == 10
        assert ovs_fx.bridge_exists(br.name)
        assert ovs_fx.vsctl('get', 'Bridge', br.name,
                            'datapath_type').strip() == 'netdev'
        nss = [stack.enter_context(netns_fx.TestNamespace())
               for _ in taps]
        made += [ns.name for ns in nss]
        macs = []
        for i, (ns, tap) in enumerate(zip(nss, taps, strict=True)):
            mac = _mac()
            macs.append(mac)
            netns_fx.veth_into(ns, tap, 'eth0', mac=mac, mtu=1400,
                               addrs=['%s/24' % v4[i], '%s/64' % v6[i]])
            br.add_port(tap, external_ids={'iface-id': 'port-%d' % i,
                                           'attached-mac': mac})
        assert sorted(br.ports()) == sorted(taps)
        assert ovs_fx.interface_external_ids(taps[1]) == {
            'iface-id': 'port-1', 'attached-mac': macs[1]}
        with nss[0].iproute() as ipr:
            (eth0,) = ipr.link('get', ifname='eth0')
        assert eth0.get('address') == macs[0]
        assert eth0.get('mtu') == 1400

        for src, dst in ((0, 1), (1, 0)):
            assert netns_fx.ping(nss[src], v4[dst]), (src, v4[dst])
            assert netns_fx.ping(nss[src], v6[dst]), (src, v6[dst])

        # The peers answered, not the host (which answers ARP on any
        # link for its own addresses).
        for src, dst in ((0, 1), (1, 0)):
            assert _neighbours(nss[src])[v4[dst]] == macs[dst]
            assert _neighbours(nss[src])[v6[dst]] == macs[dst]

        # The pings went through the bridge: off it, they fail.
        ovs_fx.vsctl('del-port', br.name, taps[1])
        assert not netns_fx.ping(nss[0], v4[1], timeout=1)
        assert not netns_fx.ping(nss[0], v6[1], timeout=1)
        br.add_port(taps[1])
        assert netns_fx.ping(nss[0], v4[1], count=3)
    assert not ovs_fx.bridge_exists(made[2])
    assert _absent(made) == []


def test_leftovers_reports_and_removes_a_tap_and_its_ovs_port(ovs):
    tap = 'tap' + _hex(8)
    with contextlib.ExitStack() as stack:
        stack.enter_context(host_net.HostNetLeftovers(only=[tap]))
        br = stack.enter_context(ovs_fx.OVSBridge())
        ns = stack.enter_context(netns_fx.TestNamespace())

        inner = host_net.HostNetLeftovers(settle=1, only=[tap])
        inner.setUp()
        netns_fx.veth_into(ns, tap, 'eth0')
        br.add_port(tap)
        assert tap in host_net.snapshot().links
        with pytest.raises(AssertionError) as caught:
            inner.cleanUp()
        msg = str(caught.value)
        assert 'links: %s' % tap in msg, msg
        assert 'ovs_ports: %s' % tap in msg, msg
        # Removed, so the outer check (and later tests) find it clean.
        assert tap not in host_net.snapshot().links
        assert br.ports() == []
        assert ns.links() == ['lo']  # the veth's peer went with it


def test_leftovers_passes_when_all_is_cleaned_up(ovs):
    tap = 'tap' + _hex(8)
    with netns_fx.TestNamespace() as ns, ovs_fx.OVSBridge() as br:
        leftovers = host_net.HostNetLeftovers(settle=1, only=[tap])
        leftovers.setUp()
        netns_fx.veth_into(ns, tap, 'eth0')
        br.add_port(tap)
        ovs_fx.vsctl('del-port', br.name, tap)
        with ns.iproute() as ipr:
            ipr.link('del', ifname='eth0')
        leftovers.cleanUp()  # raises if it saw anything
    assert _absent([tap, ns.name, br.name]) == []


def test_leftovers_ignores_unprefixed_links_unless_match_all(ovs):
    name = 'zz' + _hex(8)
    with netns_fx.TestNamespace() as ns:
        lenient = host_net.HostNetLeftovers(settle=0, only=[name])
        strict = host_net.HostNetLeftovers(settle=0, match_all=True,
                                           only=[name])
        lenient.setUp()
        strict.setUp()
        netns_fx.veth_into(ns, name, 'eth0')
        with pytest.raises(AssertionError) as caught:
            strict.cleanUp()
        assert 'links: %s' % name in str(caught.value)
        assert name not in host_net.snapshot().links
        netns_fx.veth_into(ns, name, 'eth0')
        try:
            lenient.cleanUp()  # not a driver-looking name: no failure
            assert name in host_net.snapshot().links
        finally:
            with ns.iproute() as ipr:
                ipr.link('del', ifname='eth0')
    assert _absent([name, ns.name]) == []


def test_require_ovs_skips_or_fails_under_ci(monkeypatch):
    monkeypatch.setattr(ovs_fx, 'ovs_answers', lambda timeout=5: False)
    monkeypatch.delenv('CI', raising=False)
    with pytest.raises(pytest.skip.Exception):
        ovs_fx.require_ovs()
    monkeypatch.setenv('CI', '1')
    with pytest.raises(pytest.fail.Exception):
        ovs_fx.require_ovs()
