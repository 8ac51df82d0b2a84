"""docker login, push and pull through nova-docker-registry into a real
Glance, with the real engine doing the pushing and pulling."""

import io
import json
import tarfile

import requests

from tests.fixtures import images as image_fx
from tests.fixtures import registry as registry_fx
from tests.fixtures.registry import USERS

BLOB = 'nova_docker_blob'


def _blob_images(glance):
    return glance.list_images(os_hidden='true')


def _push(cli, ref):
    return cli.run('push', ref).stdout


def test_login_with_a_wrong_password_is_refused(registry):
    cli = registry_fx.DockerCLI()
    cli.setUp()
    try:
        proc = cli.run('login', '-u', 'alice', '--password-stdin',
                       registry.address, input='wrong', check=False)
    finally:
        cli.cleanUp()
    assert proc.returncode != 0
    assert 'unauthorized' in proc.stderr.lower()


def test_push_lands_in_glance_and_pull_gives_the_same_image(
        registry, alice, glance_images, engine_refs):
    ref = registry.address + '/app:1'
    engine_refs.append(ref)
    image_id = registry_fx.build_layered_image(alice, ref, layers=3)

    _push(alice, ref)

    [tag] = glance_images.list_images(name='eq:app:1')
    assert tag['container_format'] == 'docker'
    assert tag['disk_format'] == 'raw'
    assert tag['visibility'] == 'private'
    assert tag['owner'] == 'project-a'
    assert tag['status'] == 'active'
    # Three layers, a config and a manifest, each a hidden image.
    blobs = _blob_images(glance_images)
    assert len(blobs) == 5
    assert {b['owner'] for b in blobs} == {'project-a'}

    alice.run('rmi', ref)
    alice.run('pull', ref)
    assert alice.image_id(ref) == image_id
    out = alice.run('run', '--rm', '--network', 'none', ref).stdout
    assert out == 'layer 1\n'


def test_tag_data_is_a_docker_load_archive_of_the_pushed_gzip_blobs(
        registry, alice, glance_images, engine_refs):
    ref = registry.address + '/loadable:1'
    engine_refs.append(ref)
    image_id = registry_fx.build_layered_image(alice, ref, layers=2)
    _push(alice, ref)
    [tag] = glance_images.list_images(name='eq:loadable:1')
    data = glance_images.download(tag['id'])
    pushed = _manifest(registry, 'loadable', '1')

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.load(tar.extractfile('manifest.json'))
        held = [tar.extractfile(name).read()
                for name in manifest[0]['Layers']]
    assert manifest[0]['Config'] == image_id.split(':')[1] + '.json'
    # Each layer as Docker pushed it: gzip, its bytes unchanged, so the
    # push neither unpacks them nor writes them bigger into Glance.
    blobs = [_blob(registry, 'loadable', layer['digest'])
             for layer in pushed['layers']]
    assert held == blobs
    assert all(blob[:2] == b'\x1f\x8b' for blob in blobs)
    alice.run('rmi', ref)
    engine_refs.append('loadable:1')
    assert registry_fx.docker_load(alice, data) == 'Loaded image: loadable:1\n'
    assert alice.image_id('loadable:1') == image_id


def _manifest(registry, name, tag):
    reply = requests.get(
        '%s/v2/%s/manifests/%s' % (registry.url, name, tag),
        auth=('alice', USERS['alice'][0]), timeout=30, headers={
            'Accept': 'application/vnd.docker.distribution.manifest.v2+json'})
    reply.raise_for_status()
    return reply.json()


def _blob(registry, name, digest):
    reply = requests.get('%s/v2/%s/blobs/%s' % (registry.url, name, digest),
                         auth=('alice', USERS['alice'][0]), timeout=30)
    reply.raise_for_status()
    return reply.content


def test_a_second_tag_reuses_the_blobs(registry, alice, glance_images,
                                       engine_refs):
    ref = registry.address + '/reuse:1'
    second = registry.address + '/reuse:2'
    engine_refs.extend([ref, second])
    registry_fx.build_layered_image(alice, ref, layers=3)
    _push(alice, ref)
    before = {b[BLOB] for b in _blob_images(glance_images)}

    alice.run('tag', ref, second)
    out = _push(alice, second)

    assert out.count('Layer already exists') == 3
    after = [b[BLOB] for b in _blob_images(glance_images)]
    assert set(after) == before
    assert len(after) == len(set(after)), 'a blob was stored twice'
    assert {i['name'] for i in glance_images.list_images()} == {
        'reuse:1', 'reuse:2'}


def test_a_restarted_registry_serves_what_was_pushed(
        registry, alice, glance_images, engine_refs):
    ref = registry.address + '/durable:1'
    engine_refs.append(ref)
    image_id = registry_fx.build_layered_image(alice, ref, layers=2)
    _push(alice, ref)
    alice.run('rmi', ref)

    registry.restart()

    alice.run('pull', ref)
    assert alice.image_id(ref) == image_id


def test_an_uploaded_docker_save_archive_is_pullable_as_booted(
        registry, alice, glance_images, engine_refs):
    archive = image_fx.docker_save_tar('ignored:1', ['/bin/echo', 'saved'])
    glance_images.create_image('saved:1', archive, visibility='private',
                               owner='project-a')
    ref = registry.address + '/saved:1'
    engine_refs.append(ref)

    alice.run('pull', ref)

    # The id a boot gets: the config digest of the archive.
    assert alice.image_id(ref) == 'sha256:' + image_fx.saved_image_id(
        archive)
    assert alice.run('run', '--rm', '--network', 'none',
                     ref).stdout == 'saved\n'


def test_a_root_filesystem_tar_is_a_one_layer_image_with_its_command(
        registry, alice, glance_images, engine_refs):
    glance_images.create_image('rootfs:1', image_fx.busybox_rootfs_tar(),
                               visibility='public',
                               os_command_line='/bin/echo from glance')
    ref = registry.address + '/rootfs:1'
    engine_refs.append(ref)

    alice.run('pull', ref)
    first = alice.image_id(ref)
    assert alice.run('run', '--rm', '--network', 'none',
                     ref).stdout == 'from glance\n'
    alice.run('rmi', ref)
    alice.run('pull', ref)

    assert alice.image_id(ref) == first, 'the digest changed between pulls'


def test_an_image_without_a_tag_is_its_latest_and_its_id_a_repository(
        registry, alice, glance_images, engine_refs):
    archive = image_fx.docker_save_tar(None, ['/bin/echo', 'snapshot'])
    image = glance_images.create_image('snap-1', archive,
                                       visibility='private',
                                       owner='project-a')
    by_name = registry.address + '/snap-1'
    by_id = '%s/%s:latest' % (registry.address, image['id'])
    engine_refs.extend([by_name, by_id])

    alice.run('pull', by_name)
    alice.run('pull', by_id)

    expected = 'sha256:' + image_fx.saved_image_id(archive)
    assert alice.image_id(by_name) == alice.image_id(by_id) == expected


def test_a_second_registry_process_serves_what_the_first_stored(
        registry, glance_server, alice, glance_images, engine_refs):
    ref = registry.address + '/twice:1'
    engine_refs.append(ref)
    image_id = registry_fx.build_layered_image(alice, ref, layers=2)
    alice.run('push', ref)
    other = registry_fx.RegistryServer(glance_server.url, USERS)
    other.setUp()
    try:
        other_ref = other.address + '/twice:1'
        engine_refs.append(other_ref)
        alice.login(other.address, 'alice', USERS['alice'][0])
        alice.run('pull', other_ref)
    finally:
        other.cleanUp()
    assert alice.image_id(other_ref) == image_id


def test_anonymous_pull_serves_public_images_only(
        glance_server, glance_images, tmp_path):
    public = glance_images.create_image(
        'anon:1', image_fx.docker_save_tar(None, ['/bin/true']),
        visibility='public')
    glance_images.create_image(
        'hidden:1', image_fx.docker_save_tar(None, ['/bin/false']),
        visibility='private', owner='project-a')
    server = registry_fx.RegistryServer(glance_server.url, USERS,
                                        extra={'anonymous_pull': 'true'})
    server.setUp()
    try:
        accept = {'Accept': 'application/vnd.docker.distribution.'
                            'manifest.v2+json'}
        ok = requests.get(server.url + '/v2/anon/manifests/1',
                          headers=accept, timeout=30)
        hidden = requests.get(server.url + '/v2/hidden/manifests/1',
                              headers=accept, timeout=30)
        push = requests.post(server.url + '/v2/anon/blobs/uploads/',
                             timeout=30)
    finally:
        server.cleanUp()
    assert ok.status_code == 200, ok.text
    assert ok.json()['config']['digest'] == 'sha256:' + \
        image_fx.saved_image_id(glance_images.download(public['id']))
    assert hidden.status_code == 404
    assert push.status_code == 401
    assert push.headers['WWW-Authenticate'].startswith('Basic ')


def test_archive_gzip_layers_off_stores_the_layers_unpacked(
        glance_server, glance_images, engine_refs):
    server = registry_fx.RegistryServer(
        glance_server.url, USERS, extra={'archive_gzip_layers': 'false'})
    server.setUp()
    cli = registry_fx.DockerCLI()
    cli.setUp()
    try:
        cli.login(server.address, 'alice', USERS['alice'][0])
        ref = server.address + '/unpacked:1'
        engine_refs.append(ref)
        image_id = registry_fx.build_layered_image(cli, ref, layers=2)
        _push(cli, ref)
        cli.run('rmi', ref)
        [tag] = glance_images.list_images(name='eq:unpacked:1')
        data = glance_images.download(tag['id'])
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            manifest = json.load(tar.extractfile('manifest.json'))
            heads = [tar.extractfile(name).read(2)
                     for name in manifest[0]['Layers']]
        assert heads and b'\x1f\x8b' not in heads
        engine_refs.append('unpacked:1')
        assert registry_fx.docker_load(cli, data) == \
            'Loaded image: unpacked:1\n'
        assert cli.image_id('unpacked:1') == image_id
    finally:
        cli.cleanUp()
        server.cleanUp()
