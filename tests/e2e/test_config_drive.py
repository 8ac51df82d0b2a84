"""The config drive through Nova's REST API: nova's own InstanceMetadata
(its database, the NeutronFixture's security groups) written by the
driver and read inside the workload."""

import base64
import io
import json
import os
import tarfile

from tests.e2e import cloud

SEED = '/var/lib/cloud/seed/config_drive/openstack/latest/'


def layer_names(saved: bytes):
    """Every path in the layers of a ``docker save`` archive (each member
    that is itself a tar)."""
    names = []
    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member).read()
            try:
                with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                    names.extend(layer.getnames())
            except tarfile.TarError:
                continue  # manifest.json, an image config
    return names


class TestConfigDrive(cloud.DockerCloudTestCase):

    def boot_with_drive(self, image_id, user_data):
        server = self.api.post_server({'server': {
            'name': 'web-1',
            'imageRef': image_id,
            'flavorRef': self.flavor_id('m1.tiny'),
            'networks': 'none',
            'config_drive': True,
            'user_data': base64.b64encode(user_data).decode(),
            'metadata': {'role': 'web'},
        }})
        self.server_ids.add(server['id'])
        return self.wait_for(server, status='ACTIVE')

    def read(self, server, name):
        code, out, err = self.engine.exec('nova-%s' % server['id'],
                                          ['cat', SEED + name])
        self.assertEqual(0, code, err)
        return out

    def test_boot_rebuild_and_delete(self):
        image = self.upload_busybox()
        server = self.boot_with_drive(image['id'], b'#!/bin/sh\necho one\n')

        meta = json.loads(self.read(server, 'meta_data.json'))
        self.assertEqual(
            (server['id'], 'web-1.novalocal', {'role': 'web'}),
            (meta['uuid'], meta['hostname'], meta['meta']))
        self.assertEqual(b'#!/bin/sh\necho one\n',
                         self.read(server, 'user_data'))
        # No ports (networks none): nova writes an empty network_data.
        self.assertEqual({}, json.loads(
            self.read(server, 'network_data.json')))
        self.assertIsInstance(
            json.loads(self.read(server, 'vendor_data2.json')), dict)
        self.assertEqual([server['id']], os.listdir(self.instances_path))

        # Rebuild with new user data: the drive is written anew.
        self.action(server, {'rebuild': {
            'imageRef': image['id'],
            'user_data': base64.b64encode(b'#!/bin/sh\necho two\n').decode(),
            'metadata': {'role': 'db'}}})
        server = self.wait_for(server, status='ACTIVE')
        self.assertEqual(b'#!/bin/sh\necho two\n',
                         self.read(server, 'user_data'))
        self.assertEqual({'role': 'db'}, json.loads(
            self.read(server, 'meta_data.json'))['meta'])

        self.delete(server)
        self.assertEqual([], os.listdir(self.instances_path))

    def test_a_snapshot_does_not_carry_the_drive(self):
        # User data may be secret: an image made of the server must not
        # hold it (the engine's commit leaves binds out).
        image = self.upload_busybox()
        server = self.boot_with_drive(image['id'], b'#!/bin/sh\nsecret\n')
        snap = self.create_image(server, 'snap')
        self.assertEqual('active', snap['status'])
        names = layer_names(self.glance_server.download(snap['id']))
        self.assertIn('bin/busybox', names)
        inside = [n for n in names
                  if n.startswith('var/lib/cloud/seed/config_drive/')]
        self.assertEqual([], inside)
        self.delete(server)
        self.assertEqual([], os.listdir(self.instances_path))
