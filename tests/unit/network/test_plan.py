"""network_info -> wiring plan, with nova's network model and no host."""

from nova import exception as nova_exception
from nova.network import model
from os_vif.objects import vif as osv_vif
import pytest

from nova_docker import exception
from nova_docker.network import plan
from tests.fixtures.ports import ovs_vif
from tests.fixtures.ports import subnet

PORT_A = '11111111-2222-3333-4444-555555555555'
PORT_B = '66666666-7777-8888-9999-000000000000'


def _dual_stack(port_id=PORT_A, mac='fa:16:3e:00:00:01', **kwargs):
    return ovs_vif([
        subnet('fd00:1::/64', ['fd00:1::5'], 'fd00:1::1', dns=['fd00::53']),
        subnet('10.1.0.0/24', ['10.1.0.5', '10.1.0.6'], '10.1.0.1',
               dns=['10.1.0.53'], routes=[('192.168.9.0/24', '10.1.0.254')]),
    ], port_id=port_id, mac=mac, **kwargs)


def test_a_port_becomes_eth0_with_its_mac_mtu_and_every_address():
    port, = plan.build([_dual_stack()], 'web-1').ports
    assert port.ifname == 'eth0'
    assert port.host_name == 'tap11111111-22'
    assert port.peer_name == 'nd11111111-222'
    assert port.mac == 'fa:16:3e:00:00:01'
    assert port.mtu == 1450
    # IPv4 first, then IPv6, each with the subnet's prefix.
    assert port.addresses == ('10.1.0.5/24', '10.1.0.6/24', 'fd00:1::5/64')
    assert port.bridge is None
    assert isinstance(port.vif, osv_vif.VIFOpenVSwitch)
    # The driver makes the device, so os-vif must make the OVS port.
    assert port.vif.port_profile.create_port is True
    assert port.vif.port_profile.datapath_type == 'netdev'


def test_gateways_become_default_routes_and_host_routes_follow():
    port, = plan.build([_dual_stack()], 'web-1').ports
    assert port.routes == (
        plan.Route('0.0.0.0/0', '10.1.0.1'),
        plan.Route('192.168.9.0/24', '10.1.0.254'),
        plan.Route('::/0', 'fd00:1::1'),
    )


def test_only_the_first_port_with_a_gateway_gets_the_default_route():
    no_gateway = ovs_vif([subnet('10.2.0.0/24', ['10.2.0.5'])],
                         port_id=PORT_B, mac='fa:16:3e:00:00:02')
    first, second, third = plan.build(
        [no_gateway, _dual_stack(), _dual_stack(
            port_id='33333333-0000-0000-0000-000000000000',
            mac='fa:16:3e:00:00:03')], 'web-1').ports
    assert [p.ifname for p in (first, second, third)] == [
        'eth0', 'eth1', 'eth2']
    assert first.routes == ()
    assert plan.Route('0.0.0.0/0', '10.1.0.1') in second.routes
    assert all(r.destination not in ('0.0.0.0/0', '::/0')
               for r in third.routes)


def test_numbering_can_start_after_the_ports_already_there():
    port, = plan.build([_dual_stack()], 'web-1', first_index=2).ports
    assert port.ifname == 'eth2'


def test_a_port_without_addresses_gets_no_routes():
    port, = plan.build([ovs_vif([subnet('10.3.0.0/24', [], '10.3.0.1')])],
                       'web-1').ports
    assert port.addresses == ()
    assert port.routes == ()


def test_dns_servers_and_hosts_come_from_the_subnets():
    network = plan.build([_dual_stack(), ovs_vif(
        [subnet('10.2.0.0/24', ['10.2.0.5'], dns=['10.1.0.53', '10.2.0.53'])],
        port_id=PORT_B, mac='fa:16:3e:00:00:02')], 'web-1')
    assert network.dns_servers == ('10.1.0.53', 'fd00::53', '10.2.0.53')
    # The instance's name for its first port's first address of each
    # version.
    assert network.hosts == (('web-1', '10.1.0.5'), ('web-1', 'fd00:1::5'))


def test_no_ports_no_plan():
    network = plan.build([], 'web-1')
    assert network == plan.NetworkPlan(ports=(), dns_servers=(), hosts=())


def test_the_hybrid_plug_puts_the_tap_on_its_qbr_bridge():
    port, = plan.build([_dual_stack(hybrid=True)], 'web-1').ports
    assert isinstance(port.vif, osv_vif.VIFBridge)
    assert port.bridge == 'qbr11111111-22'
    assert port.host_name == 'tap11111111-22'


def test_a_mtu_nova_does_not_know_is_left_to_the_kernel():
    port, = plan.build([_dual_stack(mtu=None)], 'web-1').ports
    assert port.mtu is None


@pytest.mark.parametrize('vif_type', [model.VIF_TYPE_VHOSTUSER, 'hw_veb',
                                      model.VIF_TYPE_BINDING_FAILED])
def test_another_vif_type_is_refused_by_name(vif_type):
    with pytest.raises(exception.UnsupportedPort) as caught:
        plan.build([_dual_stack(vif_type=vif_type)], 'web-1')
    assert repr(vif_type) in str(caught.value)
    assert PORT_A in str(caught.value)


@pytest.mark.parametrize('vnic_type', [model.VNIC_TYPE_DIRECT,
                                       model.VNIC_TYPE_VDPA, 'macvtap'])
def test_another_vnic_type_is_refused_by_name(vnic_type):
    with pytest.raises(exception.UnsupportedPort) as caught:
        plan.check_supported([_dual_stack(vnic_type=vnic_type)])
    assert repr(vnic_type) in str(caught.value)


@pytest.mark.parametrize('datapath, offload', [
    ('netdev', False), ('system', True), (None, True)])
def test_checksums_are_filled_in_software_only_on_the_userspace_datapath(
        datapath, offload):
    vif = _dual_stack(datapath_type=datapath)
    if datapath is None:
        del vif['details'][model.VIF_DETAILS_OVS_DATAPATH_TYPE]
    port, = plan.build([vif], 'web-1').ports
    assert port.checksum_offload is offload


def test_the_host_links_of_a_port_are_its_tap_and_the_hybrid_plugs_links():
    plain, = plan.build([_dual_stack()], 'web-1').ports
    assert plain.host_links == ('tap11111111-22',)
    hybrid, = plan.build([_dual_stack(hybrid=True)], 'web-1').ports
    assert hybrid.host_links == ('tap11111111-22', 'qbr11111111-22',
                                 'qvb11111111-22', 'qvo11111111-22')


def test_an_address_that_is_not_one_is_the_tenants_invalid_input():
    port = ovs_vif([subnet('10.1.0.0/24', ['10.1.0.300'], '10.1.0.1')])
    with pytest.raises(nova_exception.InvalidInput,
                       match='10.1.0.300.*fix the port or its subnet'):
        plan.build([port], 'vm')


def test_the_next_port_is_numbered_after_the_highest_there():
    assert plan.next_index({}) == 0
    assert plan.next_index({'lo': '', 'eth0': '', 'eth3': '',
                            'ethx': ''}) == 4
