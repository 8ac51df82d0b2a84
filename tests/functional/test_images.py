"""Glance -> engine through the driver, against a real glance-api (nova's
image API pointed at it) and the real engine.

Every image built here carries a unique label, so its engine id is this
test's own: checks and clean-up never touch another test's images.
"""

import gzip
import hashlib
import os
import threading
import uuid

import pytest
from nova import context as nova_context
from nova import exception

from nova_docker import driver as driver_mod
from nova_docker.docker import references
from nova_docker import exception as docker_exception
from nova_docker.image import glance_api
from tests.fixtures import glance as glance_fx
from tests.fixtures.glance_boot import assert_nothing_left
from tests.fixtures.glance_boot import boot
from tests.fixtures.glance_boot import engine_has
from tests.fixtures.glance_boot import image_meta
from tests.fixtures.glance_boot import local_ref
from tests.fixtures.glance_boot import wait_output
from tests.fixtures import images as image_fx
from tests.fixtures.images import engine_id_of
from tests.fixtures.images import save_tar
from tests.fixtures.spies import CountingCalls

pytestmark = pytest.mark.every_engine


def tags(info):
    """An image's names in Docker's form: Podman says docker.io/glance/..
    for glance/..."""
    return [references.familiar(tag) for tag in info.get('RepoTags') or []]


def unique_rootfs(extra=None):
    files = {'etc/motd': uuid.uuid4().hex.encode()}
    files.update(extra or {})
    return image_fx.busybox_rootfs_tar(files)


def tamper(glance_server, image_id, offset_fraction=0.5):
    """Flip one byte of the file Glance stores (its size stays)."""
    path = os.path.join(glance_server.data_dir, image_id)
    with open(path, 'r+b') as f:
        data = bytearray(f.read())
        data[int(len(data) * offset_fraction)] ^= 0xff
        f.seek(0)
        f.write(data)


# -- loading -------------------------------------------------------------

@pytest.mark.parametrize('gz', [False, True], ids=['plain', 'gzip'])
def test_docker_save_image_boots_under_its_glance_id_only(
        gdriver, glance, ctx, engine, instances, local_images, gz):
    tar = save_tar(['/bin/echo', 'hello from save'],
                   repo_tag='someones/app:1', gz=gz)
    image = glance.create_image('someones/app:1', tar)
    local_images.append(local_ref(image['id']))
    inst = instances()

    boot(gdriver, ctx, inst, image['id'])

    info = engine.inspect_image(local_ref(image['id']))
    assert tags(info) == [local_ref(image['id'])]
    assert info['Id'] == engine_id_of(engine, tar)
    assert not engine_has(engine, 'someones/app:1')
    assert wait_output(engine, inst) == b'hello from save\n'


def test_rootfs_image_is_imported_with_os_command_line(
        gdriver, glance, ctx, engine, instances, local_images):
    rootfs = unique_rootfs({'etc/motd': b'motd of the rootfs\n'})
    image = glance.create_image('rootfs', rootfs,
                                os_command_line='/bin/cat /etc/motd')
    local_images.append(local_ref(image['id']))
    inst = instances()

    boot(gdriver, ctx, inst, image['id'])

    info = engine.inspect_image(local_ref(image['id']))
    assert info['Config']['Cmd'] == ['/bin/cat', '/etc/motd']
    assert tags(info) == [local_ref(image['id'])]
    assert wait_output(engine, inst) == b'motd of the rootfs\n'


def test_gzip_rootfs_is_imported(gdriver, glance, ctx, engine,
                                 local_images, loader):
    image = glance.create_image('rootfs-gz', gzip.compress(unique_rootfs()),
                                os_command_line='/bin/true')
    local_images.append(local_ref(image['id']))
    ref = loader.ensure_local(ctx, image_meta(image['id']))
    assert engine.inspect_image(ref)['Config']['Cmd'] == ['/bin/true']


def test_two_projects_same_named_images_never_meet(
        gdriver, glance, engine, instances, local_images):
    """Both images are called app:latest inside and in Glance, and boot at
    the same time."""
    images, insts, errors_seen = {}, {}, []
    for project in ('project-1', 'project-2'):
        tar = save_tar(['/bin/echo', 'I am ' + project],
                       repo_tag='app:latest')
        images[project] = glance.create_image('app:latest', tar,
                                              visibility='private',
                                              owner=project)
        local_images.append(local_ref(images[project]['id']))
        insts[project] = instances(project_id=project)

    def boot_for(project):
        ctx = nova_context.RequestContext('u', project, auth_token='t',
                                          is_admin=False)
        try:
            boot(gdriver, ctx, insts[project], images[project]['id'])
        except Exception as exc:  # reported below, with the project
            errors_seen.append((project, exc))

    threads = [threading.Thread(target=boot_for, args=(p,)) for p in images]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors_seen == []
    for project, inst in insts.items():
        assert wait_output(engine, inst) == ('I am %s\n' % project).encode()
        info = engine.inspect_image(local_ref(images[project]['id']))
        assert tags(info) == [local_ref(images[project]['id'])]
    assert not engine_has(engine, 'app:latest')


def test_concurrent_boots_of_one_image_load_it_once(
        gdriver, glance, ctx, engine, instances, local_images,
        monkeypatch, engine_client, glance_image_api):
    tar = save_tar(['/bin/sh'])
    image = glance.create_image('shared', tar)
    local_images.append(local_ref(image['id']))
    loads = CountingCalls(monkeypatch, engine_client, 'load_image')
    downloads = CountingCalls(monkeypatch, glance_image_api,
                              'download')
    insts = [instances() for _ in range(6)]
    failures = []

    def boot_one(inst):
        try:
            boot(gdriver, ctx, inst, image['id'])
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=boot_one, args=(i,)) for i in insts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert (loads.count, downloads.count) == (1, 1)
    for inst in insts:
        running = engine.get('/containers/nova-%s/json' % inst.uuid).json()
        assert running['Image'] == engine_id_of(engine, tar)


def test_cached_image_is_not_downloaded_again_but_marked_used(
        gdriver, glance, ctx, engine, local_images, monkeypatch, loader,
        glance_image_api):
    if engine.kind == 'podman':
        pytest.skip("Podman's Docker API has no LastTagTime: the image "
                    'cache ages images by Created there '
                    '(nova_docker/image/cache.py, support matrix)')
    image = glance.create_image('cached', save_tar())
    ref = local_ref(image['id'])
    local_images.append(ref)
    loader.ensure_local(ctx, image_meta(image['id']))
    first = engine.inspect_image(ref)['Metadata']['LastTagTime']
    downloads = CountingCalls(monkeypatch, glance_image_api,
                              'download')

    assert loader.ensure_local(ctx, image_meta(image['id'])) == ref
    assert downloads.count == 0
    assert engine.inspect_image(ref)['Metadata']['LastTagTime'] > first


def test_download_through_a_temp_file_leaves_no_file(
        gdriver, glance, ctx, engine, local_images, tmp_path, loader):
    driver_mod.CONF.set_override('image_download_dir', str(tmp_path),
                                 'docker')
    try:
        good = glance.create_image('spooled', save_tar(['/bin/true']))
        local_images.append(local_ref(good['id']))
        loader.ensure_local(ctx, image_meta(good['id']))
        assert engine_has(engine, local_ref(good['id']))

        bad_tar = save_tar()
        bad = glance.create_image('spooled-bad', bad_tar)
        tamper(glance, bad['id'])
        with pytest.raises(exception.ImageUnacceptable,
                           match='checksum mismatch'):
            loader.ensure_local(ctx, image_meta(bad['id']))
        assert_nothing_left(engine, bad['id'], bad_tar)
    finally:
        driver_mod.CONF.clear_override('image_download_dir', 'docker')
    assert list(tmp_path.iterdir()) == []


# -- bad input -----------------------------------------------------------

@pytest.mark.parametrize('make, match', [
    (lambda: image_fx.random_bytes(64 * 1024, seed=7),
     'not a loadable Docker image.*not a tar archive'),
    (lambda: image_fx.truncated(save_tar()),
     'not a loadable Docker image.*ends in the middle'),
    (lambda: image_fx.truncated(gzip.compress(save_tar())),
     'not a loadable Docker image.*gzip data ends early'),
], ids=['random', 'truncated', 'truncated-gzip'])
def test_unloadable_data_fails_the_boot_and_leaves_nothing(
        gdriver, glance, ctx, engine, instances, make, match):
    image = glance.create_image('bad', make())
    inst = instances()
    with pytest.raises(exception.ImageUnacceptable, match=match):
        boot(gdriver, ctx, inst, image['id'])
    assert_nothing_left(engine, image['id'])
    assert engine.get('/containers/nova-%s/json' % inst.uuid
                      ).status_code == 404


def test_rootfs_without_os_command_line_is_refused(
        gdriver, glance, ctx, engine, instances, monkeypatch, engine_client):
    image = glance.create_image('rootfs-no-cmd', unique_rootfs())
    imports = CountingCalls(monkeypatch, engine_client, 'import_image')
    with pytest.raises(exception.ImageUnacceptable,
                       match='set the image property os_command_line'):
        boot(gdriver, ctx, instances(), image['id'])
    assert imports.count == 0
    assert_nothing_left(engine, image['id'])


@pytest.mark.parametrize('kind', ['save', 'rootfs'])
def test_hash_mismatch_fails_naming_the_image_and_leaves_nothing(
        gdriver, glance, ctx, engine, instances, kind):
    if kind == 'save':
        data, props = save_tar(), {}
    else:
        data, props = unique_rootfs(), {'os_command_line': '/bin/true'}
    image = glance.create_image('tampered', data, **props)
    # Inside the data of the largest member (busybox): the tar stays
    # well formed, only Glance's hash can tell.
    tamper(glance, image['id'])
    with pytest.raises(exception.ImageUnacceptable,
                       match='%s.*checksum mismatch' % image['id']):
        boot(gdriver, ctx, instances(), image['id'])
    assert_nothing_left(engine, image['id'],
                        data if kind == 'save' else None)
    if kind == 'rootfs':
        # An import of the tampered data would have this layer.
        with open(os.path.join(glance.data_dir, image['id']), 'rb') as f:
            diff_id = 'sha256:' + hashlib.sha256(f.read()).hexdigest()
        assert images_with_layer(engine, diff_id) == []


def images_with_layer(engine, diff_id):
    found = []
    for summary in engine.images():
        info = engine.get('/images/%s/json' % summary['Id'])
        if info.status_code == 200 and diff_id in info.json().get(
                'RootFS', {}).get('Layers', []):
            found.append(summary['Id'])
    return found


def test_md5_checksum_is_used_without_multihash(
        gdriver, glance, ctx, engine, local_images, monkeypatch,
        glance_image_api, loader):
    tar = save_tar()
    image = glance.create_image('md5-only', tar)
    api = glance_image_api
    real_get = api.get

    def get_without_multihash(context, image_id, **kwargs):
        meta = real_get(context, image_id, **kwargs)
        meta.update(os_hash_algo=None, os_hash_value=None)
        return meta

    monkeypatch.setattr(api, 'get', get_without_multihash)
    assert image['checksum'] == hashlib.md5(tar).hexdigest()
    tamper(glance, image['id'])
    with pytest.raises(exception.ImageUnacceptable,
                       match='checksum mismatch: Glance records md5'):
        loader.ensure_local(ctx, image_meta(image['id']))
    assert_nothing_left(engine, image['id'], tar)


def test_glance_unreachable_is_a_clear_error(
        gdriver, glance, ctx, engine, instances):
    image = glance.create_image('unreachable', save_tar())
    glance_fx.point_nova_at('http://127.0.0.1:9')  # discard port: closed
    with pytest.raises(exception.GlanceConnectionFailed,
                       match='127.0.0.1:9'):
        boot(gdriver, ctx, instances(), image['id'])
    assert_nothing_left(engine, image['id'])


class _AfterFirstWrite:
    """A download's destination that runs ``action`` after the first
    chunk was written into it."""

    def __init__(self, data, action, image_id):
        self._data = data
        self._action = action
        self._image_id = image_id
        self._written = False

    def write(self, chunk):
        self._data.write(chunk)
        if not self._written:
            self._written = True
            self._action(self._image_id)

    def truncate(self, size=0):
        self._data.truncate(size)


def _after_first_chunk(monkeypatch, api, action):
    """Make downloads of image API ``api`` run ``action`` once they got a
    chunk."""
    real = api.download

    def download(context, image_id, data, **kwargs):
        return real(context, image_id,
                    data=_AfterFirstWrite(data, action, image_id), **kwargs)

    monkeypatch.setattr(api, 'download', download)


def test_glance_dying_mid_download_fails_and_leaves_nothing(
        engine, ctx, instances, monkeypatch):
    server = glance_fx.GlanceServer()
    server.setUp()
    try:
        glance_fx.point_nova_at(server)
        api = glance_api.ImageAPI()
        drv = driver_mod.DockerDriver(virtapi=None, image_api=api)
        # 40 MB: far more than socket buffers hold when glance dies.
        big = save_tar(rootfs=image_fx.busybox_rootfs_tar(
            {'data.bin': image_fx.random_bytes(40 * 1024 * 1024, seed=3)}))
        image = server.create_image('big', big)
        _after_first_chunk(monkeypatch, api, lambda _id: server._stop())
        with pytest.raises(docker_exception.ImageDownloadFailed,
                           match='%s from Glance stopped after' % image['id']):
            boot(drv, ctx, instances(), image['id'])
        assert_nothing_left(engine, image['id'], big)
    finally:
        glance_fx.unpoint_nova()
        server.cleanUp()


def test_image_deleted_mid_download_fails_and_leaves_nothing(
        gdriver, glance, ctx, engine, instances, monkeypatch,
        glance_image_api):
    tar = save_tar()
    image = glance.create_image('deleted-midway', tar)
    _after_first_chunk(monkeypatch, glance_image_api, glance.delete_image)
    with pytest.raises(exception.ImageNotFound, match=image['id']):
        boot(gdriver, ctx, instances(), image['id'])
    assert_nothing_left(engine, image['id'], tar)


def test_archive_of_two_images_is_refused(gdriver, glance, ctx, engine,
                                          loader):
    one, two = save_tar(['/bin/true']), save_tar(['/bin/false'])
    both = _two_image_archive(one, two)
    image = glance.create_image('two-in-one', both)
    with pytest.raises(exception.ImageUnacceptable, match='holds 2 images'):
        loader.ensure_local(ctx, image_meta(image['id']))
    assert_nothing_left(engine, image['id'], one)
    assert engine_id_of(engine, two) is None


def _two_image_archive(one, two):
    import io
    import json
    import tarfile

    out = io.BytesIO()
    manifest = []
    with tarfile.open(fileobj=out, mode='w',
                      format=tarfile.USTAR_FORMAT) as dst:
        for data in (one, two):
            with tarfile.open(fileobj=io.BytesIO(data)) as src:
                for member in src.getmembers():
                    if member.name == 'manifest.json':
                        manifest += json.load(src.extractfile(member))
                        continue
                    body = (src.extractfile(member) if member.isfile()
                            else None)
                    dst.addfile(member, body)
        raw = json.dumps(manifest).encode()
        info = tarfile.TarInfo('manifest.json')
        info.size = len(raw)
        dst.addfile(info, io.BytesIO(raw))
    return out.getvalue()


# -- archives made by the engine itself ------------------------------------

def test_archives_made_by_the_engine_boot(
        gdriver, glance, ctx, engine, instances, local_images):
    """``docker save`` (config first, manifest last, tagged) and ``docker
    export`` (a rootfs starting with .dockerenv) as the engine writes
    them."""
    tar = save_tar(['/bin/echo', 'from a real save'])
    repo = 'nd-real-save-%s' % uuid.uuid4().hex[:12]
    # Docker: 'Loaded image ID: sha256:...'; Podman: 'Loaded image:
    # sha256:...'.
    loaded = engine.load(tar).strip().rsplit(' ', 1)[1]
    engine.post('/images/%s/tag' % loaded, params={'repo': repo,
                                                   'tag': 'v1'})
    try:
        saved = engine.get('/images/%s:v1/get' % repo).content
        source_id = engine.create_container(
            repo + ':v1', cmd=['/bin/sh', '-c',
                               'echo exported > /etc/motd'])
        engine.post('/containers/%s/start' % source_id)
        engine.post('/containers/%s/wait' % source_id)
        exported = engine.get('/containers/%s/export' % source_id).content
        engine.remove_container(source_id)
    finally:
        engine.remove_image(repo + ':v1')

    save_image = glance.create_image('real-save', saved)
    export_image = glance.create_image('real-export', exported,
                                       os_command_line='/bin/cat /etc/motd')
    local_images.extend([local_ref(save_image['id']),
                         local_ref(export_image['id'])])
    from_save, from_export = instances(), instances()
    boot(gdriver, ctx, from_save, save_image['id'])
    boot(gdriver, ctx, from_export, export_image['id'])

    assert wait_output(engine, from_save) == b'from a real save\n'
    assert wait_output(engine, from_export) == b'exported\n'
    assert not engine_has(engine, repo + ':v1')
