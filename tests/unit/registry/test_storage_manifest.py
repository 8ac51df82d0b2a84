"""A manifest PUT's Glance calls: the lookups of the blobs it names run
side by side, and so do the manifest's own image and the tag's archive,
whose upload ends only once the manifest is stored; a manifest that
can't be stored leaves no tag."""

import gzip
import io
import json
import tarfile
import threading
import time

import pytest

from nova_docker.registry import auth
from nova_docker.registry import errors
from nova_docker.registry import manifests
from nova_docker.registry import records
from nova_docker.registry import storage
from tests.fixtures.byte_streams import digest
from tests.fixtures.byte_streams import tar_of

SEALER = records.Sealer('k' * 32)
ALICE = auth.Principal('alice', 'project-a')
# Each Glance call lasts this long: long enough for calls in flight
# together to overlap whatever the machine's load.
CALL = 0.05


class _Glance:
    """Images in memory; every call lasts CALL seconds, and the calls in
    flight at once and the order uploads end in are recorded."""

    def __init__(self, fail_manifest=False):
        self.held = {}
        self.data = {}
        self.fail_manifest = fail_manifest
        self.ended = []
        self.in_flight = self.most_in_flight = 0
        self.uploading_tag = False
        self.stored_during_tag_upload = False
        self._lock = threading.Lock()

    def _call(self):
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(CALL)
        with self._lock:
            self.in_flight -= 1

    def as_user(self, token):
        return self

    def add(self, image_id, data, **props):
        self.held[image_id] = dict(
            id=image_id, owner='project-a', size=len(data), status='active',
            os_hidden=True, created_at='2026-01-01T00:00:00Z',
            **SEALER.sealed(image_id, 'project-a', **props))
        self.data[image_id] = data

    def images(self, **filters):
        self._call()
        keys = (storage.BLOB, 'owner', 'name')
        wanted = {k: v[3:] if k == 'name' else v
                  for k, v in filters.items() if k in keys}
        return [dict(i) for i in self.held.values()
                if all(i.get(k) == v for k, v in wanted.items())]

    def image(self, image_id):
        self._call()
        return dict(self.held[image_id])

    def create(self, id, **body):
        self._call()
        self.held[id] = dict(body, id=id, status='queued', size=None,
                             created_at='2026-01-02T00:00:00Z')
        return dict(self.held[id])

    def upload(self, image_id, payload):
        image = self.held[image_id]
        tag = image.get('container_format') == 'docker'
        self.uploading_tag |= tag
        try:
            data = b''.join(payload)
            self._call()
            if image.get(storage.MEDIA_TYPE) and self.fail_manifest:
                raise errors.Unavailable('Glance failed the upload')
        finally:
            self.uploading_tag &= not tag
        if not tag and self.uploading_tag:
            self.stored_during_tag_upload = True
        image.update(status='active', size=len(data))
        self.data[image_id] = data
        self.ended.append(image.get('name'))

    def delete(self, image_id):
        self._call()
        del self.held[image_id]

    def download(self, image_id, start=0, end=None):
        self._call()
        return iter([self.data[image_id][start:end]])

    def read(self, image_id, start, end):
        return b''.join(self.download(image_id, start, end))


def _pushed(glance, layers=3):
    """Blob images of a config and ``layers`` gzip layers; the manifest
    naming them."""
    plains = [tar_of([('file', b'%d' % n)]) for n in range(layers)]
    config = json.dumps({'architecture': 'amd64', 'rootfs': {
        'type': 'layers', 'diff_ids': [digest(p) for p in plains]}}
    ).encode()
    glance.add('config', config, **{storage.BLOB: digest(config),
                                    storage.REPOSITORY: 'app'})
    descriptors = []
    for n, plain in enumerate(plains):
        blob = gzip.compress(plain)
        glance.add('layer%d' % n, blob, **{
            storage.BLOB: digest(blob), storage.REPOSITORY: 'app',
            storage.DIFF_ID: digest(plain),
            storage.DIFF_SIZE: str(len(plain))})
        descriptors.append({'mediaType': manifests.DOCKER_LAYER_GZIP,
                            'size': len(blob), 'digest': digest(blob)})
    return json.dumps({
        'schemaVersion': 2, 'mediaType': manifests.DOCKER_MANIFEST,
        'config': {'mediaType': manifests.DOCKER_CONFIG,
                   'size': len(config), 'digest': digest(config)},
        'layers': descriptors}).encode()


def _tags(glance):
    return [i for i in glance.held.values()
            if i.get('container_format') == 'docker']


def test_the_blobs_a_manifest_names_are_looked_up_side_by_side():
    glance = _Glance()
    raw = _pushed(glance)
    store = storage.Storage(glance, None, SEALER)
    store.put_manifest(ALICE, 'app', '1', raw, manifests.DOCKER_MANIFEST)
    assert glance.most_in_flight >= 4


def test_the_manifest_is_stored_while_the_archive_uploads_and_first():
    glance = _Glance()
    raw = _pushed(glance)
    store = storage.Storage(glance, None, SEALER)
    manifest = store.put_manifest(ALICE, 'app', '1', raw,
                                  manifests.DOCKER_MANIFEST)
    assert glance.stored_during_tag_upload
    # No pull finds the tag before its manifest: the manifest's image
    # was complete before the tag's was.
    assert glance.ended == ['app@' + manifest.digest, 'app:1']
    [tag] = _tags(glance)
    assert tag['status'] == 'active'


def test_a_manifest_glance_does_not_store_leaves_no_tag():
    glance = _Glance(fail_manifest=True)
    raw = _pushed(glance)
    store = storage.Storage(glance, None, SEALER)
    with pytest.raises(errors.Unavailable, match='failed the upload'):
        store.put_manifest(ALICE, 'app', '1', raw, manifests.DOCKER_MANIFEST)
    assert _tags(glance) == []
    assert sorted(glance.held) == ['config', 'layer0', 'layer1', 'layer2']


def _archive_layers(glance):
    [tag] = _tags(glance)
    with tarfile.open(fileobj=io.BytesIO(glance.data[tag['id']])) as tar:
        manifest = json.load(tar.extractfile('manifest.json'))
        return [tar.extractfile(name).read()
                for name in manifest[0]['Layers']]


@pytest.mark.parametrize('gzip_layers', [True, False])
def test_the_archive_holds_gzip_layers_as_pushed_unless_told(gzip_layers):
    glance = _Glance()
    raw = _pushed(glance, layers=2)
    store = storage.Storage(glance, None, SEALER, max_ratio=100,
                            gzip_layers=gzip_layers)
    store.put_manifest(ALICE, 'app', '1', raw, manifests.DOCKER_MANIFEST)
    blobs = [glance.data['layer%d' % n] for n in range(2)]
    if gzip_layers:
        assert _archive_layers(glance) == blobs
    else:
        assert _archive_layers(glance) == [gzip.decompress(b)
                                           for b in blobs]
