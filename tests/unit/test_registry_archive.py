"""The pushed tag's archive reads each layer ahead in a thread."""

import io
import tarfile
import threading
import zlib

import pytest

from nova_docker.registry import archive


def _gzip(data: bytes) -> bytes:
    deflate = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return deflate.compress(data) + deflate.flush()


def _pieces(data: bytes, size: int = 1000):
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_layers_are_unpacked_into_the_archive_in_order():
    plain = [bytes([n]) * (5000 + n) for n in range(3)]
    layers = [archive.Layer('sha256:%064d' % n, len(p), True,
                            lambda p=p: _pieces(_gzip(p)))
              for n, p in enumerate(plain)]
    data = b''.join(archive.archive(b'{}', 'sha256:' + 'c' * 64, layers,
                                    'app:1'))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for layer, p in zip(layers, plain, strict=True):
            member = tar.extractfile(archive.layer_name(layer.diff_id))
            assert member.read() == p


def test_a_failing_read_reaches_the_upload():
    def broken():
        yield b'x' * 10
        raise OSError('Glance went away')

    layer = archive.Layer('sha256:' + 'a' * 64, 20, False, broken)
    with pytest.raises(OSError, match='Glance went away'):
        b''.join(archive.archive(b'{}', 'sha256:' + 'c' * 64, [layer],
                                 'app:1'))


def test_an_abandoned_read_stops_and_closes_its_source():
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield b'y' * 1024
        finally:
            closed.set()

    stream = archive._read_ahead(endless())
    assert next(stream) == b'y' * 1024
    stream.close()
    assert closed.wait(5)
