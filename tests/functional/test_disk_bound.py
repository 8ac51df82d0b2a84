"""The flavor's root disk bounds what an instance writes, on an engine
whose storage enforces it: a private dockerd with ``--storage-driver
btrfs`` on a btrfs loop device with quotas (tests/fixtures/btrfs.py);
this machine's kernel has no xfs project quotas, so overlay2's bound
can't be shown here."""

import pytest

from nova_docker import driver as driver_mod
from tests.fixtures import drivers
from tests.fixtures import btrfs as btrfs_fixtures
from tests.fixtures import images as image_fixtures
from tests.fixtures import private_engine as private_fixtures
from tests.fixtures import nova_objects

btrfs_loop = btrfs_fixtures.btrfs_loop
private_engine = private_fixtures.private_engine

GIB = 1024 ** 3
# Ends at once on SIGTERM (a shell as PID 1 ignores it).
IDLE = "/bin/sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'"


@pytest.fixture
def btrfs_engine(btrfs_loop, private_engine):
    """A private engine whose data root is a btrfs with quotas. The loop
    fixture comes first, so it is torn down after the engine."""
    return private_engine(storage_driver='btrfs',
                          before=lambda e: btrfs_loop(e.data_root))


@pytest.fixture
def driver_on(image_api):
    def make(engine):
        return drivers.started_driver(engine.url, 'disk-node', image_api)

    yield make
    driver_mod.CONF.clear_override('host_url', 'docker')


@pytest.fixture
def image_limit_1_gb():
    driver_mod.CONF.set_override('max_image_size_gb', 1, 'docker')
    yield
    driver_mod.CONF.clear_override('max_image_size_gb', 'docker')


# root_gb 0 (nova sizes the disk by the image) gets the bound its images
# get, [docker] max_image_size_gb, set to 1 here.
@pytest.mark.parametrize('root_gb', [1, 0])
def test_a_1_gb_disk_stops_a_2_gb_write_near_1_gb(
        btrfs_engine, driver_on, image_api, image_limit_1_gb, root_gb):
    drv = driver_on(btrfs_engine)
    meta = image_api.add(image_fixtures.docker_save_tar(None, ['/bin/sh']))
    meta.properties.os_command_line = IDLE
    inst = nova_objects.instance()
    inst.flavor.root_gb = root_gb
    drv.spawn(None, inst, meta, [], None, {})
    api = btrfs_engine.api()
    try:
        name = 'nova-' + inst.uuid
        code, _out, err = api.exec(name, [
            'dd', 'if=/dev/zero', 'of=/big', 'bs=1M', 'count=2048'],
            timeout=600)
        _code, size, _err = api.exec(name, ['stat', '-c', '%s', '/big'])
    finally:
        api.close()
    drv.destroy(None, inst, None)
    written = int(size)
    assert code != 0, 'dd wrote %d bytes and did not stop' % written
    assert (b'Disk quota exceeded' in err or
            b'No space left on device' in err), err
    # The image (a few MB) and btrfs's metadata count too.
    assert 0.8 * GIB < written <= GIB
