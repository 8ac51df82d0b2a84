"""The OCI distribution-spec conformance list, ported: plain HTTP against
nova-docker-registry as its own process storing into a real glance-api.

Blobs and manifests are built by ``tests/fixtures/registry_client`` (a
gzip'd tar layer, a config whose ``rootfs.diff_ids`` is the sha256 of the
unpacked tar), so no engine is needed. After every bad input the test
checks that nothing new is left in Glance (tag images and hidden blob
images) or in ``upload_dir``.
"""

import http.client
import json
import os
import signal
import socket
import ssl
import time

import pytest
import requests

from tests.fixtures import registry as registry_fx
from tests.fixtures.registry_client import (
    API_VERSION,
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Client,
    config,
    descriptor,
    digest_of,
    error_of,
    forget_everything,
    image_manifest,
    index,
    layer,
    location_of,
)
from tests.fixtures.registry import USERS


@pytest.fixture(scope='module')
def registry(glance_server):
    # Not the conftest's: these tests need no engine.
    server = registry_fx.RegistryServer(glance_server.url, USERS)
    server.setUp()
    yield server
    server.cleanUp()


def _extra_registry(glance_url, **extra):
    server = registry_fx.RegistryServer(glance_url, USERS, extra=extra)
    server.setUp()
    return server


@pytest.fixture
def extra_registry(glance_server):
    """``extra_registry(**options)``: another registry process, stopped
    after the test."""
    started = []

    def start(glance_url=None, **extra):
        server = _extra_registry(glance_url or glance_server.url, **extra)
        started.append(server)
        return server
    yield start
    for server in started:
        server.cleanUp()


@pytest.fixture
def alice(registry):
    return Client(registry, 'alice')


@pytest.fixture
def bob(registry):
    return Client(registry, 'bob')


def _state(glance, *registries):
    return ({i['id'] for i in glance.list_images()},
            {i['id'] for i in glance.list_images(os_hidden='true')},
            [r.uploads_in_flight() for r in registries])


@pytest.fixture
def unchanged(glance_server, registry):
    """``check = unchanged(); ...bad input...; check()``: nothing new in
    Glance (tags or hidden blobs) or in upload_dir since the snapshot."""
    def snapshot(*registries):
        registries = registries or (registry,)
        before = _state(glance_server, *registries)

        def check():
            assert _state(glance_server, *registries) == before
        return check
    return snapshot


@pytest.fixture(autouse=True)
def _clean(glance_server, registry):
    yield
    forget_everything(glance_server, registry)


def _start_upload(client, name):
    resp = client('POST', '/v2/%s/blobs/uploads/' % name)
    assert resp.status_code == 202, resp.text
    return location_of(resp)


# -- the base endpoint ------------------------------------------------------

def test_base_answers_with_the_api_version(alice):
    resp = alice('GET', '/v2/')
    assert resp.status_code == 200
    assert resp.headers['Docker-Distribution-API-Version'] == API_VERSION
    assert resp.json() == {}


@pytest.mark.parametrize('user,password', [(None, None),
                                           ('alice', 'wrong'),
                                           ('nobody', 'secret')])
def test_base_without_good_credentials_is_a_basic_challenge(
        registry, user, password):
    resp = Client(registry, user, password)('GET', '/v2/')
    error_of(resp, 401, 'UNAUTHORIZED')
    assert resp.headers['WWW-Authenticate'].startswith('Basic realm="')


def test_a_push_without_credentials_is_refused(registry, unchanged):
    check = unchanged()
    resp = Client(registry, None)('POST', '/v2/app/blobs/uploads/')
    error_of(resp, 401, 'UNAUTHORIZED')
    assert 'Basic realm=' in resp.headers['WWW-Authenticate']
    check()


# -- pushes of blobs ---------------------------------------------------------

def _blob_image(glance, digest):
    return [i for i in glance.list_images(os_hidden='true')
            if i.get('nova_docker_blob') == digest]


def test_post_then_put_stores_a_hidden_blob_image(
        alice, glance_server, registry):
    data = b'post then put'
    location = _start_upload(alice, 'pushes')
    assert location.startswith('/v2/pushes/blobs/uploads/')
    resp = alice('PUT', location, data=data,
                 params={'digest': digest_of(data)})
    assert resp.status_code == 201
    assert resp.headers['Docker-Content-Digest'] == digest_of(data)
    assert location_of(resp) == '/v2/pushes/blobs/' + digest_of(data)
    [image] = _blob_image(glance_server, digest_of(data))
    assert image['owner'] == 'project-a'
    assert image['container_format'] == 'bare'
    assert image['os_hidden'] is True
    assert registry.uploads_in_flight() == []


def test_monolithic_post_with_digest(alice, glance_server, registry):
    data = b'monolithic'
    resp = alice('POST', '/v2/pushes/blobs/uploads/', data=data,
                 params={'digest': digest_of(data)})
    assert resp.status_code == 201, resp.text
    assert resp.headers['Docker-Content-Digest'] == digest_of(data)
    assert location_of(resp) == '/v2/pushes/blobs/' + digest_of(data)
    assert _blob_image(glance_server, digest_of(data))
    assert registry.uploads_in_flight() == []
    assert alice('GET', resp.headers['Location']).content == data


def test_chunked_patches_with_content_range(alice, registry):
    data = os.urandom(3000)
    location = _start_upload(alice, 'pushes')
    for start in range(0, len(data), 1000):
        chunk = data[start:start + 1000]
        resp = alice('PATCH', location, data=chunk, headers={
            'Content-Range': '%d-%d' % (start, start + len(chunk) - 1),
            'Content-Type': 'application/octet-stream'})
        assert resp.status_code == 202, resp.text
        assert resp.headers['Range'] == '0-%d' % (start + len(chunk) - 1)
        location = location_of(resp)
        assert resp.headers['Docker-Upload-UUID'] in location
    resp = alice('PUT', location, params={'digest': digest_of(data)})
    assert resp.status_code == 201, resp.text
    assert alice('GET', '/v2/pushes/blobs/' + digest_of(data)).content == data
    assert registry.uploads_in_flight() == []


def test_a_layer_sent_in_odd_chunks_makes_an_image(alice):
    blob, diff_id = layer(b'odd chunks')
    cfg = config([diff_id])
    location = _start_upload(alice, 'chunks')
    # The gzip magic split over two PATCHes.
    for start, end in ((0, 1), (1, 2), (2, len(blob))):
        resp = alice('PATCH', location, data=blob[start:end], headers={
            'Content-Range': '%d-%d' % (start, end - 1)})
        assert resp.status_code == 202, resp.text
    resp = alice('PUT', location, params={'digest': digest_of(blob)})
    assert resp.status_code == 201, resp.text
    alice.push_blob('chunks', cfg)
    resp = alice.put_manifest('chunks', 'v1', image_manifest(cfg, [blob]))
    assert resp.status_code == 201, resp.text


def test_a_patch_stream_without_content_range(alice):
    data = os.urandom(5000)
    location = _start_upload(alice, 'pushes')
    # A generator: sent with Transfer-Encoding chunked, as docker does.
    resp = alice('PATCH', location, data=iter([data[:2000], data[2000:]]))
    assert resp.status_code == 202, resp.text
    assert resp.headers['Range'] == '0-4999'
    resp = alice('PUT', location, params={'digest': digest_of(data)})
    assert resp.status_code == 201, resp.text


def test_a_patch_at_the_wrong_offset_is_416_and_the_upload_goes_on(
        alice, unchanged):
    location = _start_upload(alice, 'pushes')
    resp = alice('PATCH', location, data=b'abcd',
                 headers={'Content-Range': '0-3'})
    assert resp.status_code == 202
    check = unchanged()
    for content_range in ('10-13', '0-3', '2-5'):
        resp = alice('PATCH', location, data=b'efgh',
                     headers={'Content-Range': content_range})
        error = error_of(resp, 416, 'RANGE_INVALID')
        assert 'has 4 bytes' in error['message']
        assert resp.headers['Range'] == '0-3'
        check()
    resp = alice('PATCH', location, data=b'efgh',
                 headers={'Content-Range': '4-7'})
    assert resp.status_code == 202
    resp = alice('PUT', location, params={'digest': digest_of(b'abcdefgh')})
    assert resp.status_code == 201, resp.text


def test_a_content_range_that_disagrees_with_the_length_is_416(
        alice, unchanged):
    location = _start_upload(alice, 'pushes')
    check = unchanged()
    resp = alice('PATCH', location, data=b'abcd',
                 headers={'Content-Range': '0-9'})
    error_of(resp, 416, 'RANGE_INVALID')
    resp = alice('PATCH', location, data=b'abcd',
                 headers={'Content-Range': 'garbage'})
    error_of(resp, 416, 'RANGE_INVALID')
    check()
    assert alice('GET', location).headers['Range'] == '0-0'


def test_upload_status_is_204_with_its_range(alice):
    location = _start_upload(alice, 'pushes')
    resp = alice('GET', location)
    assert resp.status_code == 204
    assert resp.headers['Range'] == '0-0'
    assert location_of(resp) == location
    alice('PATCH', location, data=b'x' * 10)
    resp = alice('GET', location)
    assert resp.status_code == 204
    assert resp.headers['Range'] == '0-9'
    assert resp.headers['Docker-Upload-UUID'] == location.rsplit('/', 1)[1]


def test_a_cancelled_upload_is_gone(alice, registry, unchanged):
    check = unchanged()
    location = _start_upload(alice, 'pushes')
    alice('PATCH', location, data=b'some data')
    assert len(registry.uploads_in_flight()) == 2
    resp = alice('DELETE', location)
    assert resp.status_code == 204
    assert registry.uploads_in_flight() == []
    for method, kwargs in (('GET', {}), ('PATCH', {'data': b'more'}),
                           ('PUT', {'params': {'digest': digest_of(b'x')}}),
                           ('DELETE', {})):
        error_of(alice(method, location, **kwargs), 404,
                 'BLOB_UPLOAD_UNKNOWN')
    check()


def test_an_upload_is_its_repository_and_project_only(alice, bob, unchanged):
    location = _start_upload(alice, 'pushes')
    check = unchanged()
    error_of(bob('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN')
    error_of(bob('PATCH', location, data=b'x'), 404, 'BLOB_UPLOAD_UNKNOWN')
    other = location.replace('/pushes/', '/elsewhere/')
    error_of(alice('GET', other), 404, 'BLOB_UPLOAD_UNKNOWN')
    error_of(alice('GET', '/v2/pushes/blobs/uploads/not-an-id'), 404,
             'BLOB_UPLOAD_UNKNOWN')
    check()


def test_a_wrong_digest_at_the_final_put_discards_the_upload(
        alice, unchanged):
    check = unchanged()
    location = _start_upload(alice, 'pushes')
    resp = alice('PUT', location, data=b'the data',
                 params={'digest': digest_of(b'other data')})
    error = error_of(resp, 400, 'DIGEST_INVALID')
    assert digest_of(b'the data') in error['message']
    check()
    error_of(alice('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN')


def test_a_final_put_without_digest_keeps_the_upload(alice, unchanged):
    location = _start_upload(alice, 'pushes')
    check = unchanged()
    for params in ({}, {'digest': ''}):
        resp = alice('PUT', location, data=b'data', params=params)
        error = error_of(resp, 400, 'DIGEST_INVALID')
        assert '?digest=' in error['message']
        check()
    # Its body was not taken: the upload goes on from where it was.
    assert alice('GET', location).headers['Range'] == '0-0'
    resp = alice('PUT', location, data=b'data',
                 params={'digest': digest_of(b'data')})
    assert resp.status_code == 201


@pytest.mark.parametrize('digest', ['sha256:abc', 'md5:' + 'a' * 32,
                                    'sha256:' + 'A' * 64])
def test_a_malformed_digest_is_digest_invalid(alice, unchanged, digest):
    check = unchanged()
    location = _start_upload(alice, 'pushes')
    resp = alice('PUT', location, data=b'data', params={'digest': digest})
    error_of(resp, 400, 'DIGEST_INVALID')
    resp = alice('POST', '/v2/pushes/blobs/uploads/', data=b'data',
                 params={'digest': digest})
    error_of(resp, 400, 'DIGEST_INVALID')
    check()


def test_a_monolithic_post_with_a_wrong_digest_leaves_nothing(
        alice, unchanged):
    check = unchanged()
    resp = alice('POST', '/v2/pushes/blobs/uploads/', data=b'data',
                 params={'digest': digest_of(b'not the data')})
    error_of(resp, 400, 'DIGEST_INVALID')
    check()


# -- reads of blobs --------------------------------------------------------

def test_head_and_get_of_a_blob(alice):
    data = os.urandom(2000)
    digest = alice.push_blob('reads', data)
    resp = alice('HEAD', '/v2/reads/blobs/' + digest)
    assert resp.status_code == 200
    assert resp.headers['Docker-Content-Digest'] == digest
    assert resp.headers['Content-Length'] == '2000'
    assert resp.content == b''
    resp = alice('GET', '/v2/reads/blobs/' + digest)
    assert resp.status_code == 200
    assert resp.headers['Docker-Content-Digest'] == digest
    assert resp.headers['Content-Length'] == '2000'
    assert resp.headers['ETag'] == '"%s"' % digest
    assert resp.content == data


@pytest.mark.parametrize('wanted,first,last', [
    ('bytes=0-9', 0, 9), ('bytes=100-', 100, 1999), ('bytes=-10', 1990, 1999),
    ('bytes=1990-5000', 1990, 1999)])
def test_a_range_get_is_206(alice, wanted, first, last):
    data = os.urandom(2000)
    digest = alice.push_blob('ranges', data)
    resp = alice('GET', '/v2/ranges/blobs/' + digest,
                 headers={'Range': wanted})
    assert resp.status_code == 206, resp.text
    assert resp.headers['Content-Range'] == 'bytes %d-%d/2000' % (first, last)
    assert resp.headers['Content-Length'] == str(last - first + 1)
    assert resp.content == data[first:last + 1]


@pytest.mark.parametrize('wanted', ['bytes=2000-', 'bytes=5000-6000',
                                    'bytes=-0', 'items=0-1'])
def test_an_unsatisfiable_range_is_416(alice, wanted):
    digest = alice.push_blob('ranges', os.urandom(2000))
    resp = alice('GET', '/v2/ranges/blobs/' + digest,
                 headers={'Range': wanted})
    error_of(resp, 416, 'RANGE_INVALID')
    assert resp.headers['Content-Range'] == 'bytes */2000'


def test_an_unknown_blob_is_404(alice, bob):
    digest = digest_of(b'never pushed')
    error = error_of(alice('GET', '/v2/reads/blobs/' + digest), 404,
                     'BLOB_UNKNOWN')
    assert error['detail'] == {'digest': digest}
    resp = alice('HEAD', '/v2/reads/blobs/' + digest)
    assert resp.status_code == 404
    assert resp.content == b''
    # Another project's private blob is unknown too, even by digest.
    pushed = bob.push_blob('bobs', b'bob private')
    error_of(alice('GET', '/v2/bobs/blobs/' + pushed), 404, 'BLOB_UNKNOWN')
    error_of(alice('GET', '/v2/reads/blobs/sha256:nothex'), 400,
             'DIGEST_INVALID')


def test_delete_of_a_blob_is_unsupported(alice):
    digest = alice.push_blob('reads', b'kept')
    error_of(alice('DELETE', '/v2/reads/blobs/' + digest), 405,
             'UNSUPPORTED')
    assert alice('GET', '/v2/reads/blobs/' + digest).content == b'kept'


# -- cross-repository mounts -------------------------------------------------

def test_a_mount_of_a_readable_blob_is_201(alice, glance_server, registry):
    digest = alice.push_blob('source', b'mounted blob')
    resp = alice('POST', '/v2/target/blobs/uploads/',
                 params={'mount': digest, 'from': 'source'})
    assert resp.status_code == 201, resp.text
    assert location_of(resp) == '/v2/target/blobs/' + digest
    assert resp.headers['Docker-Content-Digest'] == digest
    assert alice('GET', '/v2/target/blobs/' + digest).content == \
        b'mounted blob'
    assert registry.uploads_in_flight() == []
    # The caller's project had it already: not copied.
    assert len(_blob_image(glance_server, digest)) == 1


def test_a_mount_of_another_projects_public_tag_copies_the_blob(
        alice, bob, glance_server):
    raw = bob.push_image('shared', '1', 'public')
    [tag] = glance_server.list_images(name='eq:shared:1')
    glance_server.set_properties(tag['id'], visibility='public')
    layer_digest = json.loads(raw)['layers'][0]['digest']
    time.sleep(1.1)  # the registry's listing cache
    resp = alice('POST', '/v2/mine/blobs/uploads/',
                 params={'mount': layer_digest, 'from': 'shared'})
    assert resp.status_code == 201, resp.text
    owners = sorted(i['owner'] for i in _blob_image(glance_server,
                                                     layer_digest))
    assert owners == ['project-a', 'project-b']


@pytest.mark.parametrize('case', ['missing blob', 'unreadable source',
                                  'unknown source', 'no from',
                                  'invalid from'])
def test_a_mount_that_cannot_be_done_is_a_202_upload(
        alice, bob, registry, glance_server, case):
    digest = bob.push_blob('bobs', b'private to bob')
    params = {
        'missing blob': {'mount': digest_of(b'nowhere'), 'from': 'bobs'},
        'unreadable source': {'mount': digest, 'from': 'bobs'},
        'unknown source': {'mount': digest, 'from': 'no-such-repo'},
        'no from': {'mount': digest},
        'invalid from': {'mount': digest, 'from': 'Bad..Name'},
    }[case]
    before = _state(glance_server)[:2]
    resp = alice('POST', '/v2/target/blobs/uploads/', params=params)
    assert resp.status_code == 202, resp.text
    location = location_of(resp)
    assert location.startswith('/v2/target/blobs/uploads/')
    assert resp.headers['Docker-Upload-UUID']
    assert _state(glance_server)[:2] == before
    error_of(alice('GET', '/v2/target/blobs/' + digest), 404, 'BLOB_UNKNOWN')
    # The fallback is an ordinary upload.
    resp = alice('PUT', location, data=b'private to bob',
                 params={'digest': digest})
    assert resp.status_code == 201, resp.text
    assert alice('GET', '/v2/target/blobs/' + digest).status_code == 200
    assert registry.uploads_in_flight() == []


def test_a_mount_with_a_malformed_digest_is_digest_invalid(alice, unchanged):
    check = unchanged()
    resp = alice('POST', '/v2/target/blobs/uploads/',
                 params={'mount': 'sha256:zz', 'from': 'source'})
    error_of(resp, 400, 'DIGEST_INVALID')
    check()


# -- manifests ---------------------------------------------------------------

@pytest.mark.parametrize('media_type', [DOCKER_MANIFEST, OCI_MANIFEST])
def test_manifest_put_and_get_by_tag_and_digest(alice, glance_server,
                                                media_type):
    blob, diff_id = layer(b'manifest test ' + media_type.encode())
    cfg = config([diff_id])
    alice.push_blob('mani', blob)
    alice.push_blob('mani', cfg)
    raw = image_manifest(cfg, [blob], media_type)
    digest = digest_of(raw)
    resp = alice.put_manifest('mani', 'v1', raw, media_type)
    assert resp.status_code == 201, resp.text
    assert resp.headers['Docker-Content-Digest'] == digest
    assert location_of(resp) == '/v2/mani/manifests/' + digest
    [tag] = glance_server.list_images(name='eq:mani:v1')
    assert tag['container_format'] == 'docker'
    assert tag['nova_docker_manifest'] == digest
    for ref in ('v1', digest):
        for method in ('GET', 'HEAD'):
            resp = alice(method, '/v2/mani/manifests/' + ref,
                         headers={'Accept': media_type})
            assert resp.status_code == 200, resp.text
            assert resp.headers['Content-Type'] == media_type
            assert resp.headers['Docker-Content-Digest'] == digest
            assert resp.headers['Content-Length'] == str(len(raw))
            assert resp.content == (raw if method == 'GET' else b'')


def test_a_manifest_put_by_digest_makes_no_tag(alice, glance_server):
    raw = alice.push_image('bydigest', None, 'by digest', OCI_MANIFEST)
    digest = digest_of(raw)
    assert glance_server.list_images() == []
    resp = alice('GET', '/v2/bydigest/manifests/' + digest,
                 headers={'Accept': OCI_MANIFEST})
    assert resp.status_code == 200
    assert resp.content == raw
    assert resp.headers['Content-Type'] == OCI_MANIFEST
    [stored] = _blob_image(glance_server, digest)
    assert stored['nova_docker_media_type'] == OCI_MANIFEST


def _get(client, path, accepts):
    """GET with each of ``accepts`` as its own Accept line, as docker
    sends them."""
    conn = http.client.HTTPConnection(client.registry.address, timeout=30)
    try:
        conn.putrequest('GET', path)
        user, password = client.session.auth
        conn.putheader('Authorization', requests.auth._basic_auth_str(
            user, password))
        for accept in accepts:
            conn.putheader('Accept', accept)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.getheader('Content-Type'), resp.read()
    finally:
        conn.close()


def test_accept_is_honoured(alice):
    raw = alice.push_image('accept', 'oci', 'accept', OCI_MANIFEST)
    path = '/v2/accept/manifests/oci'
    resp = alice('GET', path, headers={'Accept': DOCKER_MANIFEST})
    error = error_of(resp, 404, 'MANIFEST_UNKNOWN')
    assert 'does not accept' in error['message']
    for accept in (OCI_MANIFEST, '*/*',
                   '%s, %s;q=0.9' % (DOCKER_MANIFEST, OCI_MANIFEST)):
        resp = alice('GET', path, headers={'Accept': accept})
        assert resp.status_code == 200, (accept, resp.text)
        assert resp.content == raw
    status, content_type, body = _get(alice, path, [
        DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST])
    assert (status, content_type, body) == (200, OCI_MANIFEST, raw)
    status, _, body = _get(alice, path, [DOCKER_MANIFEST, DOCKER_LIST])
    assert status == 404
    assert json.loads(body)['errors'][0]['code'] == 'MANIFEST_UNKNOWN'


@pytest.mark.parametrize('index_type,child_type', [
    (OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)])
def test_an_index_of_pushed_manifests(alice, glance_server, index_type,
                                      child_type):
    amd = alice.push_image('multi', None, 'amd64', child_type, 'amd64')
    arm = alice.push_image('multi', None, 'arm64', child_type, 'arm64')
    raw = index([(child_type, amd, 'amd64'), (child_type, arm, 'arm64')],
                index_type)
    resp = alice.put_manifest('multi', 'latest', raw, index_type)
    assert resp.status_code == 201, resp.text
    assert resp.headers['Docker-Content-Digest'] == digest_of(raw)
    [tag] = glance_server.list_images(name='eq:multi:latest')
    assert tag['nova_docker_manifest'] == digest_of(raw)
    resp = alice('GET', '/v2/multi/manifests/latest',
                 headers={'Accept': '%s, %s' % (index_type, child_type)})
    assert resp.status_code == 200
    assert resp.headers['Content-Type'] == index_type
    assert resp.content == raw
    for child in (amd, arm):
        resp = alice('GET', '/v2/multi/manifests/' + digest_of(child),
                     headers={'Accept': child_type})
        assert resp.status_code == 200
        assert resp.content == child
    # A client that takes no index is not given one.
    resp = alice('GET', '/v2/multi/manifests/latest',
                 headers={'Accept': child_type})
    error_of(resp, 404, 'MANIFEST_UNKNOWN')


def test_an_index_naming_a_missing_manifest_is_refused(alice, unchanged):
    raw = index([(OCI_MANIFEST, b'{"not": "pushed"}', 'amd64')])
    check = unchanged()
    for ref in ('latest', digest_of(raw)):
        resp = alice.put_manifest('multi', ref, raw, OCI_INDEX)
        error = error_of(resp, 400, 'MANIFEST_BLOB_UNKNOWN')
        assert error['detail'] == {'digest': digest_of(b'{"not": "pushed"}')}
    check()


def test_an_index_with_no_image_manifest_is_refused_by_tag(
        alice, unchanged):
    raw = index([])
    check = unchanged()
    resp = alice.put_manifest('multi', 'empty', raw, OCI_INDEX)
    error_of(resp, 400, 'MANIFEST_INVALID')
    check()


def test_a_manifest_naming_a_missing_blob_is_refused(alice, unchanged):
    blob, diff_id = layer(b'never uploaded')
    cfg = config([diff_id])
    alice.push_blob('missing', cfg)
    raw = image_manifest(cfg, [blob])
    check = unchanged()
    for ref in ('v1', digest_of(raw)):
        resp = alice.put_manifest('missing', ref, raw)
        error = error_of(resp, 400, 'MANIFEST_BLOB_UNKNOWN')
        assert error['detail'] == {'digest': digest_of(blob)}
    check()
    error_of(alice('GET', '/v2/missing/manifests/v1'), 404, 'NAME_UNKNOWN')


@pytest.mark.parametrize('case', [
    'not json', 'not an object', 'schema 1', 'no layers', 'bad descriptor',
    'unknown media type', 'content type differs', 'wrong size',
    'wrong diff id', 'foreign layer', 'zstd layer'])
def test_an_invalid_manifest_is_manifest_invalid(alice, unchanged, case):
    blob, diff_id = layer(b'invalid manifests')
    cfg = config([diff_id])
    alice.push_blob('invalid', blob)
    alice.push_blob('invalid', cfg)
    good = json.loads(image_manifest(cfg, [blob]))
    content_type = DOCKER_MANIFEST
    body = json.loads(json.dumps(good))
    if case == 'not json':
        body = None
        raw = b'{"schemaVersion": 2,'
    elif case == 'not an object':
        body = [good]
    elif case == 'schema 1':
        body['schemaVersion'] = 1
    elif case == 'no layers':
        del body['layers']
    elif case == 'bad descriptor':
        body['config'] = {'mediaType': DOCKER_CONFIG, 'digest': 'x'}
    elif case == 'unknown media type':
        body['mediaType'] = content_type = 'application/json'
    elif case == 'content type differs':
        content_type = OCI_MANIFEST
    elif case == 'wrong size':
        body['layers'][0]['size'] += 1
    elif case == 'wrong diff id':
        other_cfg = config([digest_of(b'other')])
        alice.push_blob('invalid', other_cfg)
        body['config'] = descriptor(DOCKER_CONFIG, other_cfg)
    elif case == 'foreign layer':
        body['layers'][0]['urls'] = ['http://example.com/layer']
    elif case == 'zstd layer':
        body['layers'][0]['mediaType'] = (
            'application/vnd.oci.image.layer.v1.tar+zstd')
    if body is not None:
        raw = json.dumps(body).encode()
    check = unchanged()
    resp = alice.put_manifest('invalid', 'v1', raw, content_type)
    error_of(resp, 400, 'MANIFEST_INVALID')
    check()


def test_a_manifest_over_max_manifest_size_is_413(alice, unchanged):
    raw = b' ' * (4 * 1024 * 1024 + 1)
    check = unchanged()
    resp = alice.put_manifest('big', 'v1', raw)
    error = error_of(resp, 413, 'SIZE_INVALID')
    assert 'max_manifest_size' in error['message']
    # Sent chunked, without a Content-Length to refuse it by.
    resp = alice('PUT', '/v2/big/manifests/v1',
                 data=iter([raw[:1024 * 1024], raw[1024 * 1024:]]),
                 headers={'Content-Type': DOCKER_MANIFEST})
    error_of(resp, 413, 'SIZE_INVALID')
    check()


def test_a_manifest_of_exactly_max_manifest_size_is_read(alice, unchanged):
    raw = b' ' * (4 * 1024 * 1024 - 20) + b'{"schemaVersion": 1}'
    check = unchanged()
    # Read to the end, then refused for what it is, not for its size.
    error_of(alice.put_manifest('big', 'v1', raw), 400, 'MANIFEST_INVALID')
    check()


def test_a_digest_reference_that_does_not_match_is_digest_invalid(
        alice, unchanged):
    blob, diff_id = layer(b'mismatch')
    cfg = config([diff_id])
    alice.push_blob('mismatch', blob)
    alice.push_blob('mismatch', cfg)
    raw = image_manifest(cfg, [blob])
    check = unchanged()
    resp = alice.put_manifest('mismatch', digest_of(raw + b' '), raw)
    error = error_of(resp, 400, 'DIGEST_INVALID')
    assert digest_of(raw) in error['message']
    resp = alice.put_manifest('mismatch', 'sha256:short', raw)
    error_of(resp, 400, 'DIGEST_INVALID')
    check()


def test_delete_by_tag_then_by_digest(alice, glance_server):
    raw = alice.push_image('deletes', 'one', 'deletes')
    alice.push_image('deletes', 'two', 'deletes two')
    digest = digest_of(raw)

    resp = alice('DELETE', '/v2/deletes/manifests/one')
    assert resp.status_code == 202
    error = error_of(alice('GET', '/v2/deletes/manifests/one'), 404,
                     'MANIFEST_UNKNOWN')
    assert error['detail'] == {'tag': 'one'}
    assert glance_server.list_images(name='eq:deletes:one') == []
    # The manifest itself stays until it is deleted by digest.
    assert alice('GET', '/v2/deletes/manifests/' + digest).status_code == 200

    resp = alice('DELETE', '/v2/deletes/manifests/' + digest)
    assert resp.status_code == 202
    error_of(alice('GET', '/v2/deletes/manifests/' + digest), 404,
             'MANIFEST_UNKNOWN')
    error_of(alice('DELETE', '/v2/deletes/manifests/' + digest), 404,
             'MANIFEST_UNKNOWN')
    error_of(alice('DELETE', '/v2/deletes/manifests/one'), 404,
             'MANIFEST_UNKNOWN')
    assert alice('GET', '/v2/deletes/tags/list').json()['tags'] == ['two']


def test_delete_by_digest_removes_its_tags(alice, glance_server):
    raw = alice.push_image('deldigest', 'a', 'by digest delete')
    resp = alice('PUT', '/v2/deldigest/manifests/b', data=raw,
                 headers={'Content-Type': DOCKER_MANIFEST})
    assert resp.status_code == 201
    resp = alice('DELETE', '/v2/deldigest/manifests/' + digest_of(raw))
    assert resp.status_code == 202
    assert glance_server.list_images() == []
    # No tag left: the repository is gone too.
    error_of(alice('GET', '/v2/deldigest/manifests/a'), 404, 'NAME_UNKNOWN')
    error_of(alice('GET', '/v2/deldigest/tags/list'), 404, 'NAME_UNKNOWN')


def test_another_projects_tag_is_not_deleted(alice, bob, glance_server):
    bob.push_image('bobsrepo', '1', 'bob')
    [tag] = glance_server.list_images(name='eq:bobsrepo:1')
    glance_server.set_properties(tag['id'], visibility='public')
    time.sleep(1.1)  # the registry's listing cache
    error_of(alice('DELETE', '/v2/bobsrepo/manifests/1'), 403, 'DENIED')
    assert glance_server.list_images(name='eq:bobsrepo:1')


# -- tags and catalog ------------------------------------------------------

def test_tags_list_pages_with_n_last_and_link(alice):
    raw = alice.push_image('paged', 'a', 'paged')
    for tag in ('b', 'c', 'd', 'e'):
        resp = alice.put_manifest('paged', tag, raw)
        assert resp.status_code == 201
    resp = alice('GET', '/v2/paged/tags/list')
    assert resp.json() == {'name': 'paged', 'tags': ['a', 'b', 'c', 'd', 'e']}
    assert 'Link' not in resp.headers

    resp = alice('GET', '/v2/paged/tags/list', params={'n': 2})
    assert resp.json()['tags'] == ['a', 'b']
    assert resp.headers['Link'] == \
        '</v2/paged/tags/list?n=2&last=b>; rel="next"'
    resp = alice('GET', '/v2/paged/tags/list?n=2&last=b')
    assert resp.json()['tags'] == ['c', 'd']
    resp = alice('GET', '/v2/paged/tags/list?n=2&last=d')
    assert resp.json()['tags'] == ['e']
    assert 'Link' not in resp.headers
    assert alice('GET', '/v2/paged/tags/list?last=c').json()['tags'] == \
        ['d', 'e']
    assert alice('GET', '/v2/paged/tags/list?n=0').json()['tags'] == []
    error_of(alice('GET', '/v2/paged/tags/list?n=-1'), 400,
             'PAGINATION_NUMBER_INVALID')


def test_catalog_pages_with_n_last(alice, bob):
    raw = alice.push_image('cat-a', 'v1', 'catalog')
    for name in ('cat-b', 'cat-c'):
        alice.push_image(name, 'v1', 'catalog ' + name)
    bob.push_image('cat-bob', 'v1', 'catalog bob')
    assert raw
    resp = alice('GET', '/v2/_catalog')
    assert resp.status_code == 200
    assert resp.json() == {'repositories': ['cat-a', 'cat-b', 'cat-c']}
    resp = alice('GET', '/v2/_catalog', params={'n': 2})
    assert resp.json() == {'repositories': ['cat-a', 'cat-b']}
    assert resp.headers['Link'] == '</v2/_catalog?n=2&last=cat-b>; rel="next"'
    resp = alice('GET', '/v2/_catalog?n=2&last=cat-b')
    assert resp.json() == {'repositories': ['cat-c']}
    assert 'Link' not in resp.headers
    assert bob('GET', '/v2/_catalog').json() == {'repositories': ['cat-bob']}


def test_an_unknown_repository_is_name_unknown(alice):
    error = error_of(alice('GET', '/v2/no-such-repo/tags/list'), 404,
                     'NAME_UNKNOWN')
    assert error['detail'] == {'name': 'no-such-repo'}
    error_of(alice('GET', '/v2/no-such-repo/manifests/latest'), 404,
             'NAME_UNKNOWN')


# -- names and tags ---------------------------------------------------------

def _raw_request(client, method, path, body=b''):
    """A request whose path is sent as written (``requests`` would
    resolve ``..``)."""
    conn = http.client.HTTPConnection(client.registry.address, timeout=30)
    try:
        user, password = client.session.auth
        conn.request(method, path, body=body, headers={
            'Authorization': requests.auth._basic_auth_str(user, password),
            'Content-Type': DOCKER_MANIFEST})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b'{}')
    finally:
        conn.close()


@pytest.mark.parametrize('name', [
    'App', 'a/../b', '..', 'a//b', '-app', 'app-', 'a..b', 'a___b',
    'a/b/', 'x' * 254])
def test_an_invalid_name_is_name_invalid(alice, unchanged, name):
    check = unchanged()
    for method, path in (('POST', '/v2/%s/blobs/uploads/'),
                         ('PUT', '/v2/%s/manifests/latest'),
                         ('GET', '/v2/%s/tags/list'),
                         ('GET', '/v2/%s/blobs/' + digest_of(b'x'))):
        status, body = _raw_request(alice, method, path % name, b'{}')
        assert status == 400, (method, path, status, body)
        [error] = body['errors']
        assert error['code'] == 'NAME_INVALID'
        assert error['detail'] == {'name': name}
        if len(name) > 253:
            assert 'Glance image name' in error['message']
        else:
            assert 'lowercase' in error['message']
    check()


def test_a_name_and_tag_over_255_characters_is_tag_invalid(
        alice, unchanged):
    name = 'n' * 250
    raw = alice.push_image(name, None, 'long name')
    check = unchanged()
    resp = alice.put_manifest(name, 'latest', raw)
    error = error_of(resp, 400, 'TAG_INVALID')
    assert '257 characters' in error['message']
    assert 'Glance image name' in error['message']
    check()
    # Up to 255 is fine.
    assert alice.put_manifest(name, 'v123', raw).status_code == 201


@pytest.mark.parametrize('tag', ['t' * 129, '.hidden', '-dash', 'a+b'])
def test_an_invalid_tag_is_tag_invalid(alice, unchanged, tag):
    raw = alice.push_image('tags', None, 'bad tags')
    check = unchanged()
    error = error_of(alice.put_manifest('tags', tag, raw), 400, 'TAG_INVALID')
    assert 'up to 128' in error['message']
    assert error['detail'] == {'tag': tag}
    check()


def test_a_tag_of_128_characters_is_fine(alice):
    raw = alice.push_image('tags', None, '128')
    assert alice.put_manifest('tags', 't' * 128, raw).status_code == 201


# -- limits -----------------------------------------------------------------

@pytest.fixture
def small(extra_registry):
    return extra_registry(max_blob_size='1024')


def test_a_blob_over_max_blob_size_is_refused(small, unchanged):
    alice = Client(small)
    check = unchanged(small)
    data = os.urandom(2048)
    resp = alice('POST', '/v2/big/blobs/uploads/', data=data,
                 params={'digest': digest_of(data)})
    error = error_of(resp, 413, 'SIZE_INVALID')
    assert 'max_blob_size of 1024' in error['message']
    check()

    location = _start_upload(alice, 'big')
    resp = alice('PATCH', location, data=data[:1000],
                 headers={'Content-Range': '0-999'})
    assert resp.status_code == 202
    resp = alice('PATCH', location, data=data[1000:1100],
                 headers={'Content-Range': '1000-1099'})
    error_of(resp, 413, 'SIZE_INVALID')
    check()
    error_of(alice('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN')

    location = _start_upload(alice, 'big')
    resp = alice('PATCH', location, data=iter([data[:1000], data[1000:]]))
    error_of(resp, 413, 'SIZE_INVALID')
    check()

    location = _start_upload(alice, 'big')
    resp = alice('PUT', location, data=data, params={
        'digest': digest_of(data)})
    error_of(resp, 413, 'SIZE_INVALID')
    check()

    # A declared length over the limit is refused before it is read.
    location = _start_upload(alice, 'big')
    resp = alice('PATCH', location, data=os.urandom(1024 * 1024))
    error_of(resp, 413, 'SIZE_INVALID')
    check()

    # Exactly the limit is fine.
    assert alice.push_blob('big', data[:1024])


def test_an_abandoned_upload_is_reaped(extra_registry):
    server = extra_registry(upload_timeout='1')
    alice = Client(server)
    location = _start_upload(alice, 'stale')
    alice('PATCH', location, data=b'abandoned')
    assert len(server.uploads_in_flight()) == 2
    time.sleep(2.5)
    fresh = _start_upload(alice, 'stale')
    # The POST reaped the idle upload, and only it.
    assert server.uploads_in_flight() == sorted(
        fresh.rsplit('/', 1)[1] + ext for ext in ('.data', '.json'))
    error_of(alice('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN')
    assert alice('GET', fresh).status_code == 204


# -- failures and the process -----------------------------------------------

def test_glance_down_is_503_unavailable(extra_registry):
    server = extra_registry(
        glance_url='http://127.0.0.1:%d' % registry_fx.free_port())
    alice = Client(server)
    assert alice('GET', '/v2/').status_code == 200
    digest = digest_of(b'nowhere to go')
    for method, path, kwargs in (
            ('GET', '/v2/app/tags/list', {}),
            ('GET', '/v2/_catalog', {}),
            ('GET', '/v2/app/manifests/latest', {}),
            ('GET', '/v2/app/blobs/' + digest, {}),
            ('POST', '/v2/app/blobs/uploads/',
             {'data': b'nowhere to go', 'params': {'digest': digest}}),
            ('PUT', '/v2/app/manifests/latest',
             {'data': image_manifest(b'{}', []),
              'headers': {'Content-Type': DOCKER_MANIFEST}})):
        resp = alice(method, path, **kwargs)
        error = error_of(resp, 503, 'UNAVAILABLE')
        assert 'Glance' in error['message']
        assert 'Traceback' not in resp.text
    assert server.uploads_in_flight() == []
    assert server.process.poll() is None


def test_a_tls_client_hello_is_refused_at_once(extra_registry):
    """Docker tries https first: the handshake on the plain-http port must
    be refused, not left waiting for request headers that never come
    (every push and pull then waited the header timeout)."""
    server = extra_registry(request_header_timeout='60')
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for _ in range(3):
        with socket.create_connection(('127.0.0.1', server.port),
                                      timeout=10) as sock:
            with pytest.raises((ssl.SSLError, OSError)) as refused:
                context.wrap_socket(sock, server_hostname='127.0.0.1')
            assert not isinstance(refused.value, TimeoutError), \
                'the registry left the TLS handshake unanswered'
    assert server.process.poll() is None
    assert Client(server)('GET', '/v2/').status_code == 200


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_the_process_exits_0_on_a_stop_signal(extra_registry, sig):
    server = extra_registry()
    assert Client(server)('GET', '/v2/').status_code == 200
    assert server.stop(sig) == 0


# -- a blob streamed into Glance while its PATCH arrives (issue 25) ----------

def _unsealed(glance):
    return [i for i in glance.list_images(os_hidden='true')
            if not i.get('nova_docker_blob')]


def test_a_patched_blob_is_in_glance_before_its_put(
        alice, glance_server, registry):
    data = os.urandom(3 * 1024 * 1024 + 5)
    location = _start_upload(alice, 'pushes')
    resp = alice('PATCH', location, data=data)
    assert resp.status_code == 202, resp.text
    [streamed] = _unsealed(glance_server)
    assert streamed['owner'] == 'project-a'
    assert streamed['size'] == len(data)
    assert streamed['status'] == 'active'
    resp = alice('PUT', location, params={'digest': digest_of(data)})
    assert resp.status_code == 201, resp.text
    [image] = _blob_image(glance_server, digest_of(data))
    assert image['id'] == streamed['id']
    assert image['os_hidden'] is True
    assert _unsealed(glance_server) == []
    assert registry.uploads_in_flight() == []
    got = alice('GET', '/v2/pushes/blobs/' + digest_of(data))
    assert got.content == data


def test_a_streamed_upload_with_a_wrong_digest_leaves_nothing(
        alice, unchanged):
    check = unchanged()
    location = _start_upload(alice, 'pushes')
    assert alice('PATCH', location, data=b'the data').status_code == 202
    resp = alice('PUT', location, params={'digest': digest_of(b'other')})
    error_of(resp, 400, 'DIGEST_INVALID')
    check()


def test_a_blob_in_two_patches_leaves_one_image(alice, glance_server):
    data = b'first part, ' + b'second part'
    location = _start_upload(alice, 'pushes')
    assert alice('PATCH', location, data=data[:12]).status_code == 202
    assert alice('PATCH', location, data=data[12:]).status_code == 202
    resp = alice('PUT', location, params={'digest': digest_of(data)})
    assert resp.status_code == 201, resp.text
    [image] = glance_server.list_images(os_hidden='true')
    assert image['nova_docker_blob'] == digest_of(data)
    assert image['size'] == len(data)


def test_a_blob_pushed_twice_keeps_one_image(alice, glance_server):
    data = b'the same blob twice'
    for _ in range(2):
        location = _start_upload(alice, 'pushes')
        assert alice('PATCH', location, data=data).status_code == 202
        resp = alice('PUT', location, params={'digest': digest_of(data)})
        assert resp.status_code == 201, resp.text
    [image] = glance_server.list_images(os_hidden='true')
    assert image['nova_docker_blob'] == digest_of(data)
