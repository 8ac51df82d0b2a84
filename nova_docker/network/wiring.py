"""Neutron ports into an instance's network namespace: os-vif for the
switch side (the OVS port with Neutron's external ids, or the hybrid
plug's ``qbr`` bridge), the privileged helper for the veth and everything
inside the namespace."""

from nova.network import os_vif_util
from oslo_log import log as logging
import os_vif
from os_vif import exception as osv_exception
from pyroute2.netlink import exceptions as netlink_exceptions

from nova_docker import exception
from nova_docker.network import plan as network_plan
from nova_docker.network import privileged

LOG = logging.getLogger(__name__)

# What the kernel, ovsdb or os-vif answer when a port cannot be made.
WIRING_ERRORS = (OSError, netlink_exceptions.NetlinkError,
                 osv_exception.ExceptionBase, RuntimeError, ValueError)


def _as_dict(port: network_plan.PortPlan) -> dict:
    # privsep sends plain data only.
    return {'host_name': port.host_name, 'peer_name': port.peer_name,
            'ifname': port.ifname, 'mac': port.mac, 'mtu': port.mtu,
            'checksum_offload': port.checksum_offload,
            'host_links': list(port.host_links),
            'addresses': list(port.addresses), 'bridge': port.bridge,
            'routes': [{'destination': r.destination, 'gateway': r.gateway}
                       for r in port.routes]}


class PortWiring:
    """Plugs and unplugs an instance's ports; every method leaves a port
    either wired or gone."""

    def __init__(self):
        os_vif.initialize()

    def wire(self, instance, port: network_plan.PortPlan,
             netns_path: str) -> None:
        """``port`` on its switch, its veth's other end in the namespace
        at ``netns_path``; PortWiringFailed, with nothing left, if not."""
        info = os_vif_util.nova_to_osvif_instance(instance)
        try:
            if port.bridge:
                # Hybrid plug: os-vif makes qbr and its qvb/qvo link to
                # OVS; the instance's end then joins qbr.
                os_vif.plug(port.vif, info)
            else:
                # A port whose veth died with an earlier namespace (a
                # stopped sandbox) is still in ovsdb, and ovs-vswitchd
                # does not reopen a device made anew under its name: the
                # stale port goes first, in a transaction of its own.
                os_vif.unplug(port.vif, info)
            privileged.add_port(netns_path, _as_dict(port))
            if not port.bridge:
                # os-vif sets the MTU of the device it adds to OVS: the
                # veth must exist first.
                os_vif.plug(port.vif, info)
        except WIRING_ERRORS as exc:
            LOG.warning('Wiring port %s failed, removing what was made: %s',
                        port.port_id, exc, instance=instance)
            self._unplug_quietly(instance, port)
            raise exception.PortWiringFailed(
                port=port.port_id, instance=instance.uuid,
                reason=exc) from exc
        LOG.info('Wired port %s as %s (%s)', port.port_id, port.ifname,
                 port.mac, instance=instance)

    def ensure_wired(self, instance, plan: network_plan.NetworkPlan,
                     netns_path: str) -> None:
        """Wire the ports of ``plan`` that the namespace lacks (all of
        them in a new one), known by MAC: a port wired before keeps its
        interface, and gets what wiring sets now (see refresh)."""
        if not plan.ports:
            return
        try:
            inside = privileged.ports_inside(netns_path)
        except Exception as exc:
            # pyroute2 reports a namespace it cannot enter as a plain
            # Exception from its child process.
            raise exception.PortWiringFailed(
                port=', '.join(p.port_id for p in plan.ports),
                instance=instance.uuid,
                reason='its network namespace %s cannot be read: %s'
                       % (netns_path, exc)) from exc
        by_mac = {mac.lower(): ifname for ifname, mac in inside.items()}
        for port in plan.ports:
            ifname = by_mac.get(port.mac.lower())
            if ifname is None:
                self.wire(instance, port, netns_path)
            else:
                self.refresh(instance, port, netns_path, ifname)

    def refresh(self, instance, port: network_plan.PortPlan,
                netns_path: str, ifname: str) -> None:
        """Set again what wiring sets on the host's links of ``port`` and
        on its end ``ifname`` inside (sysctls, checksum offload): a port
        wired by an older driver gets what this one sets."""
        try:
            privileged.refresh_port(netns_path, _as_dict(port), ifname)
        except Exception as exc:
            # What fails inside the namespace comes back from pyroute2's
            # child process as a plain Exception (ethtool's errors too).
            raise exception.PortWiringFailed(
                port=port.port_id, instance=instance.uuid,
                reason='setting its links again failed: %s' % exc
            ) from exc

    def unplug(self, instance, port: network_plan.PortPlan,
               ignore_errors: bool = False) -> None:
        """Take ``port`` off its switch and delete its veth; a port
        already gone (or never made) is fine. ``ignore_errors``: log what
        fails instead of raising it."""
        info = os_vif_util.nova_to_osvif_instance(instance)
        try:
            os_vif.unplug(port.vif, info)
            privileged.remove_port(port.host_name)
        except WIRING_ERRORS as exc:
            if not ignore_errors:
                raise exception.PortWiringFailed(
                    port=port.port_id, instance=instance.uuid,
                    reason='unplugging it failed: %s' % exc) from exc
            LOG.warning('Could not unplug port %s: %s', port.port_id, exc,
                        instance=instance)
            return
        LOG.info('Unplugged port %s', port.port_id, instance=instance)

    def _unplug_quietly(self, instance, port) -> None:
        # The wiring's failure is the news; destroy unplugs again.
        self.unplug(instance, port, ignore_errors=True)
