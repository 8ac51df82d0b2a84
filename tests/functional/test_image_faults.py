"""Image loads that fail on this host's side: a Glance that goes silent
mid-download, a spool directory that fills up. Each ends in a nova
exception that names the cause, within a bounded time, with the image's
lock released and nothing left on the engine."""

import subprocess
import threading
import time

import pytest
from oslo_concurrency import lockutils

from nova_docker import driver as driver_mod
from nova_docker import exception as docker_exception
from nova_docker.image import names
from nova_docker import images
from tests.fixtures import images as image_fx
from tests.fixtures import image_api as image_api_fixtures
from tests.fixtures.image_api import LocalImageAPI


class StallingImageAPI(LocalImageAPI):
    """Sends the first chunk of an image, then nothing until released."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def download(self, context, image_id, data=None, dst_path=None,
                 trusted_certs=None):
        chunks = image_api_fixtures.chunks_of(self.data[image_id])
        data.write(next(chunks))
        self.release.wait(60)
        raise OSError('connection reset by the test')


@pytest.fixture
def short_image_timeout(driver):
    driver_mod.CONF.set_override('image_timeout', 1.5, 'docker')
    yield
    driver_mod.CONF.clear_override('image_timeout', 'docker')


def engine_has(engine, ref):
    return engine.get('/images/%s/json' % ref).status_code == 200


def test_a_silent_glance_fails_the_load_and_frees_the_lock(
        engine_client, engine, short_image_timeout):
    api = StallingImageAPI()
    meta = api.add(image_fx.docker_save_tar(None, ['/bin/sh']))
    loader = images.ImageLoader(engine_client, image_api=api)
    start = time.monotonic()
    try:
        with pytest.raises(docker_exception.ImageDownloadStalled,
                           match='image_timeout'):
            loader.ensure_local(None, meta)
        assert time.monotonic() - start < 30
        # The next boot of the image is not stuck behind the lock.
        with lockutils.lock(names.lock_name(meta.id), delay=0.01):
            pass
    finally:
        api.release.set()
    assert not engine_has(engine, names.local_ref(meta.id))


@pytest.fixture
def tiny_spool_dir(tmp_path):
    directory = tmp_path / 'spool'
    directory.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=512k', 'tmpfs',
                    str(directory)], check=True)
    conf = driver_mod.CONF
    conf.set_override('image_download_dir', str(directory), 'docker')
    yield directory
    conf.clear_override('image_download_dir', 'docker')
    subprocess.run(['umount', str(directory)], check=True)


def assert_full_spool(engine_client, engine, image_api, spool_dir, archive):
    """Loading ``archive`` fills ``spool_dir``: SpoolFailed says so, and
    nothing is left there or on the engine."""
    meta = image_api.add(archive)
    loader = images.ImageLoader(engine_client, image_api=image_api)
    with pytest.raises(docker_exception.SpoolFailed,
                       match='image_download_dir.*No space left on device'):
        loader.ensure_local(None, meta)
    assert not engine_has(engine, names.local_ref(meta.id))
    assert not list(spool_dir.iterdir())


def test_a_full_spool_directory_is_reported_as_that(
        engine_client, engine, image_api, tiny_spool_dir):
    assert_full_spool(engine_client, engine, image_api, tiny_spool_dir,
                      image_fx.docker_save_tar(None, ['/bin/sh']))


def test_a_zstd_layer_is_unpacked_in_the_spool_directory(
        engine_client, engine, image_api, tiny_spool_dir):
    # Under 512k in Glance (zeros pack to almost nothing), 2 MB unpacked:
    # the zstd layer's unpacked copy lands where the operator said image
    # data may land, and fills it, not the default temp dir.
    rootfs = image_fx.tar_of({'zeros': bytes(2 << 20)})
    archive = image_fx.oci_save_tar(compression='zstd', rootfs=rootfs)
    assert len(archive) < 512 * 1024
    assert_full_spool(engine_client, engine, image_api, tiny_spool_dir,
                      archive)
