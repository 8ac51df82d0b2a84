"""The pure stream filters of the image pipeline: tar follower, gunzip,
hash check and the source/reader plumbing. No engine, no Glance."""

import gzip
import hashlib
import io
import json
import tarfile
import threading

import pytest
from nova import exception

from nova_docker.archive import compression
from nova_docker.image import digest
from nova_docker import exception as docker_exception
from nova_docker.image import snapshot
from nova_docker.image import source
from nova_docker.archive import tarstream
from tests.fixtures import images as fx


def tar_of(members, fmt=tarfile.USTAR_FORMAT):
    """A tar (bytes) of ``[(name, data or None for a dir)]``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def pieces_of(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def run(stream, data, chunk=65536):
    out = []
    for piece in pieces_of(data, chunk):
        out.extend(stream.feed(piece))
    out.append(stream.finish())
    return b''.join(out)


def members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() if m.isfile() else None
                for m in tar.getmembers()}


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


# -- hash check -----------------------------------------------------------

def glance_image(data, **over):
    image = {'id': 'img-1', 'size': len(data), 'os_hash_algo': 'sha256',
             'os_hash_value': hashlib.sha256(data).hexdigest(),
             'checksum': hashlib.md5(data).hexdigest()}
    image.update(over)
    return image


def test_multihash_is_preferred_and_verified():
    data = b'data' * 1000
    check = digest.HashCheck.for_image(glance_image(data))
    assert check.algo == 'sha256'
    check.update(data)
    assert check.complete
    check.verify()


@pytest.mark.parametrize('over, algo', [
    ({'os_hash_algo': 'no-such-hash'}, 'md5'),
    ({'os_hash_algo': None, 'os_hash_value': None}, 'md5'),
    ({'os_hash_algo': None, 'os_hash_value': None, 'checksum': None}, None),
])
def test_hash_fallbacks(over, algo):
    data = b'x' * 10
    check = digest.HashCheck.for_image(glance_image(data, **over))
    assert check.algo == (algo if algo else None)
    check.update(data)
    check.verify()


def test_mismatch_says_checksum_mismatch_and_image_id():
    check = digest.HashCheck.for_image(glance_image(b'good'))
    check.update(b'evil')
    with pytest.raises(exception.ImageUnacceptable,
                       match='img-1.*checksum mismatch'):
        check.verify()


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


# -- snapshot upload reader -------------------------------------------------

def test_iter_reader_reads_like_a_file():
    reader = snapshot.IterReader(iter([b'abc', b'', b'defgh', b'i']))
    assert reader.read(2) == b'ab'
    assert reader.read(4) == b'c'
    assert reader.read(100) == b'defgh'
    assert reader.read() == b'i'
    assert reader.read(10) == b''
    with pytest.raises(TypeError):
        json.dumps(reader)  # glanceclient then chunks it as a file


def test_iter_reader_hands_on_the_chunks_themselves():
    # glanceclient's HTTP library copies what it is given anyway: a copy
    # here would be a second one.
    chunks = [b'a' * 1000, b'b' * 65536]
    reader = snapshot.IterReader(iter(chunks))
    assert reader.read(1 << 20) is chunks[0]
    assert reader.read(1 << 20) is chunks[1]


def test_iter_reader_cuts_big_chunks_into_upload_pieces():
    data = bytes(range(256)) * 1024
    reader = snapshot.IterReader(iter([data]), piece=100000)
    pieces = list(iter(lambda: reader.read(1 << 20), b''))
    assert [len(p) for p in pieces] == [100000, 100000, 62144]
    assert b''.join(pieces) == data
    buffer = bytearray(10)
    assert snapshot.IterReader(iter([b'abc'])).readinto(buffer) == 3
    assert buffer[:3] == b'abc'


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
