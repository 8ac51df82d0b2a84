"""Tests of the shared test fixtures against the real services.

A real glance-api (gunicorn) and the real Docker Engine are used; the
engine tests skip without an engine, or fail when ``CI`` is set.
"""

import gzip
import hashlib
import io
import json
import tarfile
import uuid

import fixtures
import pytest
import requests

from tests.fixtures import engine as engine_fx
from tests.fixtures import glance as glance_fx
from tests.fixtures import images


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope='module')
def glance():
    server = glance_fx.GlanceServer()
    server.setUp()
    try:
        yield server
    finally:
        server.cleanUp()


# Everything these tests put on the engine carries this label (images
# through their config, containers inherit it), so that the leftovers
# check only looks at (and removes) this run's objects even when other
# test runs share the engine.
TEST_LABEL = 'org.openstack.nova-docker.test'
RUN_ID = uuid.uuid4().hex
MINE = engine_fx.has_label(TEST_LABEL, RUN_ID)


@pytest.fixture
def engine():
    engine_fx.require_engine()
    leftovers = engine_fx.EngineLeftovers(match_all=True, scope=MINE)
    leftovers.setUp()
    api = engine_fx.EngineAPI()
    try:
        yield api
    finally:
        api.close()
        leftovers.cleanUp()


# Glance


def test_glance_server_answers(glance):
    assert glance.url.startswith('http://127.0.0.1:')
    r = requests.get(glance.url + '/versions', timeout=5)
    assert r.status_code in (200, 300)
    versions = [v['id'] for v in r.json()['versions']]
    assert 'v2.0' in versions
    assert glance.startup_time < 30


def test_glance_round_trip(glance):
    data = images.random_bytes(300 * 1024 + 7)
    image = glance.create_image('busybox:latest', data, foo='bar')
    try:
        assert image['status'] == 'active'
        assert image['size'] == len(data)
        assert image['os_hash_algo'] == 'sha256'
        assert image['os_hash_value'] == _sha256(data)
        assert image['container_format'] == 'docker'
        assert image['disk_format'] == 'raw'
        assert image['foo'] == 'bar'
        assert image['visibility'] == 'public'
        assert glance.get_image(image['id'])['id'] == image['id']
        assert glance.download(image['id']) == data
        found = glance.list_images(name='eq:busybox:latest')
        assert [i['id'] for i in found] == [image['id']]
    finally:
        glance.delete_image(image['id'])
    assert image['id'] not in [i['id'] for i in glance.list_images()]
    r = requests.get(glance.url + '/v2/images/' + image['id'], timeout=5)
    assert r.status_code == 404


def test_glance_upload_from_iterator(glance):
    chunks = [b'a' * 1000, b'b' * 2000, b'c']
    image = glance.create_image('chunked', iter(chunks),
                                visibility='shared')
    try:
        assert image['visibility'] == 'shared'
        assert image['owner'] is None
        assert image['os_hash_value'] == _sha256(b''.join(chunks))
        assert glance.download(image['id']) == b''.join(chunks)
    finally:
        glance.delete_image(image['id'])


def test_glance_ignores_identity_headers(glance):
    # Without keystone every request is the same anonymous admin.
    r = requests.post(
        glance.url + '/v2/images',
        json={'name': 'headers', 'container_format': 'docker',
              'disk_format': 'raw'},
        headers={'X-Auth-Token': 'x', 'X-Project-Id': 'p1',
                 'X-Tenant-Id': 'p1', 'X-User-Id': 'u1',
                 'X-Roles': 'member', 'X-Identity-Status': 'Confirmed'},
        timeout=10)
    assert r.status_code == 201, r.text
    image = r.json()
    try:
        assert image['owner'] is None
        assert image['visibility'] == 'shared'
        assert image['status'] == 'queued'
    finally:
        glance.delete_image(image['id'])


def test_glance_data_lands_in_data_dir(glance):
    image = glance.create_image('on-disk', b'xyz')
    try:
        with open('%s/%s' % (glance.data_dir, image['id']), 'rb') as f:
            assert f.read() == b'xyz'
    finally:
        glance.delete_image(image['id'])


@pytest.fixture
def nova_conf(glance):
    import nova.conf

    conf = nova.conf.CONF
    glance_fx.point_nova_at(glance, conf)
    try:
        yield conf
    finally:
        glance_fx.unpoint_nova(conf)


def _nova_context():
    import nova.context

    return nova.context.RequestContext(
        'fake-user', 'fake-project', auth_token='x', is_admin=True)


def test_nova_reads_image_back(glance, nova_conf):
    from nova.image import glance as nova_glance

    data = images.docker_save_tar('nova-read:latest', ['/bin/true'])
    image = glance.create_image('nova-read:latest', data,
                                hypervisor_type='docker')
    try:
        ctx = _nova_context()
        api = nova_glance.API()
        meta = api.get(ctx, image['id'])
        assert meta['id'] == image['id']
        assert meta['name'] == 'nova-read:latest'
        assert meta['container_format'] == 'docker'
        assert meta['size'] == len(data)
        assert meta['os_hash_value'] == _sha256(data)
        assert meta['properties']['hypervisor_type'] == 'docker'
        shown = nova_glance.GlanceImageServiceV2().show(ctx, image['id'])
        assert shown['checksum'] == image['checksum']

        chunks = api.download(ctx, image['id'])
        assert not isinstance(chunks, bytes)
        assert b''.join(chunks) == data
    finally:
        glance.delete_image(image['id'])


def test_nova_reads_image_as_non_admin(glance, nova_conf):
    import nova.context
    from nova.image import glance as nova_glance

    image = glance.create_image('private-ish', b'data',
                                visibility='private')
    try:
        ctx = nova.context.RequestContext(
            'other-user', 'other-project', auth_token='tok',
            is_admin=False)
        meta = nova_glance.API().get(ctx, image['id'])
        assert meta['is_public'] is False
        assert b''.join(nova_glance.API().download(ctx, image['id'])) == \
            b'data'
    finally:
        glance.delete_image(image['id'])


def test_nova_missing_image_is_not_found(glance, nova_conf):
    from nova import exception
    from nova.image import glance as nova_glance

    with pytest.raises(exception.ImageNotFound):
        nova_glance.API().get(_nova_context(), str(uuid.uuid4()))


def test_glance_server_stops_and_cleans_up():
    server = glance_fx.GlanceServer()
    with server:
        url, conf_dir = server.url, server.conf_dir
        pid = server.process.pid
        assert requests.get(url + '/versions', timeout=5).status_code < 500
    assert server.process.poll() is not None, pid
    with pytest.raises(requests.ConnectionError):
        requests.get(url + '/versions', timeout=5)
    import os
    assert not os.path.exists(conf_dir)


def test_glance_server_extra_conf(glance):
    with glance_fx.GlanceServer(
            extra_conf={'DEFAULT': {'image_size_cap': '1000'}}) as small:
        small.create_image('fits', b'x' * 1000)
        with pytest.raises(RuntimeError, match='413'):
            small.create_image('too-big', b'x' * 1001)


def test_glance_server_start_failure_is_clear():
    server = glance_fx.GlanceServer(
        extra_conf={'paste_deploy': {'flavor': 'no-such-flavor'}})
    with pytest.raises(fixtures.MultipleExceptions) as exc:
        server.setUp()
    # fixtures wraps set-up errors: (exc_info of the error, SetupError).
    error = exc.value.args[0][1]
    assert isinstance(error, RuntimeError)
    text = str(error)
    assert 'exited with' in text and 'before answering' in text
    assert "No section 'glance-api-no-such-flavor'" in text
    assert server.process.poll() is not None


# Pure image builders


def _members(tar_bytes):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {m.name: (m, tar.extractfile(m).read() if m.isfile()
                         else None) for m in tar.getmembers()}


def test_busybox_rootfs_layout():
    tar = images.busybox_rootfs_tar({'etc/motd': b'hi\n',
                                     'usr/local/bin/x': b'#!/bin/sh\n'})
    members = _members(tar)
    with open('/bin/busybox', 'rb') as f:
        assert members['bin/busybox'][1] == f.read()
    assert members['bin/busybox'][0].mode == 0o755
    for applet in ('sh', 'echo', 'sleep', 'cat', 'ls', 'true'):
        m = members['bin/' + applet][0]
        assert m.issym() and m.linkname == 'busybox'
    for d in ('etc', 'tmp', 'proc', 'sys', 'dev', 'usr/local/bin'):
        assert members[d][0].isdir(), d
    assert members['etc/motd'][1] == b'hi\n'
    assert members['etc/motd'][0].mode == 0o644
    assert members['usr/local/bin/x'][0].mode == 0o755
    assert images.busybox_rootfs_tar() == images.busybox_rootfs_tar()


@pytest.mark.parametrize('repo_tag', ['repo:tag', None])
def test_docker_save_tar_layout(repo_tag):
    rootfs = images.busybox_rootfs_tar()
    tar = images.docker_save_tar(repo_tag, ['/bin/echo', 'x'],
                                 rootfs=rootfs)
    members = _members(tar)
    manifest = json.loads(members['manifest.json'][1])
    assert len(manifest) == 1
    config_name = manifest[0]['Config']
    config_bytes = members[config_name][1]
    assert config_name == _sha256(config_bytes) + '.json'
    assert images.saved_image_id(tar) == _sha256(config_bytes)
    config = json.loads(config_bytes)
    assert config['config']['Cmd'] == ['/bin/echo', 'x']
    layer = members[manifest[0]['Layers'][0]][1]
    assert layer == rootfs
    assert config['rootfs']['diff_ids'] == ['sha256:' + _sha256(layer)]
    if repo_tag:
        assert manifest[0]['RepoTags'] == ['repo:tag']
        repositories = json.loads(members['repositories'][1])
        assert list(repositories) == ['repo']
        assert list(repositories['repo']) == ['tag']
    else:
        assert not manifest[0]['RepoTags']
        assert 'repositories' not in members
    gz = images.docker_save_tar(repo_tag, ['/bin/echo', 'x'],
                                rootfs=rootfs, gzip=True)
    assert gzip.decompress(gz) == tar


def test_docker_save_tar_default_tag_and_registry_port():
    tar = images.docker_save_tar('127.0.0.1:5000/ns/img', ['true'])
    manifest = json.loads(_members(tar)['manifest.json'][1])
    assert manifest[0]['RepoTags'] == ['127.0.0.1:5000/ns/img:latest']


def test_bad_input_helpers():
    assert images.random_bytes(100) == images.random_bytes(100)
    assert images.random_bytes(100) != images.random_bytes(100, seed=1)
    assert len(images.random_bytes(100)) == 100
    tar = images.docker_save_tar('a:b', ['true'])
    cut = images.truncated(tar)
    assert 0 < len(cut) < len(tar) and tar.startswith(cut)
    assert len(images.truncated(b'xy', keep=1)) == 1


# Real engine


def _unique_labels():
    # The label also makes the config, hence the image id, unique to this
    # run, so parallel runs never share (and delete) each other's images.
    return {TEST_LABEL: RUN_ID}


@pytest.mark.parametrize('gz', [False, True], ids=['plain', 'gzip'])
def test_saved_tar_loads_and_runs_tagged(engine, gz):
    repo_tag = 'nd-fixture-%s:t1' % uuid.uuid4().hex[:12]
    tar = images.docker_save_tar(
        repo_tag, ['/bin/sh', '-c', 'echo hello from $0'], gzip=gz,
        labels=_unique_labels())
    assert engine.load(tar) == 'Loaded image: ' + repo_tag
    try:
        info = engine.inspect_image(repo_tag)
        assert info['Id'] == 'sha256:' + images.saved_image_id(tar)
        assert info['RepoTags'] == [repo_tag]
        code, out, err = engine.run(repo_tag)
        assert (code, out, err) == (0, b'hello from /bin/sh\n', b'')
    finally:
        engine.remove_image(repo_tag)


def test_saved_tar_loads_and_runs_untagged(engine):
    tar = images.docker_save_tar(None, ['/bin/echo', 'untagged', 'ok'],
                                 labels=_unique_labels())
    image_id = 'sha256:' + images.saved_image_id(tar)
    assert engine.load(tar) == 'Loaded image ID: ' + image_id
    try:
        assert engine.inspect_image(image_id)['RepoTags'] == []
        assert engine.run(image_id) == (0, b'untagged ok\n', b'')
    finally:
        engine.remove_image(image_id)


@pytest.mark.parametrize('what, expected', [
    ('random', 'invalid tar header'),
    ('truncated', 'unexpected EOF'),
    ('rootfs', 'no such file or directory'),
])
def test_engine_rejects_bad_input(engine, what, expected):
    data = {
        'random': lambda: images.random_bytes(4096),
        'truncated': lambda: images.truncated(images.docker_save_tar(
            None, ['true'], labels=_unique_labels())),
        'rootfs': images.busybox_rootfs_tar,
    }[what]()
    with pytest.raises(engine_fx.EngineError, match=expected):
        engine.load(data)


def test_rootfs_imports_and_runs(engine):
    repo = 'nd-fixture-rootfs-%s' % uuid.uuid4().hex[:12]
    rootfs = images.busybox_rootfs_tar({'etc/motd': uuid.uuid4().bytes})
    image_id = engine.import_rootfs(rootfs, repo, 'v1',
                                    cmd=['/bin/ls', '/etc'],
                                    labels=_unique_labels())
    try:
        assert image_id.startswith('sha256:')
        assert engine.inspect_image(repo + ':v1')['Id'] == image_id
        code, out, err = engine.run(repo + ':v1')
        assert code == 0, err
        # The engine adds hostname, hosts and resolv.conf.
        assert {b'group', b'motd', b'passwd'} <= set(out.split())
        info = engine.inspect_image(image_id)
        assert info['Config']['Labels'] == _unique_labels()
        code, out, _ = engine.run(repo + ':v1', ['/bin/sh', '-c', 'exit 3'])
        assert code == 3
    finally:
        engine.remove_image(repo + ':v1')


def test_engine_leftovers_catches_nova_objects(engine):
    tar = images.docker_save_tar('nd-leftover:x', ['/bin/true'],
                                 labels=_unique_labels())
    engine.load(tar)
    try:
        leftovers = engine_fx.EngineLeftovers(scope=MINE)
        leftovers.setUp()
        name = 'nova-%s' % uuid.uuid4()
        cid = engine.create_container('nd-leftover:x', name=name)
        labelled = engine.create_container(
            'nd-leftover:x',
            labels={engine_fx.INSTANCE_LABEL: str(uuid.uuid4())})
        other = engine.create_container('nd-leftover:x')
        try:
            with pytest.raises(AssertionError) as exc:
                leftovers.cleanUp()
            text = str(exc.value)
            assert name in text
            assert labelled[:12] in text
            assert other[:12] not in text
            # remove=True took them away.
            ids = {c['Id'] for c in engine.containers()}
            assert cid not in ids and labelled not in ids
            assert other in ids
        finally:
            for c in (cid, labelled, other):
                engine.remove_container(c)
        # Nothing new: clean-up passes.
        with engine_fx.EngineLeftovers(scope=MINE):
            pass
    finally:
        engine.remove_image('nd-leftover:x')


def test_engine_socket_from_env(monkeypatch):
    monkeypatch.setenv('DOCKER_HOST', 'unix:///run/x.sock')
    assert engine_fx.engine_socket() == '/run/x.sock'
    monkeypatch.setenv('DOCKER_HOST', 'tcp://127.0.0.1:2375')
    assert engine_fx.engine_socket() == '/var/run/docker.sock'
    monkeypatch.delenv('DOCKER_HOST')
    assert engine_fx.engine_socket() == '/var/run/docker.sock'


def test_require_engine_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv('DOCKER_HOST', 'unix://%s/none.sock' % tmp_path)
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(pytest.fail.Exception):
        engine_fx.require_engine()
    monkeypatch.delenv('CI')
    with pytest.raises(pytest.skip.Exception):
        engine_fx.require_engine()
