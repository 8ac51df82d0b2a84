"""Archives built to make the engine read something other than what the
loader checked: each is refused with the reason, and memory stays bounded.
"""

import gzip
import io
import json
import tarfile
import tracemalloc

import pytest

from nova_docker.archive import members
from nova_docker.image import source
from nova_docker.archive import tarstream
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


def test_oci_index_loses_its_name_annotations():
    index = {'schemaVersion': 2, 'manifests': [{
        'digest': 'sha256:' + HEX, 'annotations': {
            'io.containerd.image.name': 'docker.io/library/victim:latest',
            'org.opencontainers.image.ref.name': 'latest',
            'org.example.kept': 'yes'}}]}
    data = archive(save_start() + [
        (info('index.json'), json.dumps(index).encode()),
        (info('manifest.json'), MANIFEST)])
    _stream, out = run(data)
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        got = json.load(tar.extractfile('index.json'))
    assert got['manifests'][0]['annotations'] == {'org.example.kept': 'yes'}


def test_a_compressed_layer_is_refused():
    layer = gzip.compress(fx.busybox_rootfs_tar())
    data = archive(save_start()[:1] + [(info(HEX + '/layer.tar'), layer)])
    refused(data, 'gzip-compressed')


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
