"""nova's generic virt driver suite against DockerDriver on the real engine.

``nova.tests.unit.virt.test_virt_drivers._VirtDriverTestCase`` (shipped in
nova's wheel) is the contract every in-tree driver is held to; the original
nova-docker ran it too. Here it runs unchanged against the real Docker
Engine, with four adjustments of its harness, none of the driver:

* The image. The suite boots ``test_utils.get_test_instance()`` from
  nova's fake Glance (``GlanceFixture``), whose images are VM images
  without data. Each test adds a busybox ``docker save`` archive (built by
  :mod:`tests.fixtures.images`) to that fake Glance under an id of its
  own, and the driver loads it through nova's image API as from a real
  Glance: the fake's ``download`` streams chunks as glanceclient does and
  its ``update`` consumes the upload and activates the image, as Glance
  does (``GlanceFixture`` returns nothing and drops the data).
* Scope. Other test runs share the engine, so each test's instances get a
  project of their own and the driver's listings and event stream are
  narrowed to that project's label (the suite counts instances).
* Honest results. The suite's ``catch_notimplementederror`` turns a
  NotImplementedError into a pass; here it fails, unless the test is in
  :data:`NOT_APPLICABLE`, where it is reported as skipped with its reason.
* Clean engine. Every container a test made is destroyed through the
  driver at clean-up, and :class:`EngineLeftovers` fails the test if one
  of its project's containers is left; its cached image is removed.
* The network. The suite's port is an ``ovs`` VIF on nova's fake bridge
  ``br0``: each test puts it on an Open vSwitch bridge of its own
  (userspace datapath, as this host has no OVS kernel module), so the
  driver wires it for real, with the privileged work in-process (nova's
  ``TestCase`` forbids a privsep helper).
"""

import functools
import hashlib
import uuid

from nova import context as nova_context
from nova import test
from nova.tests.unit import utils as test_utils
from nova.tests.unit.virt import test_virt_drivers

from nova_docker import events
from nova_docker import images
from nova_docker import labels
from tests.fixtures import engine as engine_fixtures
from tests.fixtures import images as image_fixtures
from tests.fixtures import nova_test
from tests.fixtures import ovs as ovs_fixtures
from tests.fixtures import wiring as wiring_fixtures

DRIVER = 'nova_docker.driver.DockerDriver'
HOST = 'myhostname'
CHUNK = 64 * 1024

# Prints a line for the console and leaves at once on SIGTERM, as an init
# would (a shell as PID 1 ignores SIGTERM: every soft stop would wait
# shutdown_timeout).
BUSYBOX_CMD = ['/bin/sh', '-c',
               "trap 'exit 0' TERM; echo booted; sleep 100000 & wait"]

# Tests of the suite that do not apply to a container driver: what they
# call raises NotImplementedError, which is how a ComputeDriver says
# "not supported" and what nova's compute manager handles.
# Volumes are tested in tests/functional/test_volumes.py (loop devices
# through os-brick's local type) and tests/e2e/test_volumes.py.
_FAKE_VOLUME = ('its volume\'s driver_volume_type is "fake", which os-brick '
                'cannot connect (and [docker] volume_mount_dir is unset)')
_NO_INITIATOR = ('it expects an iSCSI initiator name, which a host without '
                 'open-iscsi (this one) does not have')
_NO_MIGRATION = 'no live migration'
_NO_RESCUE = ('no rescue: it boots a rescue image with the instance\'s '
              'disk attached, and a container has no disk')
_NOT_IN_LIBVIRT = 'libvirt does not implement it either'
NOT_APPLICABLE = {
    'test_attach_detach_volume': _FAKE_VOLUME,
    'test_attach_detach_different_power_states': _FAKE_VOLUME,
    'test_swap_volume': _FAKE_VOLUME + '; no swap_volume',
    'test_get_volume_connector': _NO_INITIATOR,
    'test_get_volume_connector_storage_ip': _NO_INITIATOR,
    'test_get_device_name_for_instance': 'nova\'s default names volumes '
                                         'after the driver\'s root device '
                                         'name, /dev/vda',
    'test_block_stats': 'no block statistics of a volume yet',
    'test_get_instance_disk_info': 'no instance disks (its callers are '
                                   'live migration and volume snapshots)',
    'test_get_vnc_console': 'no graphical console: no display to show',
    'test_get_spice_console': 'no graphical console: no display to show',
    'test_get_mks_console': 'no graphical console: no display to show',
    'test_live_migration': _NO_MIGRATION,
    'test_live_migration_abort': _NO_MIGRATION,
    'test_live_migration_force_complete': _NO_MIGRATION + ' (the test '
                                          'sets libvirt\'s active_migrations)',
    'test_migrate_disk_and_power_off': 'its instance has no migration in '
                                       'progress (no migration_context), '
                                       'which tells a resize on the same '
                                       'host from a move: see '
                                       'tests/functional/test_migration.py',
    'test_rescue': _NO_RESCUE,
    'test_unrescue_rescued_instance': _NO_RESCUE,
    'test_unrescue_unrescued_instance': _NO_RESCUE,
    'test_set_admin_password': 'no guest agent to set it through (libvirt '
                               'needs qemu-guest-agent)',
    'test_trigger_crash_dump': 'no NMI to inject into a container',
    'test_soft_delete': _NOT_IN_LIBVIRT + ': nova powers the instance off',
    'test_restore_soft_deleted': _NOT_IN_LIBVIRT + ': nova powers it on',
    'test_restore_running': _NOT_IN_LIBVIRT + ': nova powers it on',
    'test_set_host_enabled': _NOT_IN_LIBVIRT,
    'test_host_power_action_reboot': _NOT_IN_LIBVIRT,
    'test_host_power_action_shutdown': _NOT_IN_LIBVIRT,
    'test_host_power_action_startup': _NOT_IN_LIBVIRT,
    'test_get_instance_diagnostics': 'nova\'s Diagnostics.driver field '
                                     'has no value for docker (libvirt, '
                                     'xenapi, vmwareapi, ironic, hyperv)',
}

# The code object of every wrapper catch_notimplementederror makes.
_CATCHING = test_virt_drivers.catch_notimplementederror(
    lambda self: None).__code__


@functools.lru_cache(maxsize=None)
def busybox_tar() -> bytes:
    return image_fixtures.docker_save_tar(None, BUSYBOX_CMD)


def _not_applicable(name, reason):
    def skipped(self):
        self.skipTest('excluded for DockerDriver: ' + reason)
    skipped.__name__ = name
    return skipped


def strict(cls):
    """Undo catch_notimplementederror on every test of ``cls`` (so an
    unimplemented call fails) and skip those in NOT_APPLICABLE."""
    for name in dir(cls):
        attr = getattr(cls, name)
        if name in NOT_APPLICABLE:
            setattr(cls, name, _not_applicable(name, NOT_APPLICABLE[name]))
        elif getattr(attr, '__code__', None) is _CATCHING:
            setattr(cls, name, attr.__wrapped__)
    unknown = set(NOT_APPLICABLE) - {n for n in dir(cls)
                                     if n.startswith('test_')}
    assert not unknown, 'NOT_APPLICABLE names no such test: %s' % unknown
    return cls


class GlanceLike:
    """Makes nova's GlanceFixture move image data as Glance does."""

    def __init__(self, fixture):
        self.fixture = fixture
        self.data = {}
        self._show = fixture.show
        self._update = fixture.update
        fixture.download = self.download
        fixture.update = self.update

    def add(self, data: bytes, **meta) -> str:
        image_id = str(uuid.uuid4())
        self.fixture.create(None, dict(
            meta, id=image_id, size=len(data), os_hash_algo='sha256',
            os_hash_value=hashlib.sha256(data).hexdigest()))
        self.data[image_id] = data
        return image_id

    def download(self, context, image_id, data=None, dst_path=None,
                 trusted_certs=None):
        """Without a destination, an iterator of chunks (glanceclient)."""
        self._show(context, image_id)
        content = self.data.get(image_id, b'')
        if data is not None:
            data.write(content)
            return None
        if dst_path:
            with open(dst_path, 'wb') as f:
                f.write(content)
            return None
        return (content[i:i + CHUNK] for i in range(0, len(content), CHUNK))

    def update(self, context, image_id, metadata, data=None,
               purge_props=False):
        """Reads the whole upload; the image is then active."""
        image = self._update(context, image_id, metadata,
                             purge_props=purge_props)
        if data is not None:
            content = b''.join(iter(functools.partial(data.read, CHUNK),
                                    b''))
            self.data[image_id] = content
            image.update(status='active', size=len(content))
        return image


@strict
class DockerDriverSuiteTestCase(nova_test.PytestCompat,
                                test_virt_drivers._VirtDriverTestCase,
                                test.TestCase):
    """The suite, on DockerDriver and the real engine."""

    REQUIRES_LOCKING = True

    def setUp(self):
        engine_fixtures.require_engine()
        self.driver_module = DRIVER
        super().setUp()
        self.project_id = 'driver-suite-' + uuid.uuid4().hex
        self.project_ctxt = nova_context.RequestContext(
            'driver-suite', self.project_id, is_admin=True)
        self._scope_driver_to(self.project_id)
        self.glance = GlanceLike(self.image_service)
        self.image_id = self.glance.add(
            busybox_tar(), name='busybox', container_format='docker',
            disk_format='raw', properties={})
        self.engine = engine_fixtures.EngineAPI()
        self.addCleanup(self.engine.close)
        # Clean-ups run last first: destroy, check that no container of
        # this test is left (and remove those), then drop the cached image
        # (once no container holds it, so it is deleted, not untagged).
        self.addCleanup(self.engine.remove_image,
                        images.local_ref(self.image_id))
        self.useFixture(engine_fixtures.EngineLeftovers(
            scope=engine_fixtures.has_label(labels.LABEL_PROJECT_ID,
                                            self.project_id)))
        self.spawned = []
        self.addCleanup(self._destroy_spawned)
        ovs_fixtures.require_ovs()
        self.useFixture(wiring_fixtures.OsVifOnLocalOVS())
        self.useFixture(wiring_fixtures.PrivsepInProcess())
        self.bridge = self.useFixture(ovs_fixtures.OVSBridge()).name
        self.connection.init_host(HOST)
        self.addCleanup(self.connection.cleanup_host, HOST)

    def _scope_driver_to(self, project_id):
        """List and follow only this test's containers: others' (other
        test runs on the same engine) would change the suite's counts."""
        label = '%s=%s' % (labels.LABEL_PROJECT_ID, project_id)
        unscoped = labels.instance_label_filter

        def scoped(instance_uuid=None, host=None):
            filters = unscoped(instance_uuid, host)
            filters['label'] = filters['label'] + [label]
            return filters

        self.stub_out('nova_docker.labels.instance_label_filter', scoped)
        self.stub_out('nova_docker.events.FILTERS',
                      dict(events.FILTERS, label=[label]))

    def _destroy_spawned(self):
        for instance in self.spawned:
            self.connection.destroy(self.ctxt, instance, None)

    def _get_running_instance(self, obj=True):
        # The suite's own, booting this test's image in this test's
        # project.
        instance_ref = test_utils.get_test_instance(
            context=self.project_ctxt, obj=obj)
        instance_ref['image_ref'] = self.image_id
        network_info = test_utils.get_test_network_info()
        network_info[0]['network']['subnets'][0]['meta']['dhcp_server'] = \
            '1.1.1.1'
        network_info[0]['network']['bridge'] = self.bridge
        network_info[0]['details'] = {'datapath_type': 'netdev'}
        image_meta = test_utils.get_test_image_object(None, instance_ref)
        self.spawned.append(instance_ref)
        self.connection.spawn(self.ctxt, instance_ref, image_meta,
                              [], 'herp', {}, network_info=network_info)
        return instance_ref, network_info
