"""Cinder volumes through Nova's API onto the real Docker Engine.

Each volume is a loop device that nova's CinderFixture hands out as
Cinder's ``local`` connection type would (``device_path``); the rest is
the all-in-one cloud of ``tests.e2e.cloud``: the compute manager reserves
the device name, calls the driver's attach/detach, passes the block device
mapping at boot and at every start. What the server sees is read from
inside its container.
"""

import builtins
import glob
import os
import time

import fixtures
import psutil

from tests.e2e import cloud
from tests.fixtures import volumes as vol_fx

# Prints what its first command saw of /mnt/vdb, then idles; leaves on
# SIGTERM at once.
SHOW_VDB_CMD = ('/bin/sh', '-c',
                "grep -q ' /mnt/vdb ' /proc/self/mountinfo && "
                "echo VDB-AT-START || echo NO-VDB-AT-START; "
                "trap 'exit 0' TERM; sleep 100000 & wait")
# Before nova's TestCase poisons them (SysFsPoisonFixture for /sys,
# GenericPoisonFixture): os-brick's connector properties look for Fibre
# Channel and NVMe in /sys, and at the host's addresses, as they do on a
# real compute host.
REAL_HOST_READERS = {'psutil.net_if_addrs': psutil.net_if_addrs,
                     'os.path.isdir': os.path.isdir,
                      'builtins.open': builtins.open,
                      'glob.iglob': glob.iglob, 'glob.glob': glob.glob,
                      'os.listdir': os.listdir}


class TestVolumes(cloud.DockerCloudTestCase):

    def set_up_network(self):
        # Before nova-compute starts (its init_host shares the volume
        # directory): volumes on, their helpers in this process, loop
        # devices that outlive the services' clean-up.
        super().set_up_network()
        self.useFixture(fixtures.MonkeyPatch('os.uname',
                                             cloud.REAL_OS_UNAME))
        for name, real in REAL_HOST_READERS.items():
            self.useFixture(fixtures.MonkeyPatch(name, real))
        self.loops = self.useFixture(vol_fx.LoopDevices())
        self.volume_dir = self.useFixture(vol_fx.VolumeDir())
        self.useFixture(vol_fx.PrivsepInProcess())
        self.flags(volume_mount_dir=self.volume_dir.path, group='docker')
        self.host_mounts = self.mounts_outside()
        # The fixture's connection_info per volume: an instance copy.
        self.cinder.VOLUME_CONNECTION_INFO = dict(
            self.cinder.VOLUME_CONNECTION_INFO)

    def mounts_outside(self):
        """The host's mounts but for the volume directory's."""
        base = self.volume_dir.path
        return [m for m in vol_fx.host_mounts()
                if m != base and not m.startswith(base + '/')]

    def assert_nothing_mounted(self, device):
        self.assertEqual(self.host_mounts, self.mounts_outside())
        self.assertEqual([], vol_fx.mounts_of(device))
        self.assertEqual([], os.listdir(self.volume_dir.path))

    def volume(self, mkfs=()):
        """A new volume id, backed by a fresh loop device."""
        device = self.loops.make(mkfs=mkfs)
        volume_id = vol_fx.connection_info(device)['serial']
        self.cinder.VOLUME_CONNECTION_INFO[volume_id] = {
            'driver_volume_type': 'local', 'data': {'device_path': device}}
        return volume_id, device

    def sh(self, server, script):
        name = 'nova-' + server['id']
        code, out, _err = self.engine.exec(name, ['sh', '-c', script])
        return code, out.decode()

    def wait_sh(self, server, script, timeout=20):
        """Until ``script`` succeeds inside the server."""
        deadline = time.monotonic() + timeout
        while self.sh(server, script)[0] != 0:
            if time.monotonic() > deadline:
                self.fail('%r never succeeded in %s' % (script,
                                                        server['id']))
            time.sleep(0.1)

    def test_add_and_remove_a_volume_on_a_running_server(self):
        image = self.upload_busybox()
        server = self.boot('vol-1', image['id'])
        started = self.container_of(server['id'])['State']['StartedAt']
        volume_id, device = self.volume()
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': volume_id}})
        self.wait_sh(server, "grep -q ' /mnt/vdb ' /proc/self/mountinfo")
        self.assertEqual(0, self.sh(server, 'echo kept > /mnt/vdb/f')[0])
        self.api.delete_server_volume(server['id'], volume_id)
        self.wait_sh(server, "! grep -q ' /mnt/vdb ' /proc/self/mountinfo")
        self.wait_for(server, status='ACTIVE')
        self.assertEqual(
            started, self.container_of(server['id'])['State']['StartedAt'])
        self.assertEqual('kept\n', vol_fx.ext4_file(device, '/f'))
        self.delete(server)
        self.assert_nothing_mounted(device)

    def test_boot_with_a_volume_stop_start_and_delete(self):
        image = self.upload_busybox(name='show-vdb', cmd=SHOW_VDB_CMD)
        volume_id, device = self.volume(mkfs=('mkfs.ext4', '-q'))
        server = self.api.post_server({'server': {
            'name': 'vol-2', 'imageRef': image['id'],
            'flavorRef': self.flavor_id('m1.tiny'), 'networks': 'none',
            'block_device_mapping_v2': [
                {'boot_index': 0, 'uuid': image['id'],
                 'source_type': 'image', 'destination_type': 'local'},
                {'boot_index': -1, 'uuid': volume_id,
                 'source_type': 'volume', 'destination_type': 'volume'}],
        }})
        self.server_ids.add(server['id'])
        server = self.wait_for(server, status='ACTIVE')
        self.action(server, {'os-stop': None})
        self.wait_for(server, status='SHUTOFF')
        self.action(server, {'os-start': None})
        server = self.wait_for(server, status='ACTIVE')
        self.wait_sh(server, 'echo kept > /mnt/vdb/f')
        logs = vol_fx.output_of(
            lambda: self.engine.logs('nova-' + server['id'])[0].decode(), 2)
        self.assertEqual(['VDB-AT-START'] * 2, logs.split())
        self.delete(server)
        self.assertEqual('kept\n', vol_fx.ext4_file(device, '/f'))
        self.assert_nothing_mounted(device)

    def test_image_names_the_path_of_its_volume(self):
        """nova_docker_mounts reaches the driver through Nova's system
        metadata, as every image property does."""
        image = self.upload_busybox(name='db', nova_docker_mounts='vdb:/data')
        server = self.boot('vol-3', image['id'])
        self.assertNotEqual(0, self.sh(server, 'touch /data/f')[0])
        volume_id, device = self.volume()
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': volume_id}})
        self.wait_sh(server, 'echo kept > /data/f')
        self.assertEqual('kept\n', self.sh(server, 'cat /mnt/vdb/f')[1])
        self.delete(server)
        self.assertEqual('kept\n', vol_fx.ext4_file(device, '/f'))
        self.assert_nothing_mounted(device)

    def test_rebuild_keeps_the_volume(self):
        """Nova's rebuild for this driver: power off, detach, destroy,
        attach again, spawn with the volume in the mapping."""
        image = self.upload_busybox()
        server = self.boot('vol-4', image['id'])
        volume_id, device = self.volume()
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': volume_id}})
        self.wait_sh(server, 'echo kept > /mnt/vdb/f')
        old = self.container_of(server['id'])['Id']
        self.action(server, {'rebuild': {'imageRef': image['id']}})
        server = self.wait_for(server, status='ACTIVE')
        self.assertNotEqual(old, self.container_of(server['id'])['Id'])
        self.assertEqual('kept\n', self.sh(server, 'cat /mnt/vdb/f')[1])
        self.delete(server)
        self.assert_nothing_mounted(device)
