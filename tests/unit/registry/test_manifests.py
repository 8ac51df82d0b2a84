"""Parsing of pushed manifests and the Accept rules."""

import json

import pytest

from nova_docker.registry import errors
from nova_docker.registry import manifests

DIGEST = 'sha256:' + 'a' * 64
OTHER = 'sha256:' + 'b' * 64


def _image(media_type=manifests.DOCKER_MANIFEST, **changes):
    body = {'schemaVersion': 2, 'mediaType': media_type,
            'config': {'mediaType': manifests.DOCKER_CONFIG, 'size': 10,
                       'digest': DIGEST},
            'layers': [{'mediaType': manifests.DOCKER_LAYER_GZIP,
                        'size': 20, 'digest': OTHER}]}
    body.update(changes)
    return json.dumps(body).encode()


def test_an_image_manifest():
    raw = _image()
    manifest = manifests.parse(raw, manifests.DOCKER_MANIFEST)
    assert manifest.media_type == manifests.DOCKER_MANIFEST
    assert manifest.raw == raw
    assert manifest.digest == manifests.digest_of(raw)
    assert not manifest.is_index
    assert [b.digest for b in manifest.blobs()] == [DIGEST, OTHER]
    assert manifest.layers[0].size == 20


def test_the_media_type_may_come_from_the_content_type_alone():
    body = json.loads(_image())
    del body['mediaType']
    manifest = manifests.parse(json.dumps(body).encode(),
                               manifests.OCI_MANIFEST + '; charset=utf-8')
    assert manifest.media_type == manifests.OCI_MANIFEST


def test_an_index():
    raw = json.dumps({'schemaVersion': 2, 'mediaType': manifests.OCI_INDEX,
                      'manifests': [{'mediaType': manifests.OCI_MANIFEST,
                                     'size': 5, 'digest': DIGEST,
                                     'platform': {'os': 'linux'}}]}).encode()
    manifest = manifests.parse(raw, None)
    assert manifest.is_index
    assert manifest.children[0].platform == {'os': 'linux'}
    assert manifest.blobs() == []


@pytest.mark.parametrize('raw,content_type,message', [
    (b'{', None, 'not JSON'),
    (b'\xff', None, 'not JSON'),
    (b'[]', None, 'schemaVersion 2'),
    (_image(schemaVersion=1), None, 'schemaVersion 2'),
    (_image(), manifests.OCI_MANIFEST, 'differs'),
    (_image(mediaType='text/plain'), None, 'not one of'),
    (_image(layers=None), None, 'layers list'),
    (_image(config='x'), None, 'config is not an object'),
    (_image(config={'mediaType': 'x', 'size': -1, 'digest': DIGEST}), None,
     'no valid size'),
    (_image(config={'mediaType': 'x', 'size': True, 'digest': DIGEST}), None,
     'no valid size'),
    (_image(config={'size': 1, 'digest': DIGEST}), None, 'no mediaType'),
    (_image(config={'mediaType': 'x', 'size': 1, 'digest': 'md5:x'}), None,
     'digest'),
    (_image(layers=[{'mediaType': manifests.OCI_LAYER, 'size': 1,
                     'digest': DIGEST, 'urls': ['http://x']}]), None,
     'foreign layer'),
    (_image(layers=[{'mediaType': 'application/x-zstd', 'size': 1,
                     'digest': DIGEST}]), None, 'tar layers'),
    (json.dumps({'schemaVersion': 2,
                 'mediaType': manifests.DOCKER_LIST}).encode(), None,
     'manifests list'),
])
def test_invalid_manifests(raw, content_type, message):
    with pytest.raises(errors.ManifestInvalid, match=message):
        manifests.parse(raw, content_type)


def test_accepted_takes_lines_and_comma_lists():
    assert manifests.accepted([
        'application/a, application/b;q=0.5',
        ' application/c ', '']) == {'application/a', 'application/b',
                                    'application/c'}
    assert manifests.accepted(['']) == set()


@pytest.mark.parametrize('accepts,expected', [
    (set(), manifests.DOCKER_MANIFEST),
    ({'*/*'}, manifests.DOCKER_MANIFEST),
    ({manifests.OCI_MANIFEST}, manifests.OCI_MANIFEST),
    ({manifests.OCI_MANIFEST, manifests.DOCKER_MANIFEST},
     manifests.DOCKER_MANIFEST),
    ({manifests.DOCKER_LIST}, None),
    ({'application/json'}, None),
])
def test_served_type(accepts, expected):
    assert manifests.served_type(accepts) == expected


def test_acceptable():
    assert manifests.acceptable(manifests.OCI_INDEX, set())
    assert manifests.acceptable(manifests.OCI_INDEX, {'*/*'})
    assert not manifests.acceptable(manifests.OCI_INDEX,
                                    {manifests.OCI_MANIFEST})


@pytest.mark.parametrize('media_type', manifests.IMAGE_TYPES)
def test_generated_manifests_are_stable_and_parse(media_type):
    layers = [(DIGEST, 10, True), (OTHER, 20, False)]
    first = manifests.generated(media_type, b'{"a": 1}', layers)
    again = manifests.generated(media_type, b'{"a": 1}', layers)
    assert first.raw == again.raw
    assert first.media_type == media_type
    assert first.config.digest == manifests.digest_of(b'{"a": 1}')
    assert [layer.media_type in manifests.GZIP_LAYERS
            for layer in first.layers] == [True, False]


@pytest.mark.parametrize('media_type', [
    'application/vnd.oci.image.layer.v1.tar+zstd',
    'application/vnd.docker.image.rootfs.diff.tar.zstd'])
def test_a_zstd_layer_is_taken(media_type):
    raw = _image(layers=[{'mediaType': media_type, 'size': 1,
                          'digest': DIGEST}])
    manifest = manifests.parse(raw, None)
    assert manifest.layers[0].media_type in manifests.ZSTD_LAYERS


def test_a_generated_manifest_names_zstd_layers_as_such():
    manifest = manifests.generated(manifests.OCI_MANIFEST, b'{}',
                                   [(DIGEST, 1, 'zstd'), (OTHER, 2, True),
                                    (DIGEST, 3, False)])
    body = json.loads(manifest.raw)
    assert [layer['mediaType'] for layer in body['layers']] == [
        manifests.OCI_LAYER + '+zstd', manifests.OCI_LAYER_GZIP,
        manifests.OCI_LAYER]
