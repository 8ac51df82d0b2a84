"""The seed's registry workflow: ``docker push`` into Glance through
nova-docker-registry, then ``nova boot`` of the pushed tag, which runs
with no registry on the boot path."""

import time

from nova.compute import power_state

from tests.e2e import cloud
from tests.fixtures import registry as registry_fx

LINE = 'hello from a pushed image'
CMD = ('/bin/sh', '-c',
       "trap 'exit 0' TERM; echo %s; cat /layer1; sleep 100000 & wait"
       % LINE)


class TestRegistryBoot(cloud.DockerCloudTestCase):

    def setUp(self):
        super().setUp()
        self.registry = self.useFixture(registry_fx.RegistryServer(
            self.glance_server.url, {'demo': ('demo-secret', 'demo')}))
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
