"""Glance's download as a checked stream of tar pieces: the push-style
download, the spool, the prefetch. No engine, no Glance."""

import threading

import pytest
from nova import exception

from nova_docker.image import digest
from nova_docker import exception as docker_exception
from nova_docker.image import source
from nova_docker.archive import tarstream
from tests.fixtures import images as fx
from tests.fixtures.byte_streams import glance_image
from tests.fixtures.byte_streams import pieces_of


# -- the download, push-style --------------------------------------------

def writing(chunks, exc=None):
    """A fetch(sink) that writes ``chunks`` into the sink, as nova's image
    API does with ``data=``, then raises ``exc`` if given."""
    def fetch(sink):
        for chunk in chunks:
            sink.write(chunk)
        if exc is not None:
            raise exc
    return fetch


def produced(producer):
    """What ``producer`` writes, and the exception it ended with."""
    out = []
    try:
        producer(out.append)
    except Exception as exc:  # returned for the test to look at
        return out, exc
    return out, None


def test_download_raises_mismatch_after_the_last_chunk():
    check = digest.HashCheck.for_image(glance_image(b'abcdef'))
    got, exc = produced(source.downloaded(writing([b'abc', b'xyz']), check))
    assert got == [b'abc', b'xyz']
    assert isinstance(exc, exception.ImageUnacceptable)
    assert 'checksum mismatch' in str(exc)


def test_download_hashes_each_byte_once(tmp_path):
    data = fx.random_bytes(3 * 65536 + 5)
    for directory in (None, str(tmp_path)):
        check = digest.HashCheck.for_image(glance_image(data))
        got, exc = produced(source.downloaded(
            writing(pieces_of(data, 65536)), check, directory))
        assert exc is None and b''.join(got) == data
        assert check.received == len(data)


def test_glanceclient_corrupt_download_becomes_checksum_mismatch():
    check = digest.HashCheck.for_image(glance_image(b'abcdef'))
    fetch = writing([b'abc', b'xyz'], IOError('Corrupt image download'))
    with pytest.raises(exception.ImageUnacceptable, match='mismatch'):
        source.downloaded(fetch, check)(lambda chunk: None)


def test_broken_download_becomes_image_download_failed():
    check = digest.HashCheck.for_image(glance_image(b'abcdef'))
    fetch = writing([b'abc'], ConnectionResetError('reset by peer'))
    with pytest.raises(docker_exception.ImageDownloadFailed,
                       match='after 3 of 6 bytes: reset by peer'):
        source.downloaded(fetch, check)(lambda chunk: None)


def test_nova_errors_of_the_download_pass_as_they_are():
    check = digest.HashCheck.for_image(glance_image(b'abcdef'))
    gone = exception.ImageNotFound(image_id='img-1')
    _, exc = produced(source.downloaded(writing([], gone), check))
    assert exc is gone


def test_errors_of_the_destination_are_not_download_failures():
    check = digest.HashCheck.for_image(glance_image(b'abcdef'))
    full = OSError(28, 'No space left on device')

    def write(chunk):
        raise full

    with pytest.raises(OSError) as raised:
        source.downloaded(writing([b'abc']), check)(write)
    assert raised.value is full


def test_spooled_download_verifies_before_the_first_byte_leaves(tmp_path):
    check = digest.HashCheck.for_image(glance_image(b'abcdef'))
    got, exc = produced(source.downloaded(writing([b'abc', b'xyz']), check,
                                          str(tmp_path)))
    assert got == [] and isinstance(exc, exception.ImageUnacceptable)
    assert list(tmp_path.iterdir()) == []


def test_spooled_download_gives_back_the_data(tmp_path):
    data = fx.random_bytes(3 * source.SPOOL_PIECE + 5)
    check = digest.HashCheck.for_image(glance_image(data))
    got, exc = produced(source.downloaded(writing(pieces_of(data, 65536)),
                                          check, str(tmp_path)))
    assert exc is None and b''.join(got) == data
    assert list(tmp_path.iterdir()) == []


def test_sink_truncate_is_accepted():
    # nova calls it before raising InvalidSignature.
    sink = source.Sink(digest.HashCheck('i', None, None), lambda c: None)
    assert sink.write(b'abc') == 3
    sink.truncate(0)


def test_tar_pieces_hold_the_end_until_the_final_checks():
    tar = fx.busybox_rootfs_tar()
    calls = []

    def final(stream):
        calls.append(stream.members)
        raise exception.ImageNotFound(image_id='x')

    pieces = source.TarPieces(iter(pieces_of(tar, 65536)),
                              final_checks=[final])
    sent = []
    with pytest.raises(exception.ImageNotFound):
        for piece in pieces:
            sent.append(piece)
    assert calls and b''.join(sent) == tar[:len(b''.join(sent))]
    assert not b''.join(sent).endswith(tarstream.END_OF_ARCHIVE)


def test_tar_pieces_close_closes_the_source():
    closed = []

    def chunks():
        try:
            yield fx.busybox_rootfs_tar()[:4096]
            yield b'more'
        finally:
            closed.append(True)

    pieces = source.TarPieces(chunks())
    assert pieces.kind() == tarstream.ROOTFS
    pieces.close()
    assert closed == [True]


# -- prefetch ------------------------------------------------------------

def test_prefetch_passes_pieces_big_enough_as_they_are():
    # glanceclient's 1 MiB chunks: joining them again would copy each.
    chunks = [bytes([i]) * 4096 for i in range(5)]
    pieces = list(source.Prefetch(iter(chunks), piece=4096, depth=2))
    assert all(p is c for p, c in zip(pieces, chunks, strict=True))


def test_prefetch_keeps_the_bytes_in_order_in_bigger_pieces():
    chunks = [bytes([i % 256]) * 1000 for i in range(50)]
    pieces = list(source.Prefetch(iter(chunks), piece=4096, depth=2))
    assert b''.join(pieces) == b''.join(chunks)
    assert all(len(p) >= 4096 for p in pieces[:-1])


def test_prefetch_raises_the_source_error_to_the_reader():
    def chunks():
        yield b'a' * 10
        raise exception.ImageUnacceptable(image_id='x', reason='mismatch')

    with pytest.raises(exception.ImageUnacceptable, match='mismatch'):
        list(source.Prefetch(chunks(), piece=4, depth=1))


def test_prefetch_close_stops_and_closes_the_source():
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield b'x' * 100
        finally:
            closed.set()

    prefetch = source.Prefetch(endless(), piece=100, depth=1)
    assert next(iter(prefetch)) == b'x' * 100
    prefetch.close()
    assert closed.wait(5)


def test_pushed_prefetch_ends_only_once_the_producer_returned():
    returned = threading.Event()
    release = threading.Event()

    def produce(write):
        for i in range(10):
            write(bytes([i]) * 1000)
        release.wait(5)  # nova's verifier.verify() runs here
        returned.set()

    reader = iter(source.Prefetch.pushed(produce, piece=5000, depth=2))
    got = [next(reader), next(reader)]  # all of the data
    rest = threading.Thread(target=lambda: got.extend(reader))
    rest.start()
    rest.join(0.3)
    assert rest.is_alive()  # the reader waits for the producer's return
    release.set()
    rest.join(5)
    assert not rest.is_alive() and returned.is_set()
    assert b''.join(got) == b''.join(bytes([i]) * 1000 for i in range(10))


def test_pushed_prefetch_close_stops_the_producer():
    stopped = threading.Event()

    def produce(write):
        try:
            while True:
                write(b'x' * 100)
        except Exception:
            stopped.set()
            raise

    prefetch = source.Prefetch.pushed(produce, piece=100, depth=1)
    assert next(iter(prefetch)) == b'x' * 100
    prefetch.close()
    assert stopped.wait(5)
