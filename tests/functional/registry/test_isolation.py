"""A project reaches only its own data through the registry, whatever
records, names and shares another project (or a Nova snapshot) sets up
in Glance: a real glance-api and the registry as its own process.

alice (project-a) is the victim, bob (project-b) the hostile tenant who
may set any property on images of his own.
"""

import json
import time

import pytest

from tests.fixtures import images as image_fx
from tests.fixtures import registry as registry_fx
from tests.fixtures.registry_client import DOCKER_MANIFEST
from tests.fixtures.registry_client import OCI_INDEX
from tests.fixtures.registry_client import Client
from tests.fixtures.registry_client import digest_of
from tests.fixtures.registry_client import error_of
from tests.fixtures.registry_client import forget_everything
from tests.fixtures.registry_client import index

MANIFEST = 'nova_docker_manifest'
SEAL = 'nova_docker_seal'
REPLACED_BY = 'nova_docker_replaced_by'
ACCEPT = {'Accept': DOCKER_MANIFEST}


@pytest.fixture(scope='module')
def registry(glance_server):
    server = registry_fx.RegistryServer(glance_server.url,
                                        registry_fx.USERS)
    server.setUp()
    yield server
    server.cleanUp()


@pytest.fixture
def alice(registry):
    return Client(registry, 'alice')


@pytest.fixture
def bob(registry):
    return Client(registry, 'bob')


@pytest.fixture(autouse=True)
def _clean(glance_server, registry):
    yield
    forget_everything(glance_server, registry)


def _tag_image(glance, name):
    [image] = glance.list_images(name='eq:' + name)
    return image


def _owners_of_blob(glance, digest):
    return sorted(i['owner'] for i in glance.list_images(os_hidden='true')
                  if i.get('nova_docker_blob') == digest)


def _alices_secret(alice):
    raw = alice.push_image('secret', '1', 'alice private')
    parsed = json.loads(raw)
    return raw, parsed['config']['digest'], parsed['layers'][0]['digest']


def _forge(glance, bob, name, manifest_digest):
    """bob's own pushed tag, its record pointed at ``manifest_digest``
    (its old seal kept): the strongest forgery he can make."""
    bob.push_image(name, '1', 'bob own')
    tag = _tag_image(glance, name + ':1')
    glance.set_properties(tag['id'], **{MANIFEST: manifest_digest})
    time.sleep(1.1)  # the registry's listing cache
    return tag


# -- forged records ------------------------------------------------------

def test_a_forged_manifest_record_pulls_nothing_of_another_project(
        alice, bob, glance_server):
    raw, config, layer_digest = _alices_secret(alice)
    _forge(glance_server, bob, 'bobs', digest_of(raw))

    by_tag = bob('GET', '/v2/bobs/manifests/1', headers=ACCEPT)
    assert by_tag.content != raw
    assert raw not in by_tag.content
    by_digest = bob('GET', '/v2/bobs/manifests/' + digest_of(raw),
                    headers=ACCEPT)
    error_of(by_digest, 404, 'MANIFEST_UNKNOWN')
    for digest in (config, layer_digest):
        error_of(bob('GET', '/v2/bobs/blobs/' + digest), 404, 'BLOB_UNKNOWN')
    assert _owners_of_blob(glance_server, layer_digest) == ['project-a']


def test_a_forged_manifest_naming_another_projects_blobs_is_refused(
        alice, bob, glance_server):
    raw, _, layer_digest = _alices_secret(alice)
    _forge(glance_server, bob, 'bobs', digest_of(raw))

    resp = bob.put_manifest('bobs', '2', raw)

    error_of(resp, 400, 'MANIFEST_BLOB_UNKNOWN')
    assert _owners_of_blob(glance_server, layer_digest) == ['project-a']


def test_a_forged_index_naming_another_projects_manifest_is_refused(
        alice, bob, glance_server):
    raw, _, _ = _alices_secret(alice)
    _forge(glance_server, bob, 'bobs', digest_of(raw))

    resp = bob.put_manifest('bobs', '3', index([(DOCKER_MANIFEST, raw,
                                                 'amd64')]), OCI_INDEX)

    error_of(resp, 400, 'MANIFEST_BLOB_UNKNOWN')


def test_a_mount_from_a_forged_repository_is_an_ordinary_upload(
        alice, bob, glance_server):
    raw, _, layer_digest = _alices_secret(alice)
    _forge(glance_server, bob, 'bobs', digest_of(raw))

    resp = bob('POST', '/v2/loot/blobs/uploads/',
               params={'mount': layer_digest, 'from': 'bobs'})

    assert resp.status_code == 202, resp.text
    assert _owners_of_blob(glance_server, layer_digest) == ['project-a']


def test_a_record_copied_onto_another_image_is_not_believed(
        alice, glance_server):
    """As Nova copies the properties of the image a server booted from
    onto its snapshot: the snapshot is served from its own data."""
    raw = alice.push_image('app', '1', 'pushed')
    tag = _tag_image(glance_server, 'app:1')
    copied = {key: value for key, value in tag.items()
              if key.startswith('nova_docker_')}
    assert copied[SEAL]
    snapshot = glance_server.create_image(
        'app-snapshot', image_fx.docker_save_tar(None, ['/bin/true']),
        visibility='private', owner='project-a', **copied)

    resp = alice('GET', '/v2/%s/manifests/latest' % snapshot['id'],
                 headers=ACCEPT)

    assert resp.status_code == 200, resp.text
    assert resp.headers['Docker-Content-Digest'] != digest_of(raw)
    layer = resp.json()['layers'][0]['digest']
    assert alice('GET', '/v2/%s/blobs/%s' % (snapshot['id'], layer)
                 ).status_code == 200


# -- pushes that reuse another project's blobs -------------------------------

def test_a_push_of_anothers_readable_blobs_copies_them_into_the_project(
        alice, bob, glance_server):
    raw = bob.push_image('base', '1', 'public base')
    tag = _tag_image(glance_server, 'base:1')
    glance_server.set_properties(tag['id'], visibility='public')
    layer_digest = json.loads(raw)['layers'][0]['digest']
    time.sleep(1.1)  # the registry's listing cache

    # alice names bob's public blobs in a manifest of her own repository.
    assert alice.put_manifest('base', '2', raw).status_code == 201
    assert _owners_of_blob(glance_server, layer_digest) == [
        'project-a', 'project-b']

    # bob makes his image private again: alice's tag keeps working on
    # her project's copies, and bob's blobs are out of her reach.
    glance_server.set_properties(tag['id'], visibility='private')
    time.sleep(1.1)
    assert alice('GET', '/v2/base/manifests/2',
                 headers=ACCEPT).content == raw
    blob = alice('GET', '/v2/base/blobs/' + layer_digest)
    assert blob.status_code == 200
    error_of(alice('GET', '/v2/base/manifests/1', headers=ACCEPT), 404,
             'MANIFEST_UNKNOWN')


# -- names --------------------------------------------------------------

@pytest.mark.parametrize('visibility', ['community', 'shared'])
def test_anothers_image_does_not_take_a_plain_name(
        alice, bob, glance_server, visibility):
    raw = bob.push_image('app', '1', 'bob ' + visibility)
    tag = _tag_image(glance_server, 'app:1')
    glance_server.set_properties(tag['id'], visibility=visibility)
    if visibility == 'shared':
        _accept_member(glance_server, tag['id'], 'project-a')
    time.sleep(1.1)

    error_of(alice('GET', '/v2/app/manifests/1', headers=ACCEPT), 404,
             'NAME_UNKNOWN')
    assert 'app' not in alice('GET', '/v2/_catalog').json()['repositories']
    by_owner = alice('GET', '/v2/project-b/app/manifests/1', headers=ACCEPT)
    assert by_owner.content == raw
    assert 'project-b/app' in alice('GET',
                                    '/v2/_catalog').json()['repositories']
    by_id = alice('GET', '/v2/%s/manifests/latest' % tag['id'],
                  headers=ACCEPT)
    assert by_id.content == raw


def _accept_member(glance, image_id, project):
    url = glance.url + '/v2/images/%s/members' % image_id
    glance._check(glance.session.post(url, json={'member': project}), 200)
    glance._check(glance.session.put(url + '/' + project,
                                     json={'status': 'accepted'}), 200)


# -- prune --------------------------------------------------------------

def test_prune_acts_only_on_records_it_sealed(alice, bob, glance_server):
    raw = alice.push_image('app', '1', 'kept')
    layer_digest = json.loads(raw)['layers'][0]['digest']
    # bob marks an image of his own replaced (prune would delete it) and
    # points a tag of his at a manifest that does not exist.
    victim = glance_server.create_image(
        'bobs-own:1', b'anything', visibility='private', owner='project-b',
        **{REPLACED_BY: 'whatever'})
    _forge(glance_server, bob, 'bobs', 'sha256:' + '0' * 64)
    glance = registry_fx.glance_client(glance_server.url)

    gone = registry_fx.prune(glance, used=lambda image_id: False)

    assert victim['id'] not in {i['id'] for i in gone}
    assert glance_server.get_image(victim['id'])['status'] == 'active'
    # The forged tag stopped nothing: alice's blobs are still named.
    assert _owners_of_blob(glance_server, layer_digest) == ['project-a']
    assert alice('GET', '/v2/app/blobs/' + layer_digest).status_code == 200
