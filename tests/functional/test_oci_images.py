"""Archives of today's engines booted through the driver: a ``docker
save`` of a Docker 26 engine with the containerd image store (OCI layout
beside manifest.json, gzip layer), the same layout with a zstd layer, and
skopeo's oci-archive (the layout alone); on each engine kind, after each
load no tag but the driver's own appeared or moved, and a tampered one is
refused leaving nothing. Real glance-api, real engines.

Run on the host engine and the private containerd-store one:
``NOVA_DOCKER_TEST_ENGINES=host,docker26-containerd``.
"""

import io
import json
import os
import subprocess
import shutil
import tarfile
import tempfile
import uuid

import pytest
from nova import exception

from nova_docker import engine_facts
from tests.fixtures import engines as engines_fx
from tests.fixtures.glance_boot import boot
from tests.fixtures.glance_boot import engine_has
from tests.fixtures.glance_boot import local_ref
from tests.fixtures.glance_boot import wait_output
from tests.fixtures import images as image_fx

pytestmark = pytest.mark.every_engine

MAKER = 'docker26-containerd'


def fresh_rootfs():
    """A layer no engine has yet: the engine must unpack it (an engine
    that holds a layer's diff id already skips its data)."""
    return image_fx.busybox_rootfs_tar({'etc/motd': uuid.uuid4().bytes})


@pytest.fixture(scope='session', params=[MAKER, 'docker26'])
def engine_save(request, private_engines):
    """``docker save`` of a Docker 26 (containerd store; classic store)
    of an image it committed itself (no registry: a commit on the
    containerd store makes a gzip layer, as a pull would bring), tagged:
    (archive, the tag it names). Both write an OCI layout."""
    engines_fx.require(request.param)
    maker = private_engines.get(request.param).api()
    tag = 'nd-oci-src-%s:v1' % uuid.uuid4().hex[:12]
    repo, _, name = tag.partition(':')
    base = maker.load(image_fx.save_tar(['/bin/sh'], rootfs=fresh_rootfs())
                      ).rsplit(' ', 1)[1].strip()
    cid = maker.create_container(base, cmd=[
        '/bin/sh', '-c', 'echo from a containerd save > /msg'])
    try:
        maker.post('/containers/%s/start' % cid)
        maker.post('/containers/%s/wait' % cid)
        maker.post('/commit', params={
            'container': cid, 'repo': repo, 'tag': name,
            'changes': 'CMD ["/bin/cat", "/msg"]'})
        saved = maker.get('/images/%s/get' % tag).content
    finally:
        maker.remove_container(cid)
        maker.remove_image(tag)
        maker.remove_image(base)
        maker.close()
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        names = archive.getnames()
        kinds = {archive.extractfile(n).read(2) for n in names
                 if n.startswith('blobs/sha256/')}
    assert 'oci-layout' in names and 'index.json' in names, names
    if request.param == MAKER:
        assert b'\x1f\x8b' in kinds, 'no gzip layer in the save'
    return saved, tag


def skopeo_oci_archive(save):
    """``skopeo copy docker-archive:save oci-archive:out`` of ``save``."""
    if not shutil.which('skopeo'):
        pytest.skip('skopeo is not installed: tools/ensure-registry-tools.sh')
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, 'in.tar'), os.path.join(tmp, 'out.tar')
        with open(src, 'wb') as f:
            f.write(save)
        subprocess.run(['skopeo', 'copy', '--quiet',
                        'docker-archive:' + src, 'oci-archive:' + dst],
                       check=True, capture_output=True)
        with open(dst, 'rb') as f:
            return f.read()


def short(tag):
    """``tag`` as Docker shows it (Podman names ``docker.io/x:t`` or
    ``localhost/x:t``)."""
    for prefix in ('docker.io/library/', 'docker.io/', 'localhost/'):
        if tag.startswith(prefix):
            return tag[len(prefix):]
    return tag


def tags(engine):
    """tag -> image id of every tagged image on ``engine``."""
    images = engine.get('/images/json').json()
    return {short(t): image['Id'] for image in images
            for t in image.get('RepoTags') or [] if t != '<none>:<none>'}


def assert_only_ours(engine, before, image_id, foreign=()):
    """No tag but the driver's own (``glance/<image_id>:latest``, its
    sandbox image) appeared, none moved; on the
    host's shared engine others' images may come and go meanwhile, so
    there only what the archive named (``foreign``) must not appear."""
    after = tags(engine)
    ours = local_ref(image_id)
    assert ours in after
    moved = {t for t in before if t in after and after[t] != before[t]}
    assert not moved, moved
    # The driver's sandbox image is made at the first boot on an engine.
    appeared = {t for t in set(after) - set(before) - {ours}
                if not t.startswith('nova-docker/sandbox:')}
    if engine.kind == engines_fx.HOST:
        appeared = {t for t in appeared
                    if any(name in t for name in foreign)}
    assert not appeared, appeared


def booted(gdriver, glance, ctx, engine, instances, local_images, data,
           foreign=()):
    image = glance.create_image('oci-%s' % uuid.uuid4().hex[:8], data)
    local_images.append(local_ref(image['id']))
    before = tags(engine)
    inst = instances()
    boot(gdriver, ctx, inst, image['id'])
    out = wait_output(engine, inst)
    assert_only_ours(engine, before, image['id'], foreign)
    return out


def test_a_docker_26_save_boots(gdriver, glance, ctx, engine, instances,
                                local_images, engine_save):
    saved, tag = engine_save
    out = booted(gdriver, glance, ctx, engine, instances, local_images,
                 saved, foreign=[tag.split(':')[0]])
    assert out == b'from a containerd save\n'


def test_a_layout_with_a_zstd_layer_boots(gdriver, glance, ctx, engine,
                                          instances, local_images):
    repo = 'nd-oci-zstd-%s' % uuid.uuid4().hex[:12]
    data = image_fx.oci_save_tar(['/bin/echo', 'zstd layer'],
                                 compression='zstd', rootfs=fresh_rootfs(),
                                 repo_tag=repo + ':v1')
    out = booted(gdriver, glance, ctx, engine, instances, local_images,
                 data, foreign=[repo])
    assert out == b'zstd layer\n'


def test_a_multi_platform_layout_boots_the_engines_platform(
        gdriver, glance, ctx, engine, instances, local_images):
    data = image_fx.oci_save_tar(['/bin/echo', 'this platform'],
                                 platforms=['s390x', 'riscv64'],
                                 rootfs=fresh_rootfs())
    out = booted(gdriver, glance, ctx, engine, instances, local_images,
                 data)
    assert out == b'this platform\n'


def test_a_skopeo_oci_archive_boots(gdriver, glance, ctx, engine,
                                    instances, local_images):
    data = skopeo_oci_archive(image_fx.save_tar(['/bin/echo', 'skopeo'],
                                                rootfs=fresh_rootfs()))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        assert 'manifest.json' not in archive.getnames()
    out = booted(gdriver, glance, ctx, engine, instances, local_images,
                 data)
    assert out == b'skopeo\n'


def test_annotations_naming_another_image_move_nothing(
        gdriver, glance, ctx, engine, instances, local_images):
    victim = image_fx.save_tar(['/bin/victim'])
    loaded = engine.load(victim).rsplit(' ', 1)[1].strip()
    repo = 'nd-oci-victim-%s' % uuid.uuid4().hex[:12]
    engine.post('/images/%s/tag' % loaded, params={'repo': repo,
                                                   'tag': 'latest'})
    local_images.extend([repo + ':latest', loaded])
    victim_id = tags(engine)[repo + ':latest']
    data = image_fx.oci_save_tar(['/bin/echo', 'evil'],
                                 repo_tag=repo + ':latest')
    out = booted(gdriver, glance, ctx, engine, instances, local_images,
                 data, foreign=[repo])
    assert out == b'evil\n'
    assert tags(engine)[repo + ':latest'] == victim_id


def test_a_tampered_layout_is_refused_leaving_nothing(
        gdriver, glance, ctx, engine, instances, local_images):
    made = image_fx.OciLayout(['/bin/echo', 'x'],
                              labels=image_fx.unique_labels())
    made.manifest['layers'][0]['mediaType'] = (
        'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip')
    made.replace_manifest()
    image = glance.create_image('oci-foreign', made.tar())
    local_images.append(local_ref(image['id']))
    before = tags(engine)
    config_id = 'sha256:' + image_fx.sha256_hex(made.config)
    with pytest.raises(exception.ImageUnacceptable, match='is foreign'):
        boot(gdriver, ctx, instances(), image['id'])
    assert not engine_has(engine, local_ref(image['id']))
    assert not engine_has(engine, config_id)
    # Others' images on the shared engine may come and go: none moved.
    after = tags(engine)
    assert not {t for t in before if t in after and after[t] != before[t]}


def with_diff_id_of_another_layer(made):
    """``made`` (an OciLayout) with a config that records the diff id of
    another root file system than its layer's."""
    old = made.config
    config = json.loads(old)
    config['rootfs']['diff_ids'] = [
        'sha256:' + image_fx.sha256_hex(fresh_rootfs())]
    made.config = json.dumps(config, sort_keys=True).encode()
    del made.blobs['blobs/sha256/' + image_fx.sha256_hex(old)]
    made.manifest['config'] = made.add_blob(made.config,
                                            image_fx.OCI_CONFIG)
    made.replace_manifest()
    return made


def test_a_layer_that_unpacks_to_another_diff_id_is_refused_leaving_nothing(
        gdriver, glance, ctx, engine, instances, local_images):
    # Docker's classic store checks each layer's diff id as it loads and
    # keeps nothing of a layer that fails: the driver leaves it the check
    # (hashing 500 MB less for a 250 MB gzip layer). The containerd store
    # keeps an image record of such a load and Podman refuses with a 500:
    # there the driver checks before the archive completes.
    version = engine.get('/version').json()
    info = engine.get('/info').json()
    assert engine_facts.checks_diff_ids(version, info) == (
        engine.kind in (engines_fx.HOST, 'docker26'))
    made = with_diff_id_of_another_layer(image_fx.OciLayout(
        ['/bin/echo', 'x'], rootfs=fresh_rootfs(),
        labels=image_fx.unique_labels()))
    image = glance.create_image('oci-diff-id', made.tar())
    local_images.append(local_ref(image['id']))
    ids_before = {i['Id'] for i in engine.images()}
    before = tags(engine)
    with pytest.raises(exception.ImageUnacceptable,
                       match=r'(?i)diff ?id'):
        boot(gdriver, ctx, instances(), image['id'])
    assert not engine_has(engine, local_ref(image['id']))
    assert not engine_has(engine,
                          'sha256:' + image_fx.sha256_hex(made.config))
    after = tags(engine)
    assert not {t for t in before if t in after and after[t] != before[t]}
    if engine.kind != engines_fx.HOST:
        # A private engine: nothing at all appeared, not even untagged.
        assert {i['Id'] for i in engine.images()} <= ids_before
