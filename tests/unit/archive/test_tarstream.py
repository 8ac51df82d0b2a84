"""The tar follower (archive/tarstream.py): archives built to make the
engine read something other than what the loader checked, each refused
with the reason in bounded memory; then the plain classification, the
manifest rewrite and the refusals of damaged data."""

import gzip
import io
import json
import tarfile
import tracemalloc

import pytest

from nova_docker.archive import members
from nova_docker.image import source
from nova_docker.archive import tarstream
from tests.fixtures import byte_streams as bs
from tests.fixtures import images as fx

HEX = 'ab' * 32
MANIFEST = json.dumps([{'Config': HEX + '.json',
                        'RepoTags': ['victim:latest'],
                        'Layers': [HEX + '/layer.tar']}]).encode()


def info(name, type_=tarfile.REGTYPE, size=0, linkname='', pax=None):
    member = tarfile.TarInfo(name)
    member.type = type_
    member.size = size
    member.linkname = linkname
    member.mode = 0o644
    if pax:
        member.pax_headers = pax
    return member


def archive(entries, fmt=tarfile.USTAR_FORMAT):
    """A tar of ``[(TarInfo, data)]`` as ``tarfile`` writes it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=fmt) as tar:
        for member, data in entries:
            if data is not None:
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data or b''))
    return buf.getvalue()


def save_start():
    """The members every test archive starts with (a docker save's)."""
    return [(info(HEX, tarfile.DIRTYPE), None),
            (info(HEX + '/layer.tar'), fx.busybox_rootfs_tar()),
            (info(HEX + '.json'), b'{}')]


def without_end(data):
    """``data`` without its end-of-archive blocks (tarfile pads to 10 KiB),
    so that more members can follow."""
    stream = tarstream.TarStream()
    out = []
    for i in range(0, len(data), 512):
        out.extend(stream.feed(data[i:i + 512]))
    return b''.join(out)


def run(data, chunk=4096, **kwargs):
    stream = tarstream.TarStream(rewrite_manifest=True, **kwargs)
    out = []
    for i in range(0, len(data), chunk):
        out.extend(stream.feed(data[i:i + chunk]))
    out.append(stream.finish())
    return stream, b''.join(out)


def refused(data, match, **kwargs):
    with pytest.raises(tarstream.TarFormatError, match=match):
        run(data, **kwargs)


@pytest.mark.parametrize('name', [
    'x/../manifest.json', './manifest.json', '/manifest.json',
    HEX + '//json', HEX + '/./json', 'manifest.json/', 'a\x01b',
])
def test_non_canonical_names_are_refused(name):
    data = archive(save_start() + [(info('manifest.json'), MANIFEST),
                                   (info(name), MANIFEST)])
    refused(data, 'not a canonical path')


def test_a_second_manifest_is_refused():
    data = archive(save_start() + [(info('manifest.json'), MANIFEST),
                                   (info('manifest.json'), MANIFEST)])
    refused(data, 'occurs twice')


def test_a_directory_and_a_file_of_one_name_are_refused():
    data = archive(save_start() + [(info(HEX), b'x')])
    refused(data, 'occurs twice')


@pytest.mark.parametrize('name, target, match', [
    ('manifest.json', HEX + '.json', 'named like'),
    ('evil', 'manifest.json', 'points at the archive'),
    ('evil', '../../etc/passwd', 'outside the archive'),
    ('evil', '/etc/passwd', 'outside the archive'),
    ('evil', '.', 'outside the archive'),
])
def test_symlinks_that_could_stand_for_metadata_are_refused(name, target,
                                                            match):
    data = archive(save_start() + [
        (info(name, tarfile.SYMTYPE, linkname=target), None),
        (info('manifest.json'), MANIFEST)])
    refused(data, match)


def test_a_path_through_a_symlink_is_refused():
    data = archive(save_start() + [
        (info('d', tarfile.SYMTYPE, linkname=HEX), None),
        (info('d/manifest.json'), MANIFEST)])
    refused(data, 'below a symlink')


def test_dockers_own_shared_layer_symlink_is_kept():
    other = 'cd' * 32
    data = archive(save_start() + [
        (info(other, tarfile.DIRTYPE), None),
        (info(other + '/layer.tar', tarfile.SYMTYPE,
              linkname='../%s/layer.tar' % HEX), None),
        (info('manifest.json'), MANIFEST)])
    stream, out = run(data)
    assert stream.members == 6


@pytest.mark.parametrize('type_', [tarfile.LNKTYPE, tarfile.CHRTYPE,
                                   tarfile.FIFOTYPE, tarfile.GNUTYPE_SPARSE,
                                   b'V'])
def test_other_member_types_are_refused(type_):
    data = archive(save_start() + [
        (info('x', type_, linkname=HEX + '.json'), None)])
    refused(data, 'of tar type')


def test_a_directory_with_data_is_refused():
    header = bytearray(archive(save_start()[:1]))
    # Give the directory header a size (and fix its checksum).
    header[124:136] = b'%011o\0' % 512
    header[148:156] = b'        '
    header[148:156] = b'%06o\0 ' % sum(header[:512])
    data = bytes(header[:512]) + bytes(512) + archive(save_start()[1:])
    refused(data, 'directory with 512 bytes')


def gnu_header_with_prefix(name, prefix, data):
    """A GNU-magic header whose ustar prefix field is set: Python's tarfile
    prepends the prefix, Go's archive/tar does not."""
    block = bytearray(info(name, size=len(data)).tobuf(tarfile.GNU_FORMAT))
    block[345:345 + len(prefix)] = prefix
    block[148:156] = b'        '
    block[148:156] = b'%06o\0 ' % sum(block[:512])
    return bytes(block) + data + bytes(-len(data) % 512)


def test_a_prefix_field_outside_posix_ustar_is_refused():
    start = without_end(archive(save_start()))
    member = gnu_header_with_prefix('manifest.json', b'x', MANIFEST)
    assert tarfile.TarInfo.frombuf(member[:512], 'utf-8',
                                   'strict').name == 'x/manifest.json'
    assert members.header_name_as_go_reads_it(member) == 'manifest.json'
    refused(start + member + bytes(1024), 'prefix field')


def test_a_global_pax_header_is_refused():
    data = archive(save_start()[:1] + [
        (info('g', tarfile.XGLTYPE), b'19 path=manifest.json\n')])
    refused(data, 'of tar type')


@pytest.mark.parametrize('pax', [{'hdrcharset': 'BINARY'},
                                 {'GNU.sparse.name': 'manifest.json'}])
def test_pax_records_read_unlike_are_refused(pax):
    data = archive(save_start() + [(info('manifest.json', pax=pax),
                                    MANIFEST)], fmt=tarfile.PAX_FORMAT)
    refused(data, 'pax record')


def test_malformed_pax_records_are_refused():
    for record in (b'20 path=manifest.json', b'x path=a\n', b'5 =\n'):
        assert record
        with pytest.raises(tarstream.TarFormatError, match='malformed'):
            tarstream.parse_pax(record)


def test_two_extension_headers_before_one_member_are_refused():
    pax_member = without_end(archive([(info(HEX + '/json',
                                            pax={'comment': 'x'}), b'x')],
                                     fmt=tarfile.PAX_FORMAT))
    pax_header = pax_member[:1024]
    data = without_end(archive(save_start())) + pax_header + pax_member
    refused(data + bytes(1024), 'extension headers')


def test_an_oci_index_beside_a_classic_archive_is_refused():
    # The engine would read the archive through index.json (and name the
    # image from its annotations); the loader reads an index.json only
    # over an OCI layout, and refuses it beside anything else.
    index = {'schemaVersion': 2, 'manifests': [{
        'digest': 'sha256:' + HEX, 'annotations': {
            'io.containerd.image.name': 'docker.io/library/victim:latest',
            'org.opencontainers.image.ref.name': 'latest'}}]}
    data = archive(save_start() + [
        (info('index.json'), json.dumps(index).encode()),
        (info('manifest.json'), MANIFEST)])
    refused(data, 'outside blobs/')


def test_a_layer_compressed_as_no_engine_reads_it_is_refused():
    import bz2
    layer = bz2.compress(fx.busybox_rootfs_tar())
    data = archive(save_start()[:1] + [(info(HEX + '/layer.tar'), layer)])
    refused(data, 'bzip2-compressed')


def test_a_root_filesystem_tar_keeps_what_a_rootfs_has():
    data = archive([(info('./', tarfile.DIRTYPE), None),
                    (info('./bin/sh', tarfile.SYMTYPE,
                          linkname='/bin/busybox'), None),
                    (info('./bin/ash', tarfile.LNKTYPE,
                          linkname='./bin/sh'), None),
                    (info('./dev/null', tarfile.CHRTYPE), None)])
    stream, out = run(data)
    assert stream.kind == tarstream.ROOTFS
    assert out == data[:len(out) - 1024] + bytes(1024)


# -- memory -------------------------------------------------------------

def test_piled_up_extension_headers_are_refused_early():
    # A few hundred KB that, read naively, would be held forever.
    pax = info('x', pax={'comment': 'c' * 200000})
    one = without_end(archive([(pax, b'')], fmt=tarfile.PAX_FORMAT))
    header_only = one[:-512]
    data = header_only * 50
    stream = tarstream.TarStream()
    with pytest.raises(tarstream.TarFormatError, match='extension headers'):
        for i in range(0, len(data), 65536):
            stream.feed(data[i:i + 65536])
    assert stream.size < 5 * len(header_only)


def gzip_bomb(unpacked):
    """A gzip of a tar that unpacks to ``unpacked`` bytes of zeros in one
    member, made without holding it."""
    buf = io.BytesIO()
    member = info('bin/zero', size=unpacked).tobuf(tarfile.USTAR_FORMAT)
    with gzip.GzipFile(fileobj=buf, mode='wb') as gz:
        gz.write(member)
        piece = bytes(1 << 20)
        for _ in range(unpacked >> 20):
            gz.write(piece)
        gz.write(bytes(1024))
    return buf.getvalue()


def test_a_gzip_bomb_is_cut_at_the_size_bound_in_bounded_memory():
    bomb = gzip_bomb(256 << 20)
    assert len(bomb) < 1 << 20
    pieces = source.TarPieces(iter([bomb[i:i + 65536]
                                    for i in range(0, len(bomb), 65536)]),
                              max_size=64 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(tarstream.ArchiveTooLarge):
            for _piece in pieces:
                pass
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert pieces.tar.size <= (64 << 20) + (1 << 20)


def test_an_archive_within_the_bound_passes():
    data = fx.busybox_rootfs_tar()
    stream, out = run(data, max_size=len(data))
    assert stream.size == len(data)


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
    pieces = source.TarPieces(iter(bs.pieces_of(tar, 4096)))
    assert pieces.kind() == tarstream.DOCKER_SAVE
    out = b''.join(pieces)
    assert pieces.compressed is gz
    got = bs.members(out)
    manifest = json.loads(got['manifest.json'])
    assert manifest[0]['RepoTags'] is None
    assert pieces.tar.manifest[0]['RepoTags'] == (
        [repo_tag] if repo_tag else None)
    original = bs.members(gzip.decompress(tar) if gz else tar)
    # 'repositories' names images too: it is dropped.
    assert 'repositories' not in got
    for name, data in original.items():
        if name not in ('manifest.json', 'repositories'):
            assert got[name] == data, name
    assert tarstream.config_digests(pieces.tar.manifest) == [
        'sha256:' + fx.saved_image_id(tar)]


def test_rootfs_is_recognised_and_passes_unchanged():
    rootfs = fx.busybox_rootfs_tar()
    out = bs.run(tarstream.TarStream(rewrite_manifest=True), rootfs, 1000)
    assert bs.members(out) == bs.members(rootfs)
    stream = tarstream.TarStream()
    stream.feed(rootfs[:512])
    assert stream.kind == tarstream.ROOTFS


def test_dot_slash_entry_does_not_decide_the_kind():
    data = bs.tar_of([('./', None), ('./bin/', None), ('./bin/x', b'x')])
    stream = tarstream.TarStream()
    bs.run(stream, data)
    assert stream.kind == tarstream.ROOTFS


def test_member_data_passes_without_copies():
    big = b'a' * (3 * 65536)
    data = bs.tar_of([('bin/big', big)])
    stream = tarstream.TarStream()
    chunks = [data[:512]] + bs.pieces_of(data[512:512 + len(big)], 65536)
    out = []
    for chunk in chunks:
        out.extend(stream.feed(chunk))
    assert all(a is b for a, b in zip(out[1:], chunks[1:], strict=True))


def test_pax_and_gnu_long_names_are_followed():
    long_name = 'x' * 150 + '/manifest-like'
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        data = bs.tar_of([(long_name, b'1' * 700), ('etc/', None)], fmt=fmt)
        stream = tarstream.TarStream()
        out = bs.run(stream, data, 100)
        assert stream.kind == tarstream.ROOTFS
        assert stream.members == 2
        assert bs.members(out)[long_name] == b'1' * 700


def test_manifest_after_pax_header_is_rewritten_alone():
    save = fx.docker_save_tar('a:b', ['true'])
    entries = [(n, d) for n, d in bs.members(save).items()]
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
    out = bs.run(tarstream.TarStream(rewrite_manifest=True), buf.getvalue())
    assert json.loads(bs.members(out)['manifest.json'])[0]['RepoTags'] is None


@pytest.mark.parametrize('data, reason', [
    (fx.random_bytes(4096), 'not a tar archive'),
    (b'', 'holds no file'),
    (bytes(10240), 'holds no file'),
    (fx.truncated(fx.busybox_rootfs_tar()), 'ends in the middle'),
    (fx.busybox_rootfs_tar()[:700], 'ends in the middle'),
])
def test_bad_data_is_refused_with_the_reason(data, reason):
    with pytest.raises(tarstream.TarFormatError, match=reason):
        bs.run(tarstream.TarStream(), data, 300)


def test_a_damaged_header_in_the_middle_is_named():
    data = bytearray(bs.tar_of([('a', b'1'), ('b', b'2')]))
    data[1024 + 100] ^= 0xff  # the mode field of the second header
    with pytest.raises(tarstream.TarFormatError, match='header 2'):
        bs.run(tarstream.TarStream(), bytes(data))


def test_end_marker_is_held_and_trailing_data_dropped():
    data = bs.tar_of([('bin/x', b'x' * 10)])
    stream = tarstream.TarStream()
    out = b''.join(stream.feed(data + b'garbage' * 100))
    assert stream.ended
    assert out == data[:1024]
    assert stream.finish() == tarstream.END_OF_ARCHIVE


def test_archive_without_end_marker_gets_one():
    data = bs.tar_of([('bin/x', b'x' * 10)])[:1024]
    assert bs.run(tarstream.TarStream(), data) == data + bytes(1024)


def test_manifest_that_is_not_json_is_refused():
    data = bs.tar_of([('a' * 64 + '.json', b'{}'), ('manifest.json', b'{no')])
    with pytest.raises(tarstream.TarFormatError, match='not JSON'):
        bs.run(tarstream.TarStream(), data)


def test_huge_metadata_is_refused_before_it_is_held(monkeypatch):
    monkeypatch.setattr(tarstream, 'MAX_METADATA', 10)
    data = bs.tar_of([('a' * 64 + '.json', b'{}'),
                      ('manifest.json', b'[]' * 9)])
    with pytest.raises(tarstream.TarFormatError, match='manifest'):
        bs.run(tarstream.TarStream(), data)


def test_parse_pax_records():
    assert tarstream.parse_pax(b'14 path=a/b/c\n13 size=1234\n') == {
        'path': 'a/b/c', 'size': '1234'}
    with pytest.raises(tarstream.TarFormatError):
        tarstream.parse_pax(b'xx path=a\n')
