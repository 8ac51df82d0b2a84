"""nova_docker.archive: the bounded readers, with no nova under them."""

import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import zlib

import pytest

from nova_docker.archive import compression
from nova_docker.archive import digest
from nova_docker.archive import tarindex
from nova_docker.archive import tarstream
from nova_docker.archive.members import TarFormatError

MiB = 1024 * 1024


def test_importing_the_package_imports_no_nova_or_oslo():
    code = ('import sys\n'
            'import nova_docker.archive.compression, '
            'nova_docker.archive.digest, nova_docker.archive.members, '
            'nova_docker.archive.tarindex, nova_docker.archive.tarstream\n'
            'print(sorted(m for m in sys.modules if m == "nova" or '
            'm.startswith(("nova.", "oslo"))))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'


def _bomb(unpacked: int) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [deflate.compress(bytes(MiB)) for _ in range(unpacked // MiB)]
    return b''.join(parts) + deflate.flush()


# -- compression ---------------------------------------------------------

def test_gunzip_gives_pieces_of_at_most_a_piece():
    bomb = _bomb(8 * MiB)
    pieces = list(compression.gunzip([bomb]))
    assert max(len(p) for p in pieces) <= compression.PIECE
    assert sum(len(p) for p in pieces) == 8 * MiB


def test_gunzip_refuses_past_max_size_before_unpacking_it_all():
    inflate = compression.Gunzip(max_size=3 * MiB, detect=False)
    seen = 0
    with pytest.raises(compression.UnpacksTooLarge) as caught:
        for piece in inflate.feed(_bomb(64 * MiB)):
            seen += len(piece)
    assert seen <= 3 * MiB
    assert '3145728 bytes' in str(caught.value)


def test_gunzip_refuses_a_ratio_past_the_floor_only():
    small = _bomb(16 * MiB)
    assert len(list(compression.gunzip([small], max_ratio=10)))
    with pytest.raises(compression.UnpacksTooLarge) as caught:
        list(compression.gunzip([_bomb(compression.RATIO_FLOOR + 2 * MiB)],
                                max_ratio=10))
    assert '10 times' in str(caught.value)


def test_gunzip_of_data_that_is_not_gzip_or_cut_is_a_format_error():
    with pytest.raises(TarFormatError):
        list(compression.gunzip([b'not gzip at all']))
    with pytest.raises(TarFormatError, match='ends early'):
        list(compression.gunzip([gzip.compress(b'x' * 1000)[:-20]]))


# -- digest ----------------------------------------------------------------

def test_stream_hash_checks_what_went_by():
    check = digest.StreamHash('sha256', hashlib.sha256(b'ab').hexdigest(),
                              size=2)
    check.update(b'a')
    assert not check.complete
    check.update(b'b')
    assert check.complete
    check.check()
    check.update(b'c')
    with pytest.raises(digest.DigestMismatch):
        check.check()


def test_sha256_of_chunks():
    assert digest.sha256_of([b'a', b'b']) == (
        'sha256:' + hashlib.sha256(b'ab').hexdigest())


# -- tarindex ----------------------------------------------------------------

def _tar(members, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=fmt) as tar:
        for name, data, pax in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.pax_headers = pax
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_walk_finds_members_and_their_offsets():
    long_name = 'd/' + 'n' * 200
    data = _tar([('./manifest.json', b'[]', {}), (long_name, b'xyz', {})])
    found = list(tarindex.walk(io.BytesIO(data)))
    assert [m.name for m in found] == ['manifest.json', long_name]
    second = found[1]
    assert data[second.offset_data:second.offset_data + second.size] == (
        b'xyz')


def test_walk_takes_gnu_long_names():
    long_name = 'g/' + 'n' * 200
    data = _tar([(long_name, b'q', {})], fmt=tarfile.GNU_FORMAT)
    assert [m.name for m in tarindex.walk(io.BytesIO(data))] == [long_name]


def test_walk_refuses_a_huge_extension_header_without_reading_it():
    data = _tar([('bin/sh', b'x', {'comment': 'c' * (2 * MiB)})])

    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, n=-1):
            out = super().read(n)
            Counting.read_bytes += len(out)
            return out

    with pytest.raises(TarFormatError, match='extension header'):
        list(tarindex.walk(Counting(data)))
    assert Counting.read_bytes < 64 * 1024


def test_walk_refuses_too_many_members_and_a_cut_archive():
    data = _tar([('f%d' % n, b'', {}) for n in range(5)])
    with pytest.raises(TarFormatError, match='more than 3 members'):
        list(tarindex.walk(io.BytesIO(data), max_members=3))
    with pytest.raises(TarFormatError, match='ends'):
        list(tarindex.walk(io.BytesIO(_tar([('f', b'x' * 2000, {})])[:1024])))


def test_tarstream_and_tarindex_share_the_extension_bound():
    assert tarstream.MAX_METADATA == 1024 * 1024


def test_walk_takes_an_archive_without_its_end_blocks():
    data = _tar([('a', b'1', {}), ('b', b'22', {})])
    bare = data[:3 * 512 + 512]   # two members of one block each, no end
    assert [m.name for m in tarindex.walk(io.BytesIO(bare))] == ['a', 'b']
