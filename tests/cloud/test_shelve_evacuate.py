"""Shelve, unshelve on the other host, and evacuate, through the
``openstack`` CLI.

Shelve snapshots the server and offloads it (``shelved_offload_time`` 0:
no container is left anywhere); unshelve boots the snapshot, so what the
workload wrote is kept. Evacuate rebuilds the server from its image on
the other host while compute1's nova-compute is stopped and forced down
(what it wrote is lost, as on libvirt without shared storage); when
compute1 comes back, nova's clean-up of evacuated instances removes the
container its engine still held.
"""

import threading
import time

from tests.cloud import cloud as cloud_mod

KEPT = ['sh', '-c', 'cat /root/kept']


def other(host):
    return [h for h in cloud_mod.COMPUTES if h != host][0]


def write_kept(cloud, server_id):
    server = cloud.wait_status(server_id, 'ACTIVE')
    host = cloud.host_of(server)
    code, _, err = cloud.exec(host, cloud.workload(host, server_id)['Id'],
                              ['sh', '-c', 'echo kept > /root/kept'])
    assert code == 0, err
    return host, server['addresses']


def test_shelve_then_unshelve_on_the_other_host_keeps_the_file(
        cloud, busybox_image):
    server_id = cloud.demo.json('server', 'create', '--image',
                                busybox_image['id'], '--flavor', 'm1.tiny',
                                'shelver')['id']
    try:
        host, addresses = write_kept(cloud, server_id)
        cloud.demo.run('server', 'shelve', server_id)
        cloud.wait_status(server_id, 'SHELVED_OFFLOADED', timeout=600)
        assert cloud.hosts_holding(server_id) == []

        cloud.admin.run('--os-compute-api-version', '2.91', 'server',
                        'unshelve', '--host', other(host), server_id)
        server = cloud.wait_status(server_id, 'ACTIVE', timeout=600)
        assert cloud.host_of(server) == other(host)
        assert cloud.hosts_holding(server_id) == [other(host)]
        workload = cloud.workload(other(host), server_id)
        code, out, _ = cloud.exec(other(host), workload['Id'], KEPT)
        assert (code, out) == (0, b'kept\n')
        assert server['addresses'] == addresses
    finally:
        cloud.delete_servers([server_id])
    assert cloud.hosts_holding(server_id) == []


def lift_forced_down(admin, host, timeout=240):
    """``compute service set --up``, once nova allows it."""
    deadline = time.monotonic() + timeout
    while True:
        lifted = admin.run('--os-compute-api-version', '2.11', 'compute',
                           'service', 'set', '--up', host, 'nova-compute',
                           check=False)
        if lifted.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise cloud_mod.CloudError('could not lift the forced down of '
                                       '%s: %s' % (host, lifted.stderr))
        time.sleep(3)


def test_evacuate_rebuilds_on_compute2_and_compute1_cleans_up(
        cloud_session, cloud, busybox_image):
    down, up = cloud_mod.COMPUTES
    admin = cloud.admin
    server_id = admin.json('--os-compute-api-version', '2.74', 'server',
                           'create', '--image', busybox_image['id'],
                           '--flavor', 'm1.tiny', '--nic', 'none', '--host',
                           down, 'evacuee')['id']
    forced = False
    try:
        assert write_kept(cloud, server_id)[0] == down
        cloud_mod.cloud_sh('stop', 'nova-compute@%s' % down)
        admin.run('--os-compute-api-version', '2.11', 'compute', 'service',
                  'set', '--down', down, 'nova-compute')
        forced = True

        admin.run('--os-compute-api-version', '2.29', 'server', 'evacuate',
                  '--host', up, server_id)
        server = cloud.wait_status(server_id, 'ACTIVE', timeout=600)
        assert cloud.host_of(server) == up
        workload = cloud.workload(up, server_id)
        # Rebuilt from its image: the file is gone.
        assert cloud.exec(up, workload['Id'], KEPT)[0] != 0
        # The stopped compute's engine still holds the old container.
        assert cloud.containers(down, server_id)

        # The host is repaired: its nova-compute starts and removes the
        # leftovers in init_host (their evacuation records become
        # 'completed'); only then does nova let the operator lift the
        # forced down, which `up` waits for.
        starting = []
        thread = threading.Thread(target=lambda: starting.append(
            cloud_mod.cloud_sh('up', check=False)))
        thread.start()
        try:
            lift_forced_down(admin, down)
            forced = False
        finally:
            thread.join()
        assert starting[0].returncode == 0, starting[0].stdout[-2000:]
        assert cloud.hosts_holding(server_id) == [up]
    finally:
        if forced and not cloud_session.down:
            thread = threading.Thread(target=lambda: cloud_mod.cloud_sh(
                'up', check=False))
            thread.start()
            try:
                lift_forced_down(admin, down)
            finally:
                thread.join()
        if not cloud_session.down:
            admin.run('server', 'delete', '--wait', server_id, check=False)
            cloud.wait_gone(server_id)
