"""Gunzip of tenant archives, in bounded pieces."""

import gzip

import pytest

from nova_docker.archive import compression
from nova_docker.archive import tarstream
from tests.fixtures import images as fx
from tests.fixtures.byte_streams import pieces_of


# -- gunzip --------------------------------------------------------------

def gunzip_all(data, chunk):
    filt = compression.Gunzip()
    out = []
    for piece in pieces_of(data, chunk):
        out.extend(filt.feed(piece))
    out.extend(filt.finish())
    return b''.join(out), out


@pytest.mark.parametrize('chunk', [1, 3, 1000, 1 << 20])
def test_gunzip_inflates_in_bounded_pieces(chunk):
    plain = bytes(5 * compression.PIECE + 17)
    got, pieces = gunzip_all(gzip.compress(plain), chunk)
    assert got == plain
    assert max(len(p) for p in pieces) <= compression.PIECE


def test_gunzip_reads_concatenated_members_and_ignores_padding():
    data = gzip.compress(b'one') + gzip.compress(b'two') + bytes(512)
    assert gunzip_all(data, 7)[0] == b'onetwo'


def test_plain_data_passes_through_and_short_data_too():
    assert gunzip_all(b'plain data', 3)[0] == b'plain data'
    assert gunzip_all(b'ab', 1)[0] == b'ab'


@pytest.mark.parametrize('data, reason', [
    (gzip.compress(fx.random_bytes(10000))[:200], 'ends early'),
    (b'\x1f\x8b' + fx.random_bytes(100), 'corrupt'),
    (b'\xfd7zXZ\x00rest', 'xz'),
    (b'BZh91AY', 'bzip2'),
])
def test_bad_or_other_compression_is_refused(data, reason):
    with pytest.raises(tarstream.TarFormatError, match=reason):
        gunzip_all(data, 64)
