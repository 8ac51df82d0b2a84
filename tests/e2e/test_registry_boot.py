"""The seed's registry workflow: ``docker push`` into Glance through
nova-docker-registry, then ``nova boot`` of the pushed tag, which runs
with no registry on the boot path."""

import time

from nova.compute import power_state

from nova_docker.registry import prune
from tests.e2e import cloud
from tests.fixtures import registry as registry_fx

LINE = 'hello from a pushed image'
CMD = ('/bin/sh', '-c',
       "trap 'exit 0' TERM; echo %s; cat /layer1; sleep 100000 & wait"
       % LINE)


class TestRegistryBoot(cloud.DockerCloudTestCase):

    def setUp(self):
        super().setUp()
        # The registry user is of the project the API's user is of, so
        # what one pushes the other boots, and its snapshots are pullable.
        self.registry = self.useFixture(registry_fx.RegistryServer(
            self.glance_server.url,
            {'demo': ('demo-secret', self.api_fixture.project_id)}))
        self.cli = self.useFixture(registry_fx.DockerCLI())
        self.cli.login(self.registry.address, 'demo', 'demo-secret')

    def test_a_pushed_image_boots(self):
        # $ docker tag ... 127.0.0.1:5042/app:1 && docker push ...
        ref = self.registry.address + '/app:1'
        self.addCleanup(self.cli.run, 'rmi', '-f', ref, check=False)
        registry_fx.build_layered_image(self.cli, ref, layers=3, cmd=CMD)
        self.cli.run('push', ref)
        self.cli.run('rmi', ref)

        # $ glance image-list
        [image] = self.glance_server.list_images(name='eq:app:1')
        self.image_ids.add(image['id'])
        self.assertEqual(('docker', 'raw', 'active'), (
            image['container_format'], image['disk_format'],
            image['status']))

        # $ nova boot --image app:1 --flavor m1.tiny pushed
        # No registry on the boot path.
        self.registry.stop()
        server = self.boot('pushed', image['id'])
        self.wait_for(server, status='ACTIVE',
                      power_state=power_state.RUNNING)
        self.assertIn('layer 1', self._console_with(server, LINE))
        inspect = self.container_of(server['id'])
        self.assertEqual('glance/%s:latest' % image['id'],
                         inspect['Config']['Image'])

        # A Nova snapshot of it is pullable too: its name is its
        # repository, tag latest.
        snapshot = self.create_image(server, 'app-snapshot')
        self.image_ids.add(snapshot['id'])
        # A Glance behind Keystone makes the caller's project the owner;
        # this one, without Keystone, leaves it unset.
        self.glance_server.session.patch(
            self.glance_server.url + '/v2/images/' + snapshot['id'],
            json=[{'op': 'replace', 'path': '/owner',
                   'value': self.api_fixture.project_id}],
            headers={'Content-Type':
                     'application/openstack-images-v2.1-json-patch'}
        ).raise_for_status()
        self.registry.start()
        pulled = self.registry.address + '/app-snapshot'
        self.addCleanup(self.cli.run, 'rmi', '-f', pulled, check=False)
        self.cli.run('pull', pulled)
        out = self.cli.run('run', '--rm', '--network', 'none', pulled,
                           'cat', '/layer2').stdout
        self.assertEqual('layer 2\n', out)

        self.delete(server)
        self.assertEqual([], self.containers_of(server['id']))

    def _console_with(self, server, text, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            out = self.console_output(server)
            if text in out or time.monotonic() > deadline:
                self.assertIn(text, out)
                return out
            time.sleep(0.1)

    def _push(self, ref, layers):
        registry_fx.build_layered_image(self.cli, ref, layers=layers,
                                        cmd=CMD)
        self.cli.run('push', ref)
        self.cli.run('rmi', ref)
        [image] = self.glance_server.list_images(name='eq:app:1')
        self.image_ids.add(image['id'])
        return image

    def test_prune_deletes_replaced_images_no_server_uses(self):
        ref = self.registry.address + '/app:1'
        self.addCleanup(self.cli.run, 'rmi', '-f', ref, check=False)
        in_use = self._push(ref, layers=2)
        server = self.boot('on-v1', in_use['id'])
        unused = self._push(ref, layers=3)
        current = self._push(ref, layers=4)
        glance = registry_fx.glance_client(self.glance_server.url)

        def used(image_id):
            return bool(self.admin_api.get_servers(search_opts={
                'image': image_id, 'all_tenants': 1}))
        gone = prune.prune(glance, registry_fx.storage_for(glance), used,
                           min_age=0)

        self.assertIn(unused['id'], [i['id'] for i in gone])
        self.assertNotIn(in_use['id'], [i['id'] for i in gone])
        left = {i['id'] for i in self.glance_server.list_images()}
        self.assertEqual({in_use['id'], current['id']}, left)
        # The server keeps its image; a pull of the tag still works, so
        # no blob it needs was taken.
        self.cli.run('pull', ref)
        self.delete(server)
