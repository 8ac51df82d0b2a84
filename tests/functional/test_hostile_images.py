"""Glance images built to change what another image on the engine is, or
to fill nova-compute's memory or the engine's disk: each is refused and
leaves the engine as it was. Real glance-api, real engine.
"""

import gzip
import io
import json
import tarfile
import uuid

import pytest
from nova import exception

from nova_docker.archive import tarstream
from tests.functional.test_images import boot
from tests.functional.test_images import digest_of
from tests.functional.test_images import engine_has
from tests.functional.test_images import local_ref
from tests.functional.test_images import save_tar
from tests.unit import nova_objects


@pytest.fixture
def victim(engine, local_images):
    """Another project's image on the engine: (its tag, its image id)."""
    tar = save_tar(cmd=['/bin/victim'])
    loaded = engine.load(tar).split('Loaded image ID: ')[1].strip()
    tag = 'victim-%s:latest' % uuid.uuid4().hex[:12]
    repo, _, name = tag.partition(':')
    engine.post('/images/%s/tag' % loaded, params={'repo': repo, 'tag': name})
    local_images.extend([tag, loaded])
    return tag, loaded


def with_member(save, name, data):
    """``save`` (a docker save tar) with one more member at its end."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(save)) as src, \
            tarfile.open(fileobj=buf, mode='w') as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member)
                        if member.isfile() else None)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        dst.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def manifest_naming(save, tag):
    """``save``'s manifest, with ``tag`` as its RepoTags."""
    with tarfile.open(fileobj=io.BytesIO(save)) as tar:
        manifest = json.load(tar.extractfile('manifest.json'))
    manifest[0]['RepoTags'] = [tag]
    return json.dumps(manifest).encode()


def tag_target(engine, tag):
    reply = engine.get('/images/%s/json' % tag)
    return reply.json()['Id'] if reply.status_code == 200 else None


def hijacking_archive(victim_tag):
    """A docker save archive whose second, non-canonical manifest names
    another image's tag."""
    save = save_tar(cmd=['/bin/evil'])
    return save, with_member(save, 'x/../manifest.json',
                             manifest_naming(save, victim_tag))


def test_the_engine_reads_a_non_canonical_manifest(engine, victim,
                                                   local_images):
    # What the loader guards against: loaded as it is, the archive moves
    # the victim's tag to the attacker's image.
    tag, victim_id = victim
    save, evil = hijacking_archive(tag)
    local_images.append(digest_of(save))
    engine.load(evil)
    assert tag_target(engine, tag) == digest_of(save)
    repo, _, name = tag.partition(':')
    engine.post('/images/%s/tag' % victim_id,
                params={'repo': repo, 'tag': name})


def test_a_second_manifest_cannot_retag_another_image(
        gdriver, glance, ctx, engine, instances, victim, local_images):
    tag, victim_id = victim
    save, evil = hijacking_archive(tag)
    image = glance.create_image('evil:1', evil)
    local_images.extend([local_ref(image['id']), digest_of(save)])
    with pytest.raises(exception.ImageUnacceptable,
                       match='not a canonical path'):
        boot(gdriver, ctx, instances(), image['id'])
    assert tag_target(engine, tag) == victim_id
    assert not engine_has(engine, local_ref(image['id']))
    assert not engine_has(engine, digest_of(save))


def test_names_the_engine_applied_anyway_are_put_back(
        gdriver, glance, ctx, engine, instances, victim, local_images,
        monkeypatch):
    # Should the rewrite ever miss a name, the check of the engine's reply
    # still catches it and restores the other image's tag.
    monkeypatch.setattr(tarstream, 'without_repo_tags', lambda m: m)
    tag, victim_id = victim
    new_tag = 'fresh-%s:latest' % uuid.uuid4().hex[:12]
    save = save_tar(cmd=['/bin/evil'])
    with tarfile.open(fileobj=io.BytesIO(save)) as tar:
        manifest = json.load(tar.extractfile('manifest.json'))
    manifest[0]['RepoTags'] = [tag, new_tag]
    archive = rewrite_member(save, 'manifest.json',
                             json.dumps(manifest).encode())
    image = glance.create_image('evil:2', archive)
    local_images.extend([local_ref(image['id']), digest_of(save), new_tag])
    with pytest.raises(exception.ImageUnacceptable,
                       match='applied the image names'):
        boot(gdriver, ctx, instances(), image['id'])
    assert tag_target(engine, tag) == victim_id
    assert tag_target(engine, new_tag) is None
    assert not engine_has(engine, digest_of(save))
    assert not engine_has(engine, local_ref(image['id']))


def rewrite_member(save, name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(save)) as src, \
            tarfile.open(fileobj=buf, mode='w') as dst:
        for member in src.getmembers():
            body = src.extractfile(member) if member.isfile() else None
            if member.name == name:
                member.size = len(data)
                body = io.BytesIO(data)
            dst.addfile(member, body)
    return buf.getvalue()


def gzip_bomb(unpacked):
    """A gzip-compressed rootfs tar of ``unpacked`` bytes of zeros."""
    buf = io.BytesIO()
    header = tarfile.TarInfo('zero')
    header.size = unpacked
    with gzip.GzipFile(fileobj=buf, mode='wb', compresslevel=9) as gz:
        gz.write(header.tobuf(tarfile.USTAR_FORMAT))
        piece = bytes(1 << 20)
        for _ in range(unpacked >> 20):
            gz.write(piece)
        gz.write(bytes(1024))
    return buf.getvalue()


def test_an_image_larger_than_the_flavor_disk_is_refused(
        gdriver, glance, ctx, engine, instances, local_images):
    bomb = gzip_bomb((1 << 30) + (64 << 20))
    image = glance.create_image('bomb:1', bomb, os_command_line='/zero')
    local_images.append(local_ref(image['id']))
    inst = instances(flavor_obj=nova_objects.flavor())
    assert inst.flavor.root_gb == 1
    with pytest.raises(exception.FlavorDiskSmallerThanImage,
                       match='more than the 1 GB root disk'):
        boot(gdriver, ctx, inst, image['id'])
    assert not engine_has(engine, local_ref(image['id']))
