"""The engine's copies of Glance images and the snapshots' commits: quiet
removal, through every path that removes one, against the fake engine on
a unix socket."""

import hashlib
import logging
import uuid

import pytest
from nova import exception

from nova_docker import exception as docker_exception
from nova_docker.image import cache
from nova_docker.image import loader
from nova_docker.image import names
from nova_docker.image import snapshot
from nova_docker.image.local import LocalImages
from tests.fixtures import image_api
from tests.fixtures import images as fx
from tests.fixtures import nova_objects

REFUSAL = {'message': 'driver failed removing layer: device busy'}


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger='nova_docker.image.local')
    return caplog


def refuse_removal(fake_engine, ref, status=500):
    fake_engine.route('DELETE', '/images/' + ref, status=status,
                      json=REFUSAL if status != 404 else
                      {'message': 'No such image: ' + ref})


def warned(logs, ref):
    """The warnings that name ``ref`` and the engine's reason."""
    return [r for r in logs.records if r.levelno == logging.WARNING
            and ref in r.getMessage() and 'device busy' in r.getMessage()]


def removal_attempts(fake_engine, ref):
    return fake_engine.requests_to('DELETE', '/images/' + ref)


# -- LocalImages itself ---------------------------------------------------

def test_a_removal_refused_with_500_is_logged_not_raised(fake_engine, client,
                                                          logs):
    refuse_removal(fake_engine, 'x:1')
    assert LocalImages(client).remove('x:1', 'a test image') is False
    assert len(warned(logs, 'x:1')) == 1
    assert 'a test image' in warned(logs, 'x:1')[0].getMessage()


@pytest.mark.parametrize('status', [404, 409])
def test_gone_or_in_use_is_no_failure(fake_engine, client, logs, status):
    refuse_removal(fake_engine, 'x:1', status)
    assert LocalImages(client).remove('x:1', 'a test image') is False
    assert not [r for r in logs.records if r.levelno >= logging.WARNING]


def test_a_removed_image_is_logged_as_removed(fake_engine, client, logs):
    fake_engine.route('DELETE', '/images/x:1', json=[{'Untagged': 'x:1'}])
    assert LocalImages(client).remove('x:1', 'a test image') is True
    assert 'Removed x:1 (a test image)' in logs.text


def test_an_engine_that_is_gone_is_logged_not_raised(client, fake_engine,
                                                     logs):
    fake_engine.stop()
    assert LocalImages(client).remove('x:1', 'a test image') is False
    assert [r for r in logs.records if r.levelno == logging.WARNING
            and 'x:1' in r.getMessage()]


# -- the driver: a refused image ------------------------------------------

def test_forget_refused_removes_the_glance_image_quietly(fake_engine, client,
                                                         logs):
    image_id = str(uuid.uuid4())
    ref = names.local_ref(image_id)
    refuse_removal(fake_engine, ref)
    assert LocalImages(client).forget_refused(image_id) is False
    assert len(removal_attempts(fake_engine, ref)) == 1
    assert len(warned(logs, ref)) == 1


def test_forget_refused_leaves_an_image_a_container_uses(fake_engine,
                                                         client, logs):
    image_id = str(uuid.uuid4())
    refuse_removal(fake_engine, names.local_ref(image_id), 409)
    assert LocalImages(client).forget_refused(image_id) is False
    assert 'stays' in logs.text


# -- the loader: what a failed load left ----------------------------------

class GlanceImage:
    """nova's image API for one image (get and a push-style download)."""

    def __init__(self, data):
        self.image = {'id': str(uuid.uuid4()), 'status': 'active',
                      'size': len(data), 'os_hash_algo': 'sha256',
                      'os_hash_value': hashlib.sha256(data).hexdigest(),
                      'properties': {}}
        self.data = data
        self.deleted = []

    def get(self, context, image_id):
        return dict(self.image)

    def download(self, context, image_id, data=None, dst_path=None,
                 trusted_certs=None):
        return image_api.deliver(image_api.chunks_of(self.data), data,
                                 dst_path)


def test_a_failed_load_raises_its_own_error_when_cleanup_is_refused(
        fake_engine, client, logs):
    api = GlanceImage(fx.docker_save_tar(None, ['/bin/sh']))
    ref = names.local_ref(api.image['id'])
    fake_engine.route('POST', '/images/load', chunks=[
        '{"errorDetail": {"message": "unexpected EOF"}, '
        '"error": "unexpected EOF"}\n'])
    refuse_removal(fake_engine, ref)
    image_loader = loader.ImageLoader(client, image_api=api)
    with pytest.raises(exception.ImageUnacceptable,
                       match='the engine said: unexpected EOF'):
        image_loader.ensure_local(None,
                                  nova_objects.image_meta(api.image['id']))
    assert len(removal_attempts(fake_engine, ref)) == 1
    assert len(warned(logs, ref)) == 1
    assert 'failed load of image' in warned(logs, ref)[0].getMessage()


# -- the image cache: an expired image, a leftover commit -----------------

def test_an_expired_image_the_engine_keeps_is_logged_not_raised(
        fake_engine, client, logs):
    image_id = str(uuid.uuid4())
    ref = names.local_ref(image_id)
    fake_engine.route('GET', '/images/json', json=[
        {'Id': 'sha256:1', 'RepoTags': [ref]}])
    fake_engine.route('GET', '/containers/json', json=[])
    fake_engine.route('GET', '/images/%s/json' % ref, json={
        'Id': 'sha256:1', 'Created': '2001-01-01T00:00:00Z'})
    refuse_removal(fake_engine, ref)
    cache.ImageCache(client).manage(None, [])
    assert len(removal_attempts(fake_engine, ref)) == 1
    assert len(warned(logs, ref)) == 1


def test_a_leftover_commit_the_engine_keeps_is_logged_not_raised(
        fake_engine, client, logs):
    ref = names.commit_ref(str(uuid.uuid4()))
    fake_engine.route('GET', '/images/json', json=[
        {'Id': 'sha256:2', 'RepoTags': [ref]}])
    refuse_removal(fake_engine, ref)
    cache.ImageCache(client).manage(None, [])
    assert len(removal_attempts(fake_engine, ref)) == 1
    assert len(warned(logs, ref)) == 1


# -- the snapshot: its committed image ------------------------------------

class FailingGlance:
    """nova's image API, down while a snapshot uploads."""

    def __init__(self):
        self.deleted = []

    def get(self, context, image_id):
        raise ConnectionError('glance is down')

    def delete(self, context, image_id):
        self.deleted.append(image_id)


def test_a_failed_snapshot_raises_its_own_error_when_cleanup_is_refused(
        fake_engine, client, logs):
    snap_id = str(uuid.uuid4())
    ref = names.commit_ref(snap_id)
    fake_engine.route('POST', '/commit', status=201,
                      json={'Id': 'sha256:c'})
    fake_engine.route('GET', '/images/json', json=[])
    refuse_removal(fake_engine, ref)
    glance = FailingGlance()
    with pytest.raises(docker_exception.SnapshotFailed,
                       match='the upload to Glance failed: glance is down'):
        snapshot.Snapshotter(client, image_api=glance).snapshot(
            None, nova_objects.instance(), snap_id, lambda **kw: None)
    assert glance.deleted == [snap_id]
    assert len(removal_attempts(fake_engine, ref)) == 1
    assert len(warned(logs, ref)) == 1
