"""An all-in-one cloud in one process: real Nova services on real Docker.

:class:`DockerCloudTestCase` starts, for each test, what a one-host
OpenStack deployment runs, using the functional-test base that ships in
nova's wheel (``nova.test.TestCase``):

* placement (``PlacementFixture``: the real placement WSGI app);
* nova-api (``OSAPIFixture``: the real API WSGI app, reached through
  wsgi-intercept), nova-conductor and nova-scheduler (real managers over
  oslo.messaging's in-memory driver, sqlite databases);
* nova-compute with ``compute_driver = docker.DockerDriver``, loaded by
  nova's own loader through the ``nova/virt/docker`` shim of the installed
  wheel, talking to the real Docker Engine;
* a real glance-api (:class:`tests.fixtures.glance.GlanceServer`: gunicorn,
  sqlite, file store, no keystone) with ``[glance] api_servers`` pointing
  nova's image API at it over HTTP.

Real Glance instead of GlanceFixture
------------------------------------
nova's ``_IntegratedTestBase.setUp`` installs ``nova_fixtures.GlanceFixture``
unconditionally; that fixture stubs ``nova.image.glance.API
.get_remote_image_service`` and ``nova.image.glance
.get_default_image_service`` with an in-memory dict. This class is therefore
built on ``nova.test.TestCase`` (which installs no Glance stub) and starts
the same service fixtures ``_IntegratedTestBase`` does, minus GlanceFixture.
Every image call of the API, the conductor and the compute
(``nova.image.glance.API`` -> ``GlanceClientWrapper`` ->
python-glanceclient) then goes over HTTP to the glance-api process.

One more stub: ``OSAPIFixture(stub_keystone=True)`` builds request
contexts without an ``auth_token``; a keystone-authenticated request always
has one, and nova's image API treats a token-less context as a no-auth
deployment (it filters images by visibility itself and sends no
``X-Auth-Token``). :meth:`DockerCloudTestCase._stub_keystone_token` gives
each context a token (Glance, with no keystone, ignores it).

Nothing else is stubbed on the boot path: Neutron and Cinder are nova's
fixtures, everything else is real. Servers boot with ``networks: none``
unless a test passes ``networks`` to :meth:`DockerCloudTestCase.boot`;
:class:`OVSPortsMixin` makes the NeutronFixture's ports real: bound on an
Open vSwitch bridge of the test's own, wired by the driver into the
instance's namespace (see ``tests/e2e/test_neutron_ports.py``).

Clean engine
------------
:class:`EngineClean` looks only at what this test's cloud made (servers it
booted, images of its Glance), so other runs may share the engine: at
clean-up it removes the driver's cache of Glance images
(``glance/<id>:latest``) and fails the test if a container or another
image of one of its servers is left.

nova-compute refuses to start when its driver lists instances that its
(new, empty) database does not know ("My hypervisor has existing
instances, but I appear to be a new service"): any container labelled
``org.openstack.nova.instance-uuid`` on the engine, e.g. left by a killed
run or made by a functional test running at the same time, stops every
test here. :meth:`DockerCloudTestCase.check_engine_has_no_instances` says
so before nova does, with the containers to remove.

The harness is also what ``tools/demo.py`` runs: it overrides
:meth:`DockerCloudTestCase.progress` to print timestamped progress lines.
"""

import copy
import functools
import json
import os
import sys
import time

import fixtures
from nova.compute import power_state
from nova import context as nova_context
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.tests.functional.api import client as api_client
from nova.tests.functional import fixtures as func_fixtures
from nova.tests.functional import integrated_helpers
from oslo_log import log as logging

from nova_docker import conf as docker_conf  # noqa: F401  [docker] opts
# Imported before nova's TestCase forbids os.uname: the volume room finds
# libc at import (ctypes.util.find_library reads os.uname), and
# nova-compute would import it first inside a test.
from nova_docker import driver as _driver  # noqa: F401
from tests.fixtures import engine as engine_fixtures
from tests.fixtures import glance as glance_fixtures
from tests.fixtures import host_net
from tests.fixtures import images as image_fixtures
from tests.fixtures import ovs as ovs_fixtures
from tests.fixtures import wiring as wiring_fixtures

LOG = logging.getLogger(__name__)

COMPUTE_DRIVER = 'docker.DockerDriver'
COMPUTE_HOST = 'docker-compute'
INSTANCE_LABEL = engine_fixtures.INSTANCE_LABEL
# On an instance's sandbox (the container that holds its network
# namespace): the instance's uuid. The sandbox has no INSTANCE_LABEL.
SANDBOX_LABEL = 'org.openstack.nova.sandbox-of'
LOCAL_REPO_PREFIX = 'glance/'
# Before nova's TestCase poisons it (GenericPoisonFixture); see
# OVSPortsMixin.set_up_network.
REAL_OS_UNAME = os.uname

# What the seed image's command prints before idling. It leaves on
# SIGTERM at once, as an init would (a shell as PID 1 ignores SIGTERM
# without a trap): a clean stop then takes no grace time.
HELLO = 'hello from busybox'
BUSYBOX_CMD = ('/bin/sh', '-c',
               "trap 'exit 0' TERM; echo %s; sleep 100000 & wait" % HELLO)

# The API's names for the extended status attributes.
STATUS_KEYS = {
    'task_state': 'OS-EXT-STS:task_state',
    'vm_state': 'OS-EXT-STS:vm_state',
    'power_state': 'OS-EXT-STS:power_state',
}

POWER_STATE_NAMES = {
    power_state.NOSTATE: 'NOSTATE',
    power_state.RUNNING: 'Running',
    power_state.PAUSED: 'Paused',
    power_state.SHUTDOWN: 'Shutdown',
    power_state.CRASHED: 'Crashed',
    power_state.SUSPENDED: 'Suspended',
}


@functools.lru_cache(maxsize=None)
def busybox_tar(cmd=BUSYBOX_CMD, repo_tag='busybox:latest'):
    """A ``docker save`` archive of busybox whose command is ``cmd``."""
    return image_fixtures.docker_save_tar(repo_tag, list(cmd))


class CloudError(Exception):
    """A wait or a check of the harness failed (message says what)."""


class EngineClean(fixtures.Fixture):
    """Leave the engine as this test found it.

    Only objects of this test's cloud are looked at (other test runs may
    share the engine): containers labelled with the uuid of a server it
    booted (``server_ids``; a workload by INSTANCE_LABEL, a sandbox by
    SANDBOX_LABEL), images tagged ``glance/<id>`` for an image of its
    Glance (``image_ids``) or labelled with one of its servers.

    At clean-up it removes the driver's cache of Glance images
    (``glance/<id>:latest``, which the driver keeps by design), and fails
    the test if containers or other images of its servers are left; those
    are removed too.
    """

    def __init__(self, engine, server_ids, image_ids):
        super().__init__()
        self.engine = engine
        self.server_ids = server_ids
        self.image_ids = image_ids

    def _setUp(self):
        self.addCleanup(self.check)

    def cached_images(self):
        """The driver's cached copies of our Glance images:
        ``{tag: engine image id}``."""
        ours = {LOCAL_REPO_PREFIX + i + ':latest' for i in self.image_ids}
        return {t: i['Id'] for i in self.engine.images()
                for t in i.get('RepoTags') or [] if t in ours}

    def _ours(self, obj):
        labels = obj.get('Labels') or {}
        return (labels.get(INSTANCE_LABEL) in self.server_ids or
                labels.get(SANDBOX_LABEL) in self.server_ids)

    def leftover_containers(self):
        return [c for c in self.engine.containers() if self._ours(c)]

    def leftover_images(self):
        return [i for i in self.engine.images() if self._ours(i)]

    def check(self):
        # Containers first: an image in use by one would only be untagged.
        containers = self.leftover_containers()
        for c in containers:
            self.engine.remove_container(c['Id'])
        for tag in self.cached_images():
            self.engine.remove_image(tag)
        # Then each last-use marker again: nova-compute still runs, and
        # its image cache pass may have named an image anew (removed and
        # tagged ``used`` again) while ``latest`` was still there.
        for image_id in self.image_ids:
            self.engine.remove_image(LOCAL_REPO_PREFIX + image_id + ':used')
        images = self.leftover_images()
        for i in images:
            self.engine.remove_image(i['Id'])
        if not containers and not images:
            return
        lines = ['container %s %s state=%s' % (
            c['Id'][:12], ','.join(c.get('Names') or []), c.get('State'))
            for c in containers]
        lines += ['image %s tags=%s' % (i['Id'], i.get('RepoTags'))
                  for i in images]
        raise AssertionError('left on the Docker Engine:\n  ' +
                             '\n  '.join(lines))


class DockerCloudTestCase(test.TestCase,
                          integrated_helpers.PlacementInstanceHelperMixin):
    """Nova's services, a real glance-api and DockerDriver, per test."""

    REQUIRES_LOCKING = True
    microversion = 'latest'
    # How long to wait for a server to reach a state, in seconds.
    TIMEOUT = 60
    POLL = 0.05
    SHUTDOWN_TIMEOUT = 10
    # Seconds before the driver tells nova that a container stopped (see
    # nova_docker.events); short, so a test sees it without a long wait.
    LIFECYCLE_EVENT_DELAY = 1.0

    def progress(self, message):
        """Called at each set-up step; the demo prints these."""
        LOG.info('cloud: %s', message)

    def _clear_attrs(self):
        # nova.test.TestCase deletes every public attribute at clean-up;
        # pytest's unittest runner sets the test method as one and
        # delattr()s it afterwards, which then fails. Keep test methods.
        for key in [k for k in self.__dict__ if k[0] != '_']:
            if key != 'id' and not key.startswith('test'):
                del self.__dict__[key]

    def setUp(self):
        super().setUp()
        engine_fixtures.require_engine()
        self.engine = engine_fixtures.EngineAPI()
        self.addCleanup(self.engine.close)
        # What this test made, for EngineClean (the engine may be shared).
        self.server_ids = set()
        self.image_ids = set()
        self.engine_clean = self.useFixture(EngineClean(
            self.engine, self.server_ids, self.image_ids))

        self.instances_path = self.useFixture(fixtures.TempDir()).path
        # shutdown_timeout bounds a clean stop (SIGTERM, then SIGKILL);
        # nova's default of 60 s would let one image that ignores SIGTERM
        # stall a test for a minute.
        self.flags(compute_driver=COMPUTE_DRIVER,
                   instances_path=self.instances_path,
                   shutdown_timeout=self.SHUTDOWN_TIMEOUT)
        self.flags(api_paste_config=os.path.join(
            sys.prefix, 'etc', 'nova', 'api-paste.ini'), group='wsgi')
        self.flags(lifecycle_event_delay=self.LIFECYCLE_EVENT_DELAY,
                   group='docker')

        self.check_engine_has_no_instances()

        self.progress('starting Glance (glance-api, sqlite, file store)')
        self.glance_server = self.useFixture(glance_fixtures.GlanceServer())
        glance_fixtures.point_nova_at(self.glance_server)
        self.progress('Glance answers at %s' % self.glance_server.url)

        self.progress('starting placement')
        self.placement = self.useFixture(
            func_fixtures.PlacementFixture()).api
        self.neutron = self.useFixture(nova_fixtures.NeutronFixture(self))
        self.cinder = self.useFixture(nova_fixtures.CinderFixture(self))
        self.policy = self.useFixture(nova_fixtures.RealPolicyFixture())
        self.notifier = self.useFixture(
            nova_fixtures.NotificationFixture(self))
        # Before nova-compute starts (its driver initialises os-vif), and
        # cleaned up after the services stopped and the servers went.
        self.set_up_network()

        self.flags(transport_url=self.cell_mappings['cell1'].transport_url)
        self.progress('starting nova-conductor')
        self.conductor = self.start_service('conductor')
        self.addCleanup(self.conductor.stop)
        self.progress('starting nova-scheduler')
        self.scheduler = self.start_service('scheduler')
        self.addCleanup(self.scheduler.stop)
        self.progress('starting nova-compute (compute_driver = %s)'
                      % COMPUTE_DRIVER)
        self.compute = self._start_compute(COMPUTE_HOST)
        self.addCleanup(self.compute.stop)
        self.progress('starting nova-api')
        self.api_fixture = self.useFixture(nova_fixtures.OSAPIFixture(
            api_version='v2.1'))
        self._stub_keystone_token()
        self.api = self.api_fixture.api
        self.admin_api = self.api_fixture.admin_api
        self.api.microversion = self.microversion
        self.admin_api.microversion = self.microversion
        # Runs before the services stop: a test that failed half-way
        # still has its servers deleted through the API, so EngineClean
        # reports what the driver failed to remove, not what the test
        # did not get to delete.
        self.addCleanup(self.delete_all_servers)

    def set_up_network(self):
        """What the host needs for the servers' networks, before
        nova-compute starts: nothing here (servers boot with ``networks:
        none``); see :class:`OVSPortsMixin`."""

    def check_engine_has_no_instances(self):
        found = self.nova_containers()
        if found:
            raise CloudError(
                'the Docker Engine already holds %d container(s) labelled '
                '%s (%s); a new nova-compute refuses to start next to '
                'instances its database does not know. Remove them (docker '
                'rm -f $(docker ps -aq --filter label=%s)) and do not run '
                'other nova-docker test suites on this engine at the same '
                'time.' % (len(found), INSTANCE_LABEL,
                           ', '.join(n for c in found for n in c['Names']),
                           INSTANCE_LABEL))

    def _stub_keystone_token(self):
        def fake_ctx(env, **kwargs):
            user_id = env['HTTP_X_AUTH_USER']
            project_id = env['HTTP_X_AUTH_PROJECT_ID']
            return nova_context.RequestContext(
                user_id, project_id, is_admin=user_id == 'admin',
                roles=env['HTTP_X_ROLES'].split(','),
                auth_token='token-of-%s' % user_id, **kwargs)

        self.useFixture(fixtures.MonkeyPatch(
            'nova.api.auth.NovaKeystoneContext._create_context', fake_ctx))

    # -- Glance -----------------------------------------------------------

    def upload_image(self, name, data, container_format='docker',
                     disk_format='raw', **properties):
        """Create a Glance image over its REST API; return its dict."""
        image = self.glance_server.create_image(
            name, data, container_format=container_format,
            disk_format=disk_format, **properties)
        self.image_ids.add(image['id'])
        return image

    def upload_busybox(self, name='busybox:latest', cmd=BUSYBOX_CMD,
                       **properties):
        return self.upload_image(name, busybox_tar(tuple(cmd)),
                                 **properties)

    # -- servers ----------------------------------------------------------

    def flavor_id(self, name):
        for flavor in self.api.get_flavors():
            if flavor['name'] == name:
                return flavor['id']
        raise CloudError('no flavor named %s' % name)

    def boot(self, name, image_id, flavor='m1.tiny', wait='ACTIVE',
             networks='none'):
        """``nova boot --image <image_id> --flavor <flavor> <name>``;
        ``networks`` as the API takes it (``[{'port': <id>}]``)."""
        server = self.api.post_server({'server': {
            'name': name,
            'imageRef': image_id,
            'flavorRef': self.flavor_id(flavor),
            'networks': networks,
        }})
        self.server_ids.add(server['id'])
        if wait:
            return self.wait_for(server, status=wait)
        return server

    def show(self, server):
        return self.api.get_server(server['id'])

    def action(self, server, body):
        """``POST /servers/{id}/action``; returns the decoded body."""
        resp = self.api.post_server_action(server['id'], body)
        return resp

    def wait_for(self, server, timeout=None, **expected):
        """Poll ``GET /servers/{id}`` until it matches ``expected``.

        Keys are API keys (``status``) or the short names ``task_state``,
        ``vm_state``, ``power_state``. ``task_state`` defaults to None (no
        task in progress). An unexpected ERROR fails at once, with the
        fault.
        """
        expected.setdefault('task_state', None)
        want = {STATUS_KEYS.get(k, k): v for k, v in expected.items()}
        deadline = time.monotonic() + (timeout or self.TIMEOUT)
        while True:
            current = self.api.get_server(server['id'])
            if all(current.get(k) == v for k, v in want.items()):
                if current['status'] != 'ERROR' or 'fault' in current:
                    return current
            elif (current['status'] == 'ERROR' and
                    want.get('status') != 'ERROR'):
                raise CloudError('server %s went to ERROR waiting for %s: '
                                 '%s' % (server['id'], want,
                                         current.get('fault')))
            if time.monotonic() > deadline:
                raise CloudError(
                    'server %s: waited %s s for %s; it is %s' % (
                        server['id'], timeout or self.TIMEOUT, want,
                        {k: current.get(k) for k in want}))
            time.sleep(self.POLL)

    def delete(self, server, timeout=None):
        self.api.delete_server(server['id'])
        deadline = time.monotonic() + (timeout or self.TIMEOUT)
        while time.monotonic() < deadline:
            try:
                self.api.get_server(server['id'])
            except api_client.OpenStackApiNotFoundException:
                return
            time.sleep(self.POLL)
        raise CloudError('server %s not deleted in %s s' % (
            server['id'], timeout or self.TIMEOUT))

    def delete_all_servers(self):
        servers = self.admin_api.get_servers(
            detail=False, search_opts={'all_tenants': 1})
        for server in servers:
            try:
                self.delete(server, timeout=20)
            except Exception:
                LOG.exception('could not delete server %s', server['id'])

    def console_output(self, server, length=None):
        body = {'os-getConsoleOutput': {}}
        if length is not None:
            body['os-getConsoleOutput']['length'] = length
        return self.action(server, body)['output']

    def sync_power_states(self, timeout=None):
        """Run nova-compute's ``_sync_power_states`` periodic and wait for
        the syncs it started in its thread pool."""
        manager = self.compute.manager
        manager._sync_power_states(nova_context.get_admin_context())
        deadline = time.monotonic() + (timeout or self.TIMEOUT)
        while True:
            with manager.syncs_in_progress() as syncs:
                if not syncs:
                    return
            if time.monotonic() > deadline:
                raise CloudError('power state sync did not finish')
            time.sleep(self.POLL)

    def create_image(self, server, name):
        """``createImage``; wait for the snapshot; return its Glance dict.

        nova deletes the Glance image when the driver's snapshot fails:
        that is reported with the failed instance action event.
        """
        image_id = self.action(server, {'createImage': {'name': name}})[
            'image_id']
        self.image_ids.add(image_id)
        self.wait_for(server, task_state=None)
        deadline = time.monotonic() + self.TIMEOUT
        while True:
            images = self.glance_server.list_images(id=image_id)
            if not images:
                raise CloudError(
                    'createImage of %s failed: nova deleted Glance image %s'
                    ' (it does so when the driver\'s snapshot raises); '
                    'failed events: %s' % (
                        server['id'], image_id,
                        self.failed_events(server, 'createImage')))
            image = images[0]
            if image['status'] in ('active', 'killed', 'deleted'):
                return image
            if time.monotonic() > deadline:
                raise CloudError('snapshot %s is still %s' % (
                    image_id, image['status']))
            time.sleep(self.POLL)

    def failed_events(self, server, action):
        """The failed events (with tracebacks) of the server's last
        ``action`` (os-instance-actions, as admin)."""
        actions = self.admin_api.api_get(
            '/servers/%s/os-instance-actions' % server['id']
        ).body['instanceActions']
        for act in actions:
            if act['action'] != action:
                continue
            detail = self.admin_api.api_get(
                '/servers/%s/os-instance-actions/%s' % (
                    server['id'], act['request_id'])).body['instanceAction']
            return [(e['event'], e.get('result'), e.get('traceback'))
                    for e in detail.get('events', [])
                    if e.get('result') == 'Error']
        return []

    # -- placement and hypervisors ----------------------------------------

    def compute_provider_inventory(self):
        rp_uuid = self._get_provider_uuid_by_host(COMPUTE_HOST)
        return self._get_provider_inventory(rp_uuid)

    def hypervisors(self):
        return self.admin_api.api_get(
            '/os-hypervisors/detail').body['hypervisors']

    # -- the engine's side --------------------------------------------------

    def containers_of(self, server_id):
        """The engine's containers labelled with ``server_id``."""
        filters = json.dumps(
            {'label': ['%s=%s' % (INSTANCE_LABEL, server_id)]})
        resp = self.engine.get('/containers/json',
                               params={'all': 1, 'filters': filters})
        resp.raise_for_status()
        return resp.json()

    def container_of(self, server_id):
        """``GET /containers/{id}/json`` of the server's only container."""
        found = self.containers_of(server_id)
        if len(found) != 1:
            raise CloudError('expected one container for %s, found %s' % (
                server_id, [c['Names'] for c in found]))
        resp = self.engine.get('/containers/%s/json' % found[0]['Id'])
        resp.raise_for_status()
        return resp.json()

    def nova_containers(self):
        """Every container on the engine that carries nova's label."""
        filters = json.dumps({'label': [INSTANCE_LABEL]})
        resp = self.engine.get('/containers/json',
                               params={'all': 1, 'filters': filters})
        resp.raise_for_status()
        return resp.json()


class OVSPortsMixin:
    """Servers with real Neutron ports, on a bridge of the test's own.

    nova's ``NeutronFixture`` answers for Neutron; the ports a test binds
    with :meth:`bind_on_bridge` carry the binding ML2/OVS's agent would
    give them on this host: ``bridge_name`` the test's own OVS bridge
    (``self.bridge``, from which nova takes the network's ``bridge``) and
    ``datapath_type`` netdev (this host's Open vSwitch forwards in
    userspace only). The driver wires each such port for real: a veth
    whose host end ``tap<port id[:11]>`` os-vif adds to the bridge, whose
    other end is ``eth<N>`` in the instance's namespace. Traffic stays on
    the bridge and in the instances' namespaces.

    Needs Open vSwitch (``tools/ensure-ovs.sh``): the test skips without
    it, and fails when ``CI`` is set. The driver's privileged functions
    and os-vif's run in the test process (nova's TestCase forbids privsep
    helpers), os-vif talks to ovsdb on its unix socket.

    At clean-up, after the servers were deleted and the services stopped,
    :class:`tests.fixtures.host_net.HostNetLeftovers` fails the test for
    ``tap``/``qbr``/``qvb``/``qvo``/``nd`` links or OVS ports that appeared
    and are still there; then the bridge is deleted. Put the mixin before
    :class:`DockerCloudTestCase` among the bases.
    """

    def setUp(self):
        # Before any service starts: a host without OVS skips at once.
        ovs_fixtures.require_ovs()
        super().setUp()

    def set_up_network(self):
        super().set_up_network()
        # The driver's namespace work really runs here: pyroute2 enters a
        # namespace in a child process that finds libc with
        # ctypes.util.find_library, which reads os.uname(). nova's
        # TestCase makes os.uname raise (meant for nova's own code, which
        # must not look at the test node).
        self.useFixture(fixtures.MonkeyPatch('os.uname', REAL_OS_UNAME))
        self.bridge = self.useFixture(ovs_fixtures.OVSBridge())
        # After the bridge, so that it looks before the bridge (with any
        # port left on it) is deleted.
        self.host_net = self.useFixture(host_net.HostNetLeftovers())
        self.useFixture(wiring_fixtures.OsVifOnLocalOVS())
        self.useFixture(wiring_fixtures.PrivsepInProcess())

    def vif_details(self):
        """``binding:vif_details`` of ML2/OVS on this host: a plain OVS
        port (no hybrid plug) on the test's bridge, userspace datapath."""
        return {'datapath_type': 'netdev',
                'bridge_name': self.bridge.name,
                'port_filter': True,
                'ovs_hybrid_plug': False}

    def bind_on_bridge(self, template, **changes):
        """Add to the NeutronFixture a copy of ``template`` (one of its
        port dicts, e.g. ``NeutronFixture.port_1``) updated with
        ``changes``, bound on the test's bridge; return it.

        The fixture gives a port's binding the ``binding:vif_details`` of
        its own dict (``create_port_binding``; ``update_port`` keeps them),
        so that is where they go.
        """
        port = copy.deepcopy(template)
        port.update(copy.deepcopy(changes))
        port['binding:vif_details'] = self.vif_details()
        self.neutron._ports[port['id']] = port
        return port
