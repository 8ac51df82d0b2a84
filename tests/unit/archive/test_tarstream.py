"""The tar follower of the image pipeline: classification, the manifest
rewrite, refusals. No engine, no Glance."""

import gzip
import io
import json
import tarfile

import pytest

from nova_docker.image import source
from nova_docker.archive import tarstream
from tests.fixtures import images as fx
from tests.fixtures.byte_streams import members
from tests.fixtures.byte_streams import pieces_of
from tests.fixtures.byte_streams import run
from tests.fixtures.byte_streams import tar_of


# -- classification ------------------------------------------------------

@pytest.mark.parametrize('name, kind', [
    ('8539cd12347b6368cea423fdcf433f96076967c1df6cff03867b4796b4bd0aba'
     '.json', tarstream.DOCKER_SAVE),
    ('c94ab7c21154745eff4d3253f2f2385ecb9768fab033d3e5e0f629f41a7052c7/',
     tarstream.DOCKER_SAVE),
    ('c94ab7c21154745eff4d3253f2f2385ecb9768fab033d3e5e0f629f41a7052c7'
     '/VERSION', tarstream.DOCKER_SAVE),
    ('manifest.json', tarstream.DOCKER_SAVE),
    ('repositories', tarstream.DOCKER_SAVE),
    ('blobs/sha256/ab', tarstream.DOCKER_SAVE),
    ('oci-layout', tarstream.DOCKER_SAVE),
    ('.dockerenv', tarstream.ROOTFS),
    ('bin/', tarstream.ROOTFS),
    ('etc/manifest.json', tarstream.ROOTFS),
    ('abc.json', tarstream.ROOTFS),
])
def test_classify_by_first_member(name, kind):
    assert tarstream.classify(name) == kind


@pytest.mark.parametrize('gz', [False, True])
@pytest.mark.parametrize('repo_tag', ['someones/app:1', None])
def test_docker_save_is_recognised_and_loses_its_tags(gz, repo_tag):
    tar = fx.docker_save_tar(repo_tag, ['/bin/sh'], gzip=gz)
    pieces = source.TarPieces(iter(pieces_of(tar, 4096)))
    assert pieces.kind() == tarstream.DOCKER_SAVE
    out = b''.join(pieces)
    assert pieces.compressed is gz
    got = members(out)
    manifest = json.loads(got['manifest.json'])
    assert manifest[0]['RepoTags'] is None
    assert pieces.tar.manifest[0]['RepoTags'] == (
        [repo_tag] if repo_tag else None)
    original = members(gzip.decompress(tar) if gz else tar)
    # 'repositories' names images too: it is dropped.
    assert 'repositories' not in got
    for name, data in original.items():
        if name not in ('manifest.json', 'repositories'):
            assert got[name] == data, name
    assert tarstream.config_digests(pieces.tar.manifest) == [
        'sha256:' + fx.saved_image_id(tar)]


def test_rootfs_is_recognised_and_passes_unchanged():
    rootfs = fx.busybox_rootfs_tar()
    out = run(tarstream.TarStream(rewrite_manifest=True), rootfs, 1000)
    assert members(out) == members(rootfs)
    stream = tarstream.TarStream()
    stream.feed(rootfs[:512])
    assert stream.kind == tarstream.ROOTFS


def test_dot_slash_entry_does_not_decide_the_kind():
    data = tar_of([('./', None), ('./bin/', None), ('./bin/x', b'x')])
    stream = tarstream.TarStream()
    run(stream, data)
    assert stream.kind == tarstream.ROOTFS


def test_member_data_passes_without_copies():
    big = b'a' * (3 * 65536)
    data = tar_of([('bin/big', big)])
    stream = tarstream.TarStream()
    chunks = [data[:512]] + pieces_of(data[512:512 + len(big)], 65536)
    out = []
    for chunk in chunks:
        out.extend(stream.feed(chunk))
    assert all(a is b for a, b in zip(out[1:], chunks[1:], strict=True))


def test_pax_and_gnu_long_names_are_followed():
    long_name = 'x' * 150 + '/manifest-like'
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        data = tar_of([(long_name, b'1' * 700), ('etc/', None)], fmt=fmt)
        stream = tarstream.TarStream()
        out = run(stream, data, 100)
        assert stream.kind == tarstream.ROOTFS
        assert stream.members == 2
        assert members(out)[long_name] == b'1' * 700


def test_manifest_after_pax_header_is_rewritten_alone():
    save = fx.docker_save_tar('a:b', ['true'])
    entries = [(n, d) for n, d in members(save).items()]
    # A pax record forces an extended header in front of manifest.json.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w',
                      format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                continue
            info.size = len(data)
            if name == 'manifest.json':
                info.pax_headers = {'comment': 'x'}
            tar.addfile(info, io.BytesIO(data))
    out = run(tarstream.TarStream(rewrite_manifest=True), buf.getvalue())
    assert json.loads(members(out)['manifest.json'])[0]['RepoTags'] is None


@pytest.mark.parametrize('data, reason', [
    (fx.random_bytes(4096), 'not a tar archive'),
    (b'', 'holds no file'),
    (bytes(10240), 'holds no file'),
    (fx.truncated(fx.busybox_rootfs_tar()), 'ends in the middle'),
    (fx.busybox_rootfs_tar()[:700], 'ends in the middle'),
])
def test_bad_data_is_refused_with_the_reason(data, reason):
    with pytest.raises(tarstream.TarFormatError, match=reason):
        run(tarstream.TarStream(), data, 300)


def test_a_damaged_header_in_the_middle_is_named():
    data = bytearray(tar_of([('a', b'1'), ('b', b'2')]))
    data[1024 + 100] ^= 0xff  # the mode field of the second header
    with pytest.raises(tarstream.TarFormatError, match='header 2'):
        run(tarstream.TarStream(), bytes(data))


def test_end_marker_is_held_and_trailing_data_dropped():
    data = tar_of([('bin/x', b'x' * 10)])
    stream = tarstream.TarStream()
    out = b''.join(stream.feed(data + b'garbage' * 100))
    assert stream.ended
    assert out == data[:1024]
    assert stream.finish() == tarstream.END_OF_ARCHIVE


def test_archive_without_end_marker_gets_one():
    data = tar_of([('bin/x', b'x' * 10)])[:1024]
    assert run(tarstream.TarStream(), data) == data + bytes(1024)


def test_manifest_that_is_not_json_is_refused():
    data = tar_of([('a' * 64 + '.json', b'{}'), ('manifest.json', b'{no')])
    with pytest.raises(tarstream.TarFormatError, match='not JSON'):
        run(tarstream.TarStream(), data)


def test_huge_metadata_is_refused_before_it_is_held(monkeypatch):
    monkeypatch.setattr(tarstream, 'MAX_METADATA', 10)
    data = tar_of([('a' * 64 + '.json', b'{}'), ('manifest.json', b'[]' * 9)])
    with pytest.raises(tarstream.TarFormatError, match='manifest'):
        run(tarstream.TarStream(), data)


def test_parse_pax_records():
    assert tarstream.parse_pax(b'14 path=a/b/c\n13 size=1234\n') == {
        'path': 'a/b/c', 'size': '1234'}
    with pytest.raises(tarstream.TarFormatError):
        tarstream.parse_pax(b'xx path=a\n')
