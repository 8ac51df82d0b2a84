"""The privileged half of port wiring: links, addresses and routes through
pyroute2, run by oslo.privsep's helper so that nova-compute itself needs no
capability beyond the engine socket.

Every entrypoint takes plain data (a dict per port, a namespace path) since
privsep sends its arguments over a socket, and undoes its own work when it
fails half-way: a veth is deleted by deleting either end, so one delete
removes what an ``add_port`` made wherever its peer went.
"""

import errno
import ipaddress
import os
import socket

from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context
from pyroute2 import IPRoute
from pyroute2.ethtool import Ethtool
from pyroute2 import NetNS
from pyroute2 import netns as pyroute2_netns
from pyroute2.netlink import exceptions as netlink_exceptions
from pyroute2.netlink.rtnl import ifaddrmsg
from pyroute2 import process as pyroute2_process

from nova_docker import conf as docker_conf

# CAP_SYS_ADMIN to enter a namespace, CAP_SYS_PTRACE to open another
# process's /proc/<pid>/ns/net (the container's processes hold capabilities
# the helper does not), CAP_NET_ADMIN for the links themselves.
net_admin = priv_context.PrivContext(
    'nova_docker',
    cfg_section=docker_conf.PRIVSEP_GROUP,
    pypath=__name__ + '.net_admin',
    capabilities=[caps.CAP_NET_ADMIN, caps.CAP_SYS_ADMIN,
                  caps.CAP_SYS_PTRACE],
)

# Seconds the child that writes a sysctl inside a namespace may take.
SYSCTL_TIMEOUT = 10
# What makes a link of the host that carries an instance's frames (a
# port's veth end, the hybrid plug's qbr, qvb and qvo) a wire instead of
# an interface of the host's own: the host answers no ARP through it,
# gives it no IPv6 address, never routes what arrives on it, and takes in
# nothing whose source it would not route back out of it (strict
# reverse-path filter: every instance address, so also a broadcast to
# 255.255.255.255 that would otherwise reach each host socket bound on
# 0.0.0.0) nor one of its own addresses as a source. The kernel takes the
# larger of rp_filter's 'all' value and this one (an 'all' of 2, loose,
# wins) and accept_local of 'all' or this one: the README says so.
WIRE_SYSCTLS = (
    ('ipv4', 'arp_ignore', '8'),
    ('ipv4', 'rp_filter', '1'),
    ('ipv4', 'accept_local', '0'),
    ('ipv4', 'forwarding', '0'),
    ('ipv6', 'disable_ipv6', '1'),
)
# ethtool's transmit checksum features (``ethtool -K DEV tx off`` turns
# these off; the kernel then drops the segmentation offloads that need
# them by itself).
TX_CHECKSUM = 'tx-checksum'


def _netns(path: str) -> NetNS:
    # flags=0: never create a namespace, only enter the container's.
    return NetNS(path, flags=0)


def _index(ipr, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


@net_admin.entrypoint
def add_port(netns_path: str, port: dict) -> None:
    """A veth for ``port``: ``host_name`` stays here (up, on
    ``port['bridge']`` when there is one), the peer goes into the namespace
    at ``netns_path`` as ``ifname`` with the port's MAC, MTU, addresses and
    routes. Nothing is left when it fails."""
    with IPRoute() as ipr:
        # The names are the port's own: a link that has them is what an
        # earlier wiring left when it was cut short (nova-compute died).
        _delete_quietly(ipr, port['host_name'])
        _delete_quietly(ipr, port['peer_name'])
        ipr.link('add', ifname=port['host_name'], kind='veth',
                 peer={'ifname': port['peer_name']})
        try:
            _host_end(ipr, port)
            if not port.get('checksum_offload', True):
                # The instance's end is the one that transmits what the
                # instance sends; set while it is still in this namespace
                # (the features move with it).
                _checksums_in_software(port['peer_name'])
            ipr.link('set', index=_index(ipr, port['peer_name']),
                     net_ns_fd=netns_path)
            _container_end(netns_path, port)
        except BaseException:
            _delete_quietly(ipr, port['host_name'])
            raise


def _host_end(ipr, port: dict) -> None:
    index = _index(ipr, port['host_name'])
    # Before the host end is up (the hybrid plug's links os-vif made
    # already are).
    for link in port.get('host_links') or [port['host_name']]:
        _make_wire(link)
    if port.get('mtu'):
        ipr.link('set', index=index, mtu=port['mtu'])
        ipr.link('set', index=_index(ipr, port['peer_name']),
                 mtu=port['mtu'])
    if port.get('bridge'):
        ipr.link('set', index=index, master=_index(ipr, port['bridge']))
    ipr.link('set', index=index, state='up')


@net_admin.entrypoint
def refresh_port(netns_path: str, port: dict, ifname: str) -> None:
    """Set again on a port wired before, whose instance end is ``ifname``
    inside ``netns_path``, what ``add_port`` sets now: a port an older
    driver wired (an upgrade) gets it when nova-compute starts
    (plug_vifs) or the instance reboots, without being rewired. A host
    link gone meanwhile is skipped: the port is broken whatever is set
    here, and a stop/start wires it anew."""
    for link in port.get('host_links') or [port['host_name']]:
        if os.path.isdir('/proc/sys/net/ipv4/conf/' + link):
            _make_wire(link)
    if not port.get('checksum_offload', True):
        with pyroute2_process.ChildProcess(
                target=_checksums_in_software_inside,
                args=[netns_path, ifname]) as child:
            child.communicate(timeout=SYSCTL_TIMEOUT)


def _checksums_in_software_inside(netns_path: str, ifname: str) -> bytes:
    # A forked child, as _write_sysctl: ethtool's ioctl socket belongs to
    # the namespace it is opened in.
    pyroute2_netns.setns(netns_path, flags=0, fork=False)
    _checksums_in_software(ifname)
    return b''


def _make_wire(ifname: str) -> None:
    for family, key, value in WIRE_SYSCTLS:
        _write_host_sysctl('net/%s/conf/%s/%s' % (family, ifname, key),
                           value)


def _tx_checksums_on(ethtool, ifname: str) -> dict:
    features = ethtool.get_features(ifname).features
    return {name: feature for name, feature in features.items()
            if name.startswith(TX_CHECKSUM) and feature.enable}


def _checksums_in_software(ifname: str) -> None:
    """``ifname`` fills in every TCP/UDP/SCTP checksum it transmits
    instead of leaving it to a device that, on the userspace datapath,
    never does."""
    with Ethtool() as ethtool:
        features = ethtool.get_features(ifname)
        for name in _tx_checksums_on(ethtool, ifname):
            features.features[name].enable = False
        ethtool.set_features(ifname, features)
        left = _tx_checksums_on(ethtool, ifname)
    if left:
        raise RuntimeError('the kernel keeps transmit checksum offload '
                           '(%s) on for %s' % (', '.join(sorted(left)),
                                               ifname))


def _container_end(netns_path: str, port: dict) -> None:
    with _netns(netns_path) as ns:
        index = _index(ns, port['peer_name'])
        ns.link('set', index=index, ifname=port['ifname'],
                address=port['mac'])
        if any(':' in a for a in port['addresses']):
            # The engine disables IPv6 in a NetworkMode none namespace.
            _set_sysctl(netns_path,
                        'net/ipv6/conf/%s/disable_ipv6' % port['ifname'], '0')
        for address in port['addresses']:
            interface = ipaddress.ip_interface(address)
            # No duplicate address detection: Neutron already made the
            # address unique, and DAD would hold IPv6 back for seconds.
            ns.addr('add', index=index, address=str(interface.ip),
                    prefixlen=interface.network.prefixlen,
                    flags=ifaddrmsg.IFA_F_NODAD)
        ns.link('set', index=index, state='up')
        ns.link('set', index=_index(ns, 'lo'), state='up')
        for route in port['routes']:
            _add_route(ns, index, route)


def _add_route(ns, index: int, route: dict) -> None:
    network = ipaddress.ip_network(route['destination'])
    spec = dict(oif=index, gateway=route['gateway'],
                family=socket.AF_INET6 if network.version == 6
                else socket.AF_INET)
    if network.prefixlen:
        spec['dst'] = str(network)
    try:
        ns.route('add', **spec)
    except netlink_exceptions.NetlinkError as exc:
        # A port attached to a running instance is not its first: the
        # default route (or this host route) an earlier port brought
        # stays where it is.
        if exc.code != errno.EEXIST:
            raise


def _write_sysctl(netns_path: str, key: str, value: str) -> bytes:
    # Runs in a forked child: /proc/sys/net is the namespace of whoever
    # opens it, and entering a namespace here would move a helper thread.
    pyroute2_netns.setns(netns_path, flags=0, fork=False)
    _write_host_sysctl(key, value)
    return b''


def _write_host_sysctl(key: str, value: str) -> None:
    """A sysctl of the namespace this process is in."""
    with open('/proc/sys/' + key, 'w') as f:
        f.write(value)


def _set_sysctl(netns_path: str, key: str, value: str) -> None:
    with pyroute2_process.ChildProcess(
            target=_write_sysctl, args=[netns_path, key, value]) as child:
        child.communicate(timeout=SYSCTL_TIMEOUT)


def _delete_quietly(ipr, ifname: str) -> None:
    try:
        index = _index(ipr, ifname)
        if index is not None:
            ipr.link('del', index=index)
    except netlink_exceptions.NetlinkError as exc:
        if exc.code != errno.ENODEV:
            raise


@net_admin.entrypoint
def remove_port(host_name: str) -> None:
    """Delete the veth whose host end is ``host_name`` (both ends go);
    one already gone is fine."""
    with IPRoute() as ipr:
        _delete_quietly(ipr, host_name)


@net_admin.entrypoint
def ports_inside(netns_path: str) -> dict[str, str]:
    """{ifname: MAC} of the veths in the namespace at ``netns_path``."""
    with _netns(netns_path) as ns:
        return {link.get('ifname'): link.get('address')
                for link in ns.get_links()
                if link.get(('linkinfo', 'kind')) == 'veth'}


def namespace_path(pid: int) -> str:
    """The network namespace of process ``pid`` (the sandbox's)."""
    return os.path.join('/proc', str(pid), 'ns', 'net')
