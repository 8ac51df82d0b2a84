"""The seed workflow, through Nova's REST API, onto the real Docker Engine.

Each test runs against its own all-in-one cloud (see ``tests.e2e.cloud``):
real nova-api, conductor, scheduler, compute (``docker.DockerDriver``),
placement, and a real glance-api. The user's side is the REST API; the
checks on the host's side read the engine's API directly.
"""

import os
import time

from nova.compute import power_state

from tests.e2e import cloud

MIB = 1024 * 1024

# A busybox whose command prints a line and idles, and leaves on SIGTERM
# at once (as an init would): ``docker stop`` then takes no grace time.
SEED_CMD = cloud.BUSYBOX_CMD
OTHER_LINE = 'hello from the other image'
OTHER_CMD = ('/bin/sh', '-c',
             "trap 'exit 0' TERM; echo %s; sleep 100000 & wait" % OTHER_LINE)

RUNNING = power_state.RUNNING
PAUSED = power_state.PAUSED
SHUTDOWN = power_state.SHUTDOWN
SUSPENDED = power_state.SUSPENDED


class TestNovaBoot(cloud.DockerCloudTestCase):

    # -- helpers ------------------------------------------------------------

    def wait_console(self, server, text, count=1, timeout=10):
        """Console output once ``text`` shows ``count`` times in it."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.console_output(server)
            if out.count(text) >= count:
                return out
            if time.monotonic() > deadline:
                self.fail('console of %s shows %r %d times, want %d: %r' % (
                    server['id'], text, out.count(text), count, out))
            time.sleep(0.05)

    def assert_state(self, server, status, power, sync=True):
        """The server has ``status`` and ``power``, also after nova's
        power-state sync has run; returns the server."""
        server = self.wait_for(server, status=status, power_state=power)
        if sync:
            self.sync_power_states()
            server = self.show(server)
            self.assertEqual(
                (status, power, None),
                (server['status'], server['OS-EXT-STS:power_state'],
                 server['OS-EXT-STS:task_state']),
                'after _sync_power_states')
        return server

    def assert_container_state(self, server, running, paused=False):
        state = self.container_of(server['id'])['State']
        self.assertEqual((running, paused),
                         (state['Running'], state['Paused']),
                         'container state %s' % state)
        return state

    def assert_nothing_left(self, server_id, image_ids=()):
        """No container for the server; no cached image for
        ``image_ids``; nothing of it in nova's instances_path."""
        self.assertEqual([], self.containers_of(server_id))
        tags = {t for i in self.engine.images()
                for t in i.get('RepoTags') or []}
        for image_id in image_ids:
            self.assertNotIn('glance/%s:latest' % image_id, tags)
        self.assertNotIn(server_id, os.listdir(self.instances_path))

    def action_and_wait(self, server, body, status, power):
        self.action(server, body)
        return self.assert_state(server, status, power)

    # -- the seed workflow --------------------------------------------------

    def test_seed_workflow(self):
        # $ glance image-create --name busybox:latest
        #     --container-format docker --disk-format raw < busybox.tar
        image = self.upload_busybox('busybox:latest', cmd=SEED_CMD)
        self.assertEqual(('docker', 'raw', 'active'), (
            image['container_format'], image['disk_format'],
            image['status']))

        # $ nova boot --image busybox:latest --flavor m1.tiny test
        server = self.boot('test', image['id'], flavor='m1.tiny', wait=None)
        self.assertEqual('BUILD', self.show(server)['status'])
        server = self.assert_state(server, 'ACTIVE', RUNNING)
        self.assertEqual('test', server['name'])
        self.assertEqual(image['id'], server['image']['id'])
        self.assertEqual('m1.tiny', server['flavor']['original_name'])

        # The container, as the engine shows it.
        inspect = self.container_of(server['id'])
        self.assertEqual('/nova-' + server['id'], inspect['Name'])
        labels = inspect['Config']['Labels']
        self.assertEqual(server['id'], labels[cloud.INSTANCE_LABEL])
        self.assertEqual(image['id'],
                         labels['org.openstack.nova.image-id'])
        self.assertEqual('glance/%s:latest' % image['id'],
                         inspect['Config']['Image'])
        self.assertEqual(server['flavor']['ram'] * MIB,
                         inspect['HostConfig']['Memory'])
        self.assertEqual(512 * MIB, inspect['HostConfig']['Memory'])
        self.assertTrue(inspect['State']['Running'])
        started = inspect['State']['StartedAt']

        # $ nova console-log test
        self.wait_console(server, cloud.HELLO)

        # Reboots restart the same container: its log keeps every boot.
        server = self.action_and_wait(
            server, {'reboot': {'type': 'SOFT'}}, 'ACTIVE', RUNNING)
        state = self.assert_container_state(server, running=True)
        self.assertNotEqual(started, state['StartedAt'])
        started = state['StartedAt']
        self.wait_console(server, cloud.HELLO, count=2)

        server = self.action_and_wait(
            server, {'reboot': {'type': 'HARD'}}, 'ACTIVE', RUNNING)
        state = self.assert_container_state(server, running=True)
        self.assertNotEqual(started, state['StartedAt'])
        self.wait_console(server, cloud.HELLO, count=3)

        # stop / start
        server = self.action_and_wait(server, {'os-stop': None},
                                      'SHUTOFF', SHUTDOWN)
        self.assert_container_state(server, running=False)
        server = self.action_and_wait(server, {'os-start': None},
                                      'ACTIVE', RUNNING)
        self.assert_container_state(server, running=True)

        # pause / unpause
        server = self.action_and_wait(server, {'pause': None},
                                      'PAUSED', PAUSED)
        self.assert_container_state(server, running=True, paused=True)
        server = self.action_and_wait(server, {'unpause': None},
                                      'ACTIVE', RUNNING)
        self.assert_container_state(server, running=True)

        # suspend / resume
        server = self.action_and_wait(server, {'suspend': None},
                                      'SUSPENDED', SUSPENDED)
        self.assert_container_state(server, running=True, paused=True)
        server = self.action_and_wait(server, {'resume': None},
                                      'ACTIVE', RUNNING)
        self.assert_container_state(server, running=True)

        # Rebuild onto another image: a new container of that image.
        other = self.upload_busybox('busybox:other', cmd=OTHER_CMD)
        old_id = inspect['Id']
        self.action(server, {'rebuild': {'imageRef': other['id']}})
        server = self.assert_state(server, 'ACTIVE', RUNNING)
        self.assertEqual(other['id'], server['image']['id'])
        inspect = self.container_of(server['id'])
        self.assertNotEqual(old_id, inspect['Id'])
        self.assertEqual('glance/%s:latest' % other['id'],
                         inspect['Config']['Image'])
        self.assertEqual(other['id'], inspect['Config']['Labels'][
            'org.openstack.nova.image-id'])
        out = self.wait_console(server, OTHER_LINE)
        self.assertNotIn(cloud.HELLO, out)

        # $ nova delete test
        self.delete(server)
        self.assert_nothing_left(server['id'])
        self.assertEqual([], self.nova_containers())
        # What stays is the driver's cache of the two Glance images.
        self.assertEqual(
            {'glance/%s:latest' % image['id'],
             'glance/%s:latest' % other['id']},
            set(self.engine_clean.cached_images()))

    # -- snapshot -----------------------------------------------------------

    def test_create_image_boots_a_second_server(self):
        image = self.upload_busybox('busybox:latest', cmd=SEED_CMD)
        server = self.boot('test', image['id'])
        self.wait_console(server, cloud.HELLO)

        snap = self.create_image(server, 'test-snapshot')
        self.assertEqual('active', snap['status'])
        self.assertEqual('docker', snap['container_format'])
        self.assertEqual('raw', snap['disk_format'])
        self.assertEqual('test-snapshot', snap['name'])
        self.assert_state(server, 'ACTIVE', RUNNING, sync=False)

        second = self.boot('from-snapshot', snap['id'])
        self.assert_state(second, 'ACTIVE', RUNNING)
        inspect = self.container_of(second['id'])
        self.assertEqual('glance/%s:latest' % snap['id'],
                         inspect['Config']['Image'])
        self.wait_console(second, cloud.HELLO)

        for s in (server, second):
            self.delete(s)
            self.assert_nothing_left(s['id'])
        self.assertEqual([], self.nova_containers())
        self.assertEqual([], os.listdir(self.instances_path))

    # -- failure paths ------------------------------------------------------

    def assert_build_fails(self, image, *reasons):
        server = self.boot('broken', image['id'], wait=None)
        server = self.wait_for(server, status='ERROR')
        message = server['fault']['message']
        for reason in reasons:
            self.assertIn(reason, message)
        self.assert_nothing_left(server['id'], [image['id']])
        self.delete(server)
        self.assert_nothing_left(server['id'], [image['id']])
        return message

    def test_failures(self):
        # An image that is not a Docker image by its container_format.
        bare = self.upload_image('busybox-bare', cloud.busybox_tar(SEED_CMD),
                                 container_format='bare')
        self.assert_build_fails(bare, 'container_format', "'bare'")

        # container_format docker, but the data is no image at all.
        junk = self.upload_image('junk', os.urandom(64 * 1024))
        self.assert_build_fails(junk, 'not a loadable Docker image')

        # A container whose command exits by itself: nova sees it stopped
        # at its next power-state sync and records SHUTOFF.
        true = self.upload_busybox('busybox-true', cmd=('/bin/true',))
        server = self.boot('exits', true['id'])
        deadline = time.monotonic() + 10
        while self.container_of(server['id'])['State']['Running']:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.sync_power_states()
        server = self.wait_for(server, power_state=SHUTDOWN)
        self.assertEqual('SHUTOFF', self.wait_for(
            server, status='SHUTOFF', power_state=SHUTDOWN)['status'])
        self.assert_state(server, 'SHUTOFF', SHUTDOWN)
        self.delete(server)
        self.assert_nothing_left(server['id'])
        self.assertEqual([], self.nova_containers())

    def test_exit_reaches_nova_through_the_event_stream(self):
        # No periodic sync here: the engine's die event, passed on by the
        # driver as a lifecycle event, is what makes nova stop the server.
        brief = self.upload_busybox('busybox-brief',
                                    cmd=('/bin/sleep', '2'))
        server = self.boot('brief', brief['id'])
        server = self.wait_for(server, timeout=30, status='SHUTOFF',
                               power_state=SHUTDOWN)
        self.assertFalse(
            self.container_of(server['id'])['State']['Running'])
        self.delete(server)
        self.assert_nothing_left(server['id'])

    # -- the host as nova sees it -------------------------------------------

    def test_host_resources(self):
        info = self.engine.get('/info').json()
        inventory = self.compute_provider_inventory()
        self.assertEqual({'VCPU', 'MEMORY_MB', 'DISK_GB'},
                         set(inventory))
        self.assertEqual(info['NCPU'], inventory['VCPU']['total'])
        self.assertEqual(info['MemTotal'] // MIB,
                         inventory['MEMORY_MB']['total'])
        self.assertGreater(inventory['DISK_GB']['total'], 0)

        hypervisors = self.hypervisors()
        self.assertEqual(1, len(hypervisors))
        hyp = hypervisors[0]
        self.assertEqual('docker', hyp['hypervisor_type'])
        self.assertEqual(cloud.COMPUTE_HOST, hyp['hypervisor_hostname'])
        self.assertEqual(('up', 'enabled'), (hyp['state'], hyp['status']))
        self.assertGreater(hyp['hypervisor_version'], 0)
