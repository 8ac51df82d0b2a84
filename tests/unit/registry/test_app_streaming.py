"""The PATCH handler's stream into Glance, with the storage passed in: a
Glance that can't take the stream does not fail the upload."""

import base64
import hashlib
import os
import time

import webob

from nova_docker.registry import app
from nova_docker.registry import auth
from nova_docker.registry import errors
from nova_docker.registry import streaming
from nova_docker.registry import uploads


class _Auth(auth.Authenticator):
    def __init__(self):
        super().__init__(60)

    def check(self, user, password):
        return auth.Principal(user, 'project-a')


class _NoStreamStorage:
    """Glance is down when a stream starts; the blob is stored (copied
    from the upload file) at the PUT."""

    def __init__(self):
        self.stored = []

    def start_stream(self, principal, name):
        raise errors.Unavailable('Glance can not be reached')

    def store_blob(self, principal, name, finished, streamed=None):
        with open(finished.path, 'rb') as f:
            self.stored.append((finished.digest, f.read(), streamed))
        return False

    def discard_stream(self, image_id):
        raise AssertionError('no stream was made')


def _call(registry, method, path, body=b''):
    request = webob.Request.blank(path, method=method, body=body)
    request.headers['Authorization'] = 'Basic ' + base64.b64encode(
        b'alice:pw').decode()
    return request.get_response(registry)


def test_a_patch_goes_on_when_glance_cannot_take_the_stream(tmp_path):
    storage = _NoStreamStorage()
    in_flight = uploads.Uploads(str(tmp_path / 'u'), 10 ** 6, 60)
    registry = app.Registry(storage, in_flight, _Auth())
    resp = _call(registry, 'POST', '/v2/app/blobs/uploads/')
    assert resp.status_int == 202
    location = resp.headers['Location']
    resp = _call(registry, 'PATCH', location, b'the blob')
    assert resp.status_int == 202, resp.text
    digest = 'sha256:' + hashlib.sha256(b'the blob').hexdigest()
    resp = _call(registry, 'PUT', location + '?digest=' + digest)
    assert resp.status_int == 201, resp.text
    assert storage.stored == [(digest, b'the blob', None)]


class _StreamStorage(_NoStreamStorage):
    """A stream whose Glance upload looks, while it is being filled,
    at what the upload's side file says about it."""

    def __init__(self, in_flight):
        super().__init__()
        self.in_flight = in_flight
        self.seen_while_filling = []
        self.discarded = []

    def start_stream(self, principal, name):
        def upload(image_id, chunks):
            for _ in chunks:
                for entry in os.listdir(self.in_flight.directory):
                    if entry.endswith('.json'):
                        self.seen_while_filling.append(
                            self.in_flight.streamed(entry.split('.')[0]))
        return streaming.BlobStream('img-1', upload, self.discarded.append)

    def discard_stream(self, image_id):
        self.discarded.append(image_id)


def test_the_upload_names_its_image_while_the_patch_fills_it(tmp_path):
    in_flight = uploads.Uploads(str(tmp_path / 'u'), 10 ** 6, 60)
    storage = _StreamStorage(in_flight)
    in_flight.discard = storage.discard_stream
    registry = app.Registry(storage, in_flight, _Auth())
    location = _call(registry, 'POST', '/v2/app/blobs/uploads/').headers[
        'Location']
    resp = _call(registry, 'PATCH', location, b'the blob')
    assert resp.status_int == 202, resp.text
    assert storage.seen_while_filling
    assert set(storage.seen_while_filling) == {('img-1', None)}
    # Killed now, the reaper of any process would delete it.
    upload_id = location.rsplit('/', 1)[1]
    assert in_flight.streamed(upload_id) == ('img-1', len(b'the blob'))
    assert in_flight.reap(now=time.time() + 120) == [upload_id]
    assert storage.discarded == ['img-1']
