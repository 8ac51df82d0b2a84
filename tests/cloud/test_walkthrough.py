"""The product's walk-through, as tools/demo.sh shows it, through the
real ``openstack`` CLI as the demo user."""

import ipaddress

from tests.cloud import cloud as cloud_mod


def test_walkthrough(cloud, busybox_tar):
    demo = cloud.demo
    image = demo.json('image', 'create', '--container-format', 'docker',
                      '--disk-format', 'raw', '--file', str(busybox_tar),
                      'busybox:latest')
    server_id = None
    try:
        assert image['status'] == 'active'
        assert image['container_format'] == 'docker'
        # As the README types it: the image by its name, colon and all.
        created = demo.json('server', 'create', '--image', 'busybox:latest',
                            '--flavor', 'm1.tiny', 'test')
        server_id = created['id']
        server = cloud.wait_status(server_id, 'ACTIVE')

        listed = {s['ID']: s for s in demo.json('server', 'list')}
        assert listed[server_id]['Name'] == 'test'
        assert listed[server_id]['Status'] == 'ACTIVE'
        addresses = listed[server_id]['Networks']['private']
        assert len(addresses) == 1
        address = addresses[0]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(
            '10.78.0.0/24')

        # The container is on the engine of the host Nova names, only.
        host = cloud.host_of(server)
        assert host in cloud_mod.COMPUTES
        assert cloud.hosts_holding(server_id) == [host]
        workload = cloud.workload(host, server_id)
        assert workload['State'] == 'running'
        # The port's address is inside it, on eth0.
        code, out, _err = cloud.exec(host, workload['Id'],
                                     ['ip', '-o', '-4', 'addr', 'show',
                                      'eth0'])
        assert code == 0
        assert ' %s/24 ' % address in out.decode()

        assert cloud_mod.HELLO in cloud.wait_console(server_id)
        # Its serial console, through nova-serialproxy (typed into in
        # test_serial_console).
        console = demo.json('console', 'url', 'show', '--serial', server_id)
        assert console['url'].startswith('ws://127.0.0.1:6083/?token=')

        demo.run('server', 'delete', '--wait', server_id)
        cloud.wait_gone(server_id)
        server_id = None
        assert cloud.containers(host) == []
    finally:
        if server_id:
            demo.run('server', 'delete', '--wait', server_id, check=False)
        demo.run('image', 'delete', image['id'], check=False)
