"""The cloud tier: tests against the cloud of tools/cloud.sh.

The session brings the cloud up once (``tools/cloud.sh up``) and the last
module (``test_z_down.py``) takes it down and checks that nothing is left.
They need root; without it they are skipped, except under CI (``CI`` set),
where they fail.

``NOVA_DOCKER_CLOUD_REUSE=1`` (not in CI) uses a cloud already up and
leaves it up: for iterating on one test.
"""

import os
import subprocess

import pytest

from tests.cloud import cloud as cloud_mod


class Session:
    """What the session recorded before ``up``, for the final check."""

    def __init__(self):
        self.before = None
        self.cloud = None
        self.down = False


_SESSION = Session()


@pytest.fixture(scope='session')
def cloud_session():
    cloud_mod.require_root()
    if not cloud_mod.REUSE:
        # The baseline: taken before this session's cloud exists (a cloud
        # left by an earlier run is taken down first).
        cloud_mod.cloud_sh('down')
        _SESSION.before = cloud_mod.host_network()
        cloud_mod.cloud_sh('up')
    _SESSION.cloud = cloud_mod.Cloud()
    yield _SESSION
    if not cloud_mod.REUSE and not _SESSION.down:
        cloud_mod.cloud_sh('down', check=False)


@pytest.fixture
def cloud(cloud_session):
    if cloud_session.down:
        pytest.fail('the cloud was taken down by an earlier test')
    return cloud_session.cloud


@pytest.fixture(scope='session')
def busybox_tar(tmp_path_factory):
    path = tmp_path_factory.mktemp('images') / 'busybox.tar'
    subprocess.run([os.path.join(cloud_mod.VENV, 'bin', 'python'),
                    cloud_mod.BUSYBOX_TAR, str(path)], check=True)
    return path


@pytest.fixture(scope='session')
def busybox_image(cloud_session, busybox_tar):
    """A busybox image of the demo project, for the tests that boot
    servers from it (the walk-through makes its own)."""
    demo = cloud_session.cloud.demo
    image = demo.json('image', 'create', '--container-format', 'docker',
                      '--disk-format', 'raw', '--file', str(busybox_tar),
                      'cloud-tests-busybox')
    yield image
    if not cloud_session.down:
        demo.run('image', 'delete', image['id'], check=False)
