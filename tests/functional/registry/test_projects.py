"""Projects see and change only what they may, as Glance's owner and
visibility say; a push over a tag keeps the image it replaces."""

import requests

from tests.fixtures import registry as registry_fx
from tests.fixtures.registry import USERS

REPLACED_BY = 'nova_docker_replaced_by'


def _get(registry, user, path, **kwargs):
    return requests.get(registry.url + path, auth=(user, USERS[user][0]),
                        timeout=30, **kwargs)


def test_another_projects_private_image_is_invisible(
        registry, alice, bob, glance_images, engine_refs):
    ref = registry.address + '/secret:1'
    engine_refs.append(ref)
    registry_fx.build_layered_image(alice, ref, layers=2)
    alice.run('push', ref)
    manifest = _get(registry, 'alice', '/v2/secret/manifests/1', headers={
        'Accept': 'application/vnd.docker.distribution.manifest.v2+json'})
    layer = manifest.json()['layers'][0]['digest']

    proc = bob.run('pull', ref, check=False)
    assert proc.returncode != 0
    assert 'not known' in proc.stderr or 'not found' in proc.stderr
    blob = _get(registry, 'bob', '/v2/secret/blobs/' + layer)
    assert blob.status_code == 404
    assert blob.json()['errors'][0]['code'] == 'BLOB_UNKNOWN'
    # Nor through a repository of bob's own.
    assert _get(registry, 'bob',
                '/v2/bobs/blobs/' + layer).status_code == 404
    assert 'secret' not in _get(registry, 'bob',
                                '/v2/_catalog').json()['repositories']


def test_same_repository_name_in_two_projects(
        registry, alice, bob, glance_images, engine_refs):
    ref = registry.address + '/shared-name:1'
    engine_refs.append(ref)
    alice_id = registry_fx.build_layered_image(alice, ref, layers=2)
    alice.run('push', ref)
    alice.run('rmi', ref)
    bob_id = registry_fx.build_layered_image(bob, ref, layers=3)
    bob.run('push', ref)

    images = glance_images.list_images(name='eq:shared-name:1')
    assert sorted(i['owner'] for i in images) == ['project-a', 'project-b']
    assert not any(i.get(REPLACED_BY) for i in images)
    bob.run('rmi', ref)
    alice.run('pull', ref)
    assert alice.image_id(ref) == alice_id
    alice.run('rmi', ref)
    bob.run('pull', ref)
    assert bob.image_id(ref) == bob_id


def test_a_public_image_is_pullable_by_every_project(
        registry, alice, bob, glance_images, engine_refs):
    ref = registry.address + '/open:1'
    engine_refs.append(ref)
    image_id = registry_fx.build_layered_image(alice, ref, layers=2)
    alice.run('push', ref)
    [tag] = glance_images.list_images(name='eq:open:1')
    glance_images.session.patch(
        glance_images.url + '/v2/images/' + tag['id'],
        json=[{'op': 'replace', 'path': '/visibility', 'value': 'public'}],
        headers={'Content-Type':
                 'application/openstack-images-v2.1-json-patch'}
    ).raise_for_status()
    alice.run('rmi', ref)

    bob.run('pull', ref)

    assert bob.image_id(ref) == image_id


def test_a_push_over_a_tag_keeps_the_replaced_image(
        registry, alice, glance_images, engine_refs):
    ref = registry.address + '/moving:1'
    engine_refs.append(ref)
    registry_fx.build_layered_image(alice, ref, layers=2)
    alice.run('push', ref)
    [first] = glance_images.list_images(name='eq:moving:1')
    alice.run('rmi', ref)
    second_id = registry_fx.build_layered_image(alice, ref, layers=3)

    alice.run('push', ref)

    [current] = glance_images.list_images(name='eq:moving:1')
    assert current['id'] != first['id']
    old = glance_images.get_image(first['id'])
    assert old['status'] == 'active'
    assert old[REPLACED_BY] == current['id']
    assert old['name'] == '(replaced) moving:1'
    alice.run('rmi', ref)
    alice.run('pull', ref)
    assert alice.image_id(ref) == second_id
