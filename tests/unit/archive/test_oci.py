"""OCI image layouts through the tar follower (archive/tarstream.py,
archive/oci.py, archive/blobs.py, archive/layers.py): what a
containerd-store ``docker save`` and ``skopeo copy ... oci-archive:``
write is forwarded in the classic form, without a name; every trick of
the classic archive has its OCI twin here, each refused with its reason.
"""

import gzip
import io
import json
import tarfile
import tracemalloc

import pytest
import zstandard

from nova_docker.archive import oci
from nova_docker.archive import tarstream
from nova_docker.image import source
from tests.fixtures import images as fx

HOST = oci.Platform('linux', fx.host_arch())
ROOTFS = fx.busybox_rootfs_tar()


def run(data, chunk=65536, **kwargs):
    stream = tarstream.TarStream(rewrite_manifest=True, **kwargs)
    out = []
    for i in range(0, len(data), chunk):
        for piece in stream.feed(data[i:i + chunk]):
            out.extend([piece] if isinstance(piece, bytes) else piece)
    out.append(stream.finish())
    return stream, b''.join(out)


def refused(layout, match, **kwargs):
    data = layout.tar() if isinstance(layout, fx.OciLayout) else layout
    with pytest.raises(tarstream.TarFormatError, match=match):
        run(data, **kwargs)


def members_of(out):
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        return {m.name: tar.extractfile(m).read() if m.isreg() else None
                for m in tar.getmembers()}


def layout(**kwargs):
    return fx.OciLayout(rootfs=ROOTFS, **kwargs)


# -- what today's engines write ------------------------------------------

@pytest.mark.parametrize('compression', ['plain', 'gzip', 'zstd'])
@pytest.mark.parametrize('manifest_json', [True, False])
def test_an_oci_layout_goes_to_the_engine_in_classic_form(compression,
                                                         manifest_json):
    made = layout(compression=compression, repo_tag='victim:latest',
                  manifest_json=manifest_json)
    stream, out = run(made.tar(), platform=HOST)
    got = members_of(out)
    # No index.json or oci-layout: the engine reads manifest.json, which
    # names no image; the blobs pass as they are (still compressed).
    assert 'index.json' not in got and 'oci-layout' not in got
    config = 'blobs/sha256/' + fx.sha256_hex(made.config)
    layer = 'blobs/sha256/' + fx.sha256_hex(made.layer)
    assert json.loads(got['manifest.json']) == [
        {'Config': config, 'RepoTags': None, 'Layers': [layer]}]
    # zstd goes plain: Docker 20.10 does not unpack zstd layers.
    assert got[layer] == (ROOTFS if compression == 'zstd' else made.layer)
    assert got[config] == made.config
    assert stream.manifest == json.loads(got['manifest.json'])
    assert list(got)[-1] == 'manifest.json'


def test_the_engines_platform_is_taken_from_a_multi_platform_index():
    made = layout(platforms=['s390x', 'riscv64'])
    stream, _out = run(made.tar(), platform=HOST)
    assert stream.manifest[0]['Layers'] == [
        'blobs/sha256/' + fx.sha256_hex(made.layer)]


def test_an_index_without_the_engines_platform_is_refused():
    made = layout(platforms=['s390x'])
    refused(made, 'lists 0 images for the platform linux/mips64',
            platform=oci.Platform('linux', 'mips64'))


def test_a_gzip_layer_counts_at_its_unpacked_size():
    data = layout(compression='gzip').tar()
    assert len(data) < len(ROOTFS)
    with pytest.raises(tarstream.ArchiveTooLarge):
        run(data, platform=HOST, max_size=len(ROOTFS))
    run(data, platform=HOST, max_size=len(ROOTFS) + 64 * 1024)


def test_a_classic_archive_with_a_gzip_layer_passes_counted():
    made = fx.docker_save_tar(None, ['/bin/sh'], rootfs=ROOTFS)
    with tarfile.open(fileobj=io.BytesIO(made)) as tar:
        parts = [(m, tar.extractfile(m).read() if m.isreg() else None)
                 for m in tar.getmembers()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT
                      ) as tar:
        for member, data in parts:
            if member.name.endswith('layer.tar'):
                data = gzip.compress(data)
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None
                        else None)
    with pytest.raises(tarstream.ArchiveTooLarge):
        run(buf.getvalue(), max_size=len(ROOTFS))
    stream, _out = run(buf.getvalue())
    assert stream.manifest[0]['RepoTags'] is None


# -- the tricks, OCI twins ------------------------------------------------

def test_name_annotations_of_index_json_never_reach_the_engine():
    made = layout(repo_tag='victim:latest')
    _stream, out = run(made.tar(), platform=HOST)
    assert b'victim' not in out


def test_a_blob_named_twice_is_refused():
    made = layout()
    name = 'blobs/sha256/' + fx.sha256_hex(made.layer)
    made.extra.append((name, made.layer))
    refused(made, 'occurs twice')


@pytest.mark.parametrize('name', [
    'blobs/sha512/' + 'ab' * 32, 'blobs/sha256/abc', 'blobs/x',
    'blobs/sha256/' + 'AB' * 32])
def test_a_blob_outside_blobs_sha256_is_refused(name):
    made = layout()
    made.extra.append((name, b'{}'))
    refused(made, 'lies under blobs/ but is not a file named')


def test_a_member_beside_the_layout_is_refused():
    made = layout()
    made.extra.append(('ab' * 32 + '.json', b'{}'))
    refused(made, 'outside blobs/')


def test_a_symlink_among_the_blobs_is_refused():
    made = layout()
    data = made.tar()
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(
            fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as tar:
        for member in src.getmembers():
            tar.addfile(member, src.extractfile(member)
                        if member.isreg() else None)
        link = tarfile.TarInfo('blobs/sha256/' + 'cd' * 32)
        link.type = tarfile.SYMTYPE
        link.linkname = 'blobs/sha256/' + fx.sha256_hex(made.layer)
        tar.addfile(link)
    refused(buf.getvalue(), 'lies under blobs/ but is not a file')


def test_a_blob_that_does_not_hash_to_its_name_is_refused():
    made = layout(compression='plain')
    name = 'blobs/sha256/' + fx.sha256_hex(made.layer)
    made.blobs[name] = made.layer[:-1] + bytes([made.layer[-1] ^ 1])
    refused(made, 'does not hash to its name')


def test_a_blob_whose_size_differs_from_its_descriptor_is_refused():
    made = layout()
    made.manifest['layers'][0]['size'] += 1
    made.replace_manifest()
    refused(made, 'bytes by its descriptor but')


@pytest.mark.parametrize('drop', ['layer', 'config', 'manifest'])
def test_a_descriptor_naming_a_missing_blob_is_refused(drop):
    made = layout()
    digest = {'layer': made.layer_desc['digest'],
              'config': made.config_desc['digest'],
              'manifest': made.index['manifests'][0]['digest']}[drop]
    del made.blobs[oci.blob_name(digest)]
    made.manifest_json = False
    refused(made, 'is not in the archive')


def test_an_index_naming_a_missing_platform_manifest_is_refused():
    made = layout(platforms=[])
    index = json.loads(made.blobs[oci.blob_name(
        made.index['manifests'][0]['digest'])])
    del made.blobs[oci.blob_name(index['manifests'][0]['digest'])]
    refused(made, 'is not in the archive', platform=HOST)


def test_a_nested_index_is_refused():
    made = layout()
    inner = {'schemaVersion': 2, 'mediaType': fx.OCI_INDEX,
             'manifests': [dict(made.index['manifests'][0], platform={
                 'os': 'linux', 'architecture': fx.host_arch()})]}
    inner_desc = made.add_blob(json.dumps(inner).encode(), fx.OCI_INDEX)
    outer = {'schemaVersion': 2, 'mediaType': fx.OCI_INDEX,
             'manifests': [dict(inner_desc, platform={
                 'os': 'linux', 'architecture': fx.host_arch()})]}
    made.index['manifests'] = [made.add_blob(json.dumps(outer).encode(),
                                             fx.OCI_INDEX)]
    refused(made, 'nested indexes are not taken', platform=HOST)


def test_two_images_in_index_json_are_refused():
    made = layout()
    made.index['manifests'].append(made.index['manifests'][0])
    refused(made, 'lists 2 images')


@pytest.mark.parametrize('media_type, match', [
    ('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
     'is foreign'),
    ('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
     'is foreign'),
    ('application/vnd.example.layer+gzip', 'does not know'),
])
def test_foreign_and_unknown_layers_are_refused(media_type, match):
    made = layout()
    made.manifest['layers'][0]['mediaType'] = media_type
    made.replace_manifest()
    refused(made, match)


def test_a_layer_to_fetch_from_elsewhere_is_refused():
    made = layout()
    made.manifest['layers'][0]['urls'] = ['http://example.com/layer']
    made.replace_manifest()
    refused(made, 'fetched from elsewhere')


def test_unknown_manifest_and_config_media_types_are_refused():
    made = layout()
    made.index['manifests'][0]['mediaType'] = 'application/x-example'
    refused(made, 'does not know')
    made = layout()
    made.manifest['config']['mediaType'] = 'application/x-example'
    made.replace_manifest()
    refused(made, 'does not know')


def test_a_layer_whose_diff_id_differs_from_the_config_is_refused():
    made = layout()
    other = fx.busybox_rootfs_tar({'etc/motd': b'hi\n'})
    made.blobs.pop(oci.blob_name(made.layer_desc['digest']))
    made.layer = fx.compress(other, 'gzip')
    made.manifest['layers'] = [made.add_blob(made.layer, fx.OCI_LAYER[
        'gzip'])]
    made.replace_manifest()
    refused(made, 'but the image config records the diff id')


def other_diff_id(compression):
    """A layout whose config records the diff id of another rootfs."""
    made = layout(compression=compression)
    other = fx.busybox_rootfs_tar({'etc/motd': b'hi\n'})
    made.blobs.pop(oci.blob_name(made.config_desc['digest']))
    config = json.loads(made.config)
    config['rootfs']['diff_ids'] = ['sha256:' + fx.sha256_hex(other)]
    made.config = json.dumps(config).encode()
    made.manifest['config'] = made.add_blob(made.config, fx.OCI_CONFIG)
    made.replace_manifest()
    return made


class Asked:
    """``engine_checks_diff_ids`` as a callable that counts its calls."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.answer


@pytest.mark.parametrize('compression', ['gzip', 'zstd'])
def test_a_compressed_layers_diff_id_is_left_to_an_engine_that_checks_it(
        behind, compression):
    # Docker's classic store refuses such a layer itself, leaving nothing
    # (tests/functional/test_oci_images.py): its unpacked data is counted
    # but not hashed, and the engine asked once.
    asked = Asked(True)
    stream, out = run(other_diff_id(compression).tar(),
                      engine_checks_diff_ids=asked)
    assert asked.calls == 1
    [blob] = [b for b in stream._data.blobs.values()
              if b.compression == compression]
    assert blob.diff_id is None
    assert stream.manifest[0]['Layers']


@pytest.mark.parametrize('compression', ['gzip', 'zstd'])
def test_an_engine_that_does_not_check_diff_ids_leaves_it_to_the_driver(
        compression):
    asked = Asked(False)
    refused(other_diff_id(compression),
            'but the image config records the diff id',
            engine_checks_diff_ids=asked)
    assert asked.calls == 1


def test_a_plain_layers_diff_id_is_checked_whatever_the_engine():
    # Its digest is its diff id: known at no cost, and the engine is not
    # asked.
    asked = Asked(True)
    refused(other_diff_id('plain'),
            'but the image config records the diff id',
            engine_checks_diff_ids=asked)
    assert asked.calls == 0


def test_a_layer_compressed_unlike_its_media_type_is_refused():
    made = layout(compression='zstd')
    made.manifest['layers'][0]['mediaType'] = fx.OCI_LAYER['gzip']
    made.replace_manifest()
    refused(made, 'is zstd data, but its media type')


def bomb_layout(compression, unpacked):
    """A layout whose layer unpacks to ``unpacked`` zero bytes."""
    member = tarfile.TarInfo('zero')
    member.size = unpacked
    if compression == 'gzip':
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode='wb') as gz:
            gz.write(member.tobuf(tarfile.USTAR_FORMAT))
            for _ in range(unpacked >> 20):
                gz.write(bytes(1 << 20))
        layer = buf.getvalue()
    else:
        comp = zstandard.ZstdCompressor().compressobj()
        parts = [comp.compress(member.tobuf(tarfile.USTAR_FORMAT))]
        for _ in range(unpacked >> 20):
            parts.append(comp.compress(bytes(1 << 20)))
        parts.append(comp.flush())
        layer = b''.join(parts)
    made = layout(compression=compression)
    made.blobs.pop(oci.blob_name(made.layer_desc['digest']))
    made.manifest['layers'] = [made.add_blob(layer, fx.OCI_LAYER[
        compression])]
    made.replace_manifest()
    return made.tar()


@pytest.mark.parametrize('compression', ['gzip', 'zstd'])
def test_a_layer_bomb_is_cut_by_ratio_in_bounded_memory(compression):
    data = bomb_layout(compression, 512 << 20)
    assert len(data) < 4 << 20
    tracemalloc.start()
    try:
        with pytest.raises(tarstream.TarFormatError,
                           match='unpacks to more than .* times'):
            run(data)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@pytest.mark.parametrize('compression', ['gzip', 'zstd'])
def test_a_layer_bomb_is_cut_at_the_size_bound(compression):
    data = bomb_layout(compression, 96 << 20)
    pieces = source.TarPieces(iter([data]), max_size=32 << 20)
    with pytest.raises(tarstream.ArchiveTooLarge):
        for _piece in pieces:
            pass


@pytest.fixture
def behind(monkeypatch):
    """Every member measured in the background thread."""
    from nova_docker.archive import blobs
    monkeypatch.setattr(blobs, 'BACKGROUND_MIN', 0)


def test_measured_behind_the_send_the_archive_passes_alike(behind):
    made = layout(compression='gzip', platforms=['s390x'])
    stream, out = run(made.tar(), chunk=4096, platform=HOST)
    assert stream.manifest[0]['Layers'] == [
        'blobs/sha256/' + fx.sha256_hex(made.layer)]


def test_measured_behind_the_send_a_bad_blob_is_refused(behind):
    made = layout(compression='plain')
    name = 'blobs/sha256/' + fx.sha256_hex(made.layer)
    made.blobs[name] = made.layer[:-1] + bytes([made.layer[-1] ^ 1])
    refused(made, 'does not hash to its name')


@pytest.mark.parametrize('compression', ['gzip', 'zstd'])
def test_measured_behind_the_send_a_bomb_is_cut(behind, compression):
    with pytest.raises(tarstream.TarFormatError,
                       match='unpacks to more than .* times'):
        run(bomb_layout(compression, 512 << 20), chunk=65536)


# -- a partial migration transfer (nova_docker.archive.partial) -----------

def without_layer(compression='plain'):
    made = layout(compression=compression)
    del made.blobs[oci.blob_name(made.layer_desc['digest'])]
    made.manifest_json = False
    return made


def test_a_layer_the_engine_holds_may_be_missing():
    made = without_layer()
    diff_id = 'sha256:' + fx.sha256_hex(ROOTFS)
    stream, out = run(made.tar(), held_layers=(diff_id,))
    layer = 'blobs/sha256/' + fx.sha256_hex(ROOTFS)
    assert stream.manifest[0]['Layers'] == [layer]
    assert layer not in members_of(out)


@pytest.mark.parametrize('held', [
    (), ('sha256:' + '0' * 64,), ('sha256:' + '0' * 64, 'extra')],
    ids=['nothing-held', 'another-layer-held', 'held-at-another-place'])
def test_a_missing_layer_the_engine_does_not_hold_is_refused(held):
    refused(without_layer(), 'is not in the archive', held_layers=held)


def test_a_missing_compressed_layer_is_refused_even_if_held():
    # Only an uncompressed layer's digest is its diff id.
    made = without_layer('gzip')
    refused(made, 'is not in the archive',
            held_layers=('sha256:' + fx.sha256_hex(ROOTFS),))
