"""network_info -> wiring plan: pure translation, no I/O.

What each Neutron port becomes inside an instance's network namespace
(interface name, MAC, MTU, addresses, routes) and what the instance's
sandbox container carries for name resolution (DNS servers, its own name in
``/etc/hosts``). The side effects live in ``wiring`` and ``privileged``;
everything here is testable with nova's network model alone.
"""

import dataclasses
import ipaddress

from nova import exception as nova_exception
from nova.network import model
from nova.network import os_vif_util
from os_vif import objects as osv_objects
from os_vif.objects import vif as osv_vif

from nova_docker import exception

# nova's conversion builds os-vif objects by registered name; registering
# them is what os_vif.initialize() would do first, without loading plugins.
osv_objects.register_all()

# The container end of a veth is named for its order in network_info.
IFNAME_PREFIX = 'eth'
# The hybrid plug's veth between its qbr bridge and OVS, as os-vif names
# it (OvsPlugin.get_veth_pair_names): qvb on the bridge, qvo on OVS.
HYBRID_VETH_PREFIXES = ('qvb', 'qvo')
# The container end's name in the host namespace, for the moment between
# its creation and its move into the container: ``nd`` + the port id's
# start, unique per port and within IFNAMSIZ.
PEER_PREFIX = 'nd'
DEFAULT_ROUTE = {4: '0.0.0.0/0', 6: '::/0'}


@dataclasses.dataclass(frozen=True)
class Route:
    destination: str  # a CIDR
    gateway: str


@dataclasses.dataclass(frozen=True)
class PortPlan:
    """One Neutron port: a veth whose host end is ``host_name`` (on the
    OVS bridge, or on the hybrid plug's ``qbr`` bridge) and whose other
    end is ``ifname`` in the instance's namespace."""

    port_id: str
    host_name: str
    peer_name: str
    ifname: str
    mac: str
    mtu: int | None
    # 'address/prefixlen', IPv4 first, in Neutron's order.
    addresses: tuple[str, ...]
    routes: tuple[Route, ...]
    # The hybrid plug's Linux bridge, which the host end joins; None when
    # the host end is an OVS port itself.
    bridge: str | None
    # Every link of the host that carries the port's frames: the veth's
    # host end, and with the hybrid plug the qbr bridge and its qvb/qvo.
    host_links: tuple[str, ...]
    # Whether the instance's end may leave transmit checksums to offload
    # (False on Open vSwitch's userspace datapath: see _checksum_offload).
    checksum_offload: bool
    # The os-vif object nova's own conversion made of the port.
    vif: osv_vif.VIFBase = dataclasses.field(compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class NetworkPlan:
    ports: tuple[PortPlan, ...]
    dns_servers: tuple[str, ...]
    # (hostname, address) lines for the sandbox's /etc/hosts.
    hosts: tuple[tuple[str, str], ...]


def check_supported(network_info) -> None:
    """Refuse, before anything is made, a port this driver cannot wire:
    only ``ovs`` ports of vnic type ``normal`` (plain or hybrid plug)."""
    for vif in network_info or []:
        reason = _refusal(vif)
        if reason:
            raise exception.UnsupportedPort(port=vif.get('id'),
                                            reason=reason)


def supported(network_info) -> list:
    """The ports of ``network_info`` this driver wires (and so may have
    to unplug)."""
    return [vif for vif in network_info or [] if not _refusal(vif)]


def _refusal(vif) -> str | None:
    vif_type = vif.get('type')
    vnic_type = vif.get('vnic_type', model.VNIC_TYPE_NORMAL)
    if vif_type != model.VIF_TYPE_OVS:
        return ('its VIF type is %r; nova-docker wires only %r ports '
                '(ML2/OVS)' % (vif_type, model.VIF_TYPE_OVS))
    if vnic_type != model.VNIC_TYPE_NORMAL:
        return ('its vnic type is %r; a container gets only vnic type %r '
                'ports (no SR-IOV, vDPA or vhost-user)'
                % (vnic_type, model.VNIC_TYPE_NORMAL))
    return None


def build(network_info, hostname: str, first_index: int = 0
          ) -> NetworkPlan:
    """The plan for ``network_info``, in its order: ports
    ``eth<first_index>``, ``eth<first_index + 1>``, ...

    Only the first port whose subnet has a gateway gets the default route
    of that IP version, so several ports never compete for it. An address
    of a port that is not one is the tenant's input it is: InvalidInput
    (nova's os-vif conversion parses every address and raises a bare
    ValueError).
    """
    check_supported(network_info)
    ports = []
    defaults_taken: set[int] = set()
    try:
        for index, vif in enumerate(network_info or [], start=first_index):
            ports.append(_port(vif, IFNAME_PREFIX + str(index),
                               defaults_taken))
        return NetworkPlan(ports=tuple(ports),
                           dns_servers=_dns_servers(network_info or []),
                           hosts=_hosts(network_info or [], hostname))
    except ValueError as exc:
        raise nova_exception.InvalidInput(
            reason='a port of the instance holds an address that is not '
                   'one (%s): fix the port or its subnet in Neutron'
                   % exc) from exc


def next_index(inside: dict[str, str]) -> int:
    """The number of the next ``eth<N>`` after those in a namespace."""
    taken = [int(name[len(IFNAME_PREFIX):]) for name in inside
             if name.startswith(IFNAME_PREFIX) and
             name[len(IFNAME_PREFIX):].isdigit()]
    return max(taken) + 1 if taken else 0


def _port(vif, ifname: str, defaults_taken: set[int]) -> PortPlan:
    osvif = os_vif_util.nova_to_osvif_vif(vif)
    if isinstance(osvif, osv_vif.VIFOpenVSwitch):
        # The driver makes the device itself (as libvirt makes a VM's
        # tap), so os-vif must add it to OVS with Neutron's external ids.
        osvif.port_profile.create_port = True
    subnets = (vif.get('network') or {}).get('subnets') or []
    bridge = (osvif.bridge_name if isinstance(osvif, osv_vif.VIFBridge)
              else None)
    return PortPlan(
        port_id=vif['id'],
        host_name=osvif.vif_name,
        peer_name=(PEER_PREFIX + vif['id'])[:model.NIC_NAME_LEN],
        ifname=ifname,
        mac=vif['address'],
        mtu=_mtu(vif),
        addresses=tuple(_addresses(subnets)),
        routes=tuple(_routes(subnets, defaults_taken)),
        bridge=bridge,
        host_links=_host_links(vif, osvif.vif_name, bridge),
        checksum_offload=_checksum_offload(vif),
        vif=osvif)


def _host_links(vif, host_name: str, bridge: str | None
                ) -> tuple[str, ...]:
    if not bridge:
        return (host_name,)
    return (host_name, bridge) + tuple(
        (prefix + vif['id'])[:model.NIC_NAME_LEN]
        for prefix in HYBRID_VETH_PREFIXES)


def _checksum_offload(vif) -> bool:
    """False where the port's switch is Open vSwitch's userspace datapath
    (``datapath_type`` netdev, as OVS-DPDK hosts and hosts without the
    openvswitch kernel module have): it reads frames off the veth as they
    are, so a TCP or UDP checksum left to offload is never filled in and
    the receiver drops the packet. Elsewhere offload stays on: the kernel's
    datapath and Linux bridges keep the skb whole, and turning it off there
    costs segmentation offload (two thirds of a veth's TCP throughput
    here).
    """
    details = vif.get('details') or {}
    return (details.get(model.VIF_DETAILS_OVS_DATAPATH_TYPE) !=
            model.VIF_DETAILS_OVS_DATAPATH_NETDEV)


def _mtu(vif) -> int | None:
    mtu = ((vif.get('network') or {}).get('meta') or {}).get('mtu')
    return int(mtu) if mtu else None


def _version(subnet) -> int:
    return subnet.get('version') or ipaddress.ip_network(
        subnet['cidr'], strict=False).version


def _ordered(subnets) -> list:
    # IPv4 first, so eth0's first address is the one tools print first.
    return sorted(subnets, key=_version)


def _addresses(subnets) -> list[str]:
    found = []
    for subnet in _ordered(subnets):
        prefix = ipaddress.ip_network(subnet['cidr'], strict=False).prefixlen
        for ip in subnet.get('ips') or []:
            found.append('%s/%d' % (ip['address'], prefix))
    return found


def _gateway(subnet) -> str | None:
    gateway = subnet.get('gateway') or {}
    return gateway.get('address') or None


def _routes(subnets, defaults_taken: set[int]) -> list[Route]:
    routes = []
    for subnet in _ordered(subnets):
        if not subnet.get('ips'):
            continue
        version = _version(subnet)
        gateway = _gateway(subnet)
        if gateway and version not in defaults_taken:
            defaults_taken.add(version)
            routes.append(Route(DEFAULT_ROUTE[version], gateway))
        for route in subnet.get('routes') or []:
            routes.append(Route(route['cidr'], route['gateway']['address']))
    return routes


def _dns_servers(network_info) -> tuple[str, ...]:
    servers: list[str] = []
    for vif in network_info:
        for subnet in _ordered((vif.get('network') or {}).get('subnets')
                               or []):
            for dns in subnet.get('dns') or []:
                if dns['address'] not in servers:
                    servers.append(dns['address'])
    return tuple(servers)


def _hosts(network_info, hostname: str) -> tuple[tuple[str, str], ...]:
    """The instance's own name for each of its first port's addresses
    (one per IP version), as a VM's cloud-init would write it."""
    if not network_info:
        return ()
    first = network_info[0]
    lines = []
    seen: set[int] = set()
    for subnet in _ordered((first.get('network') or {}).get('subnets')
                           or []):
        for ip in subnet.get('ips') or []:
            version = _version(subnet)
            if version not in seen:
                seen.add(version)
                lines.append((hostname, ip['address']))
    return tuple(lines)
