"""Uploads in flight, in a temporary upload_dir."""

import gzip
import hashlib
import io
import os
import tarfile
import time

import pytest

from nova_docker.registry import errors
from nova_docker.registry import uploads


def _digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _tar(content=b'hello'):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        info = tarfile.TarInfo('f')
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _reader(data):
    return io.BytesIO(data).read


@pytest.fixture
def store(tmp_path):
    return uploads.Uploads(str(tmp_path / 'uploads'), max_size=1000,
                           timeout=60)


def _files(store):
    return sorted(os.listdir(store.directory))


# -- LayerProbe ---------------------------------------------------------

def test_probe_of_a_gzip_layer_gives_its_diff_id_in_any_chunking():
    plain = _tar(os.urandom(5000))
    blob = gzip.compress(plain)
    for size in (1, 7, 1000, len(blob)):
        probe = uploads.LayerProbe()
        for i in range(0, len(blob), size):
            probe.update(blob[i:i + size])
        assert probe.digest == _digest(blob)
        assert probe.size == len(blob)
        assert probe.diff() == (_digest(plain), len(plain))


def test_probe_of_concatenated_gzip_members():
    plain = _tar(b'x' * 3000)
    blob = gzip.compress(plain[:1000]) + gzip.compress(plain[1000:])
    probe = uploads.LayerProbe()
    probe.update(blob)
    assert probe.diff() == (_digest(plain), len(plain))


def test_probe_of_plain_data_has_no_diff():
    probe = uploads.LayerProbe()
    probe.update(b'{"config": 1}')
    assert probe.diff() is None
    assert probe.digest == _digest(b'{"config": 1}')


def test_probe_of_broken_gzip_has_no_diff():
    probe = uploads.LayerProbe()
    probe.update(b'\x1f\x8b' + b'garbage' * 10)
    assert probe.gzip_error
    assert probe.diff() is None


# -- Uploads ------------------------------------------------------------

def test_an_upload_from_start_to_finish(store):
    upload_id = store.start('app', 'project-a')
    assert _files(store) == [upload_id + '.data', upload_id + '.json']
    assert store.size(upload_id, 'app', 'project-a') == 0
    assert store.append(upload_id, 'app', 'project-a', _reader(b'abc'),
                        0, 3) == 3
    assert store.append(upload_id, 'app', 'project-a', _reader(b'def'),
                        3, 3) == 6
    finished = store.finish(upload_id, 'app', 'project-a', _digest(b'abcdef'))
    assert finished.size == 6
    assert finished.digest == _digest(b'abcdef')
    with open(finished.path, 'rb') as f:
        assert f.read() == b'abcdef'
    store.remove(upload_id)
    assert _files(store) == []


def test_an_upload_is_its_repository_and_project_only(store):
    upload_id = store.start('app', 'project-a')
    for name, project in (('other', 'project-a'), ('app', 'project-b')):
        with pytest.raises(errors.BlobUploadUnknown):
            store.size(upload_id, name, project)
    for bad in ('', '../etc/passwd', 'A' * 32, upload_id + 'x'):
        with pytest.raises(errors.BlobUploadUnknown):
            store.size(bad, 'app', 'project-a')


def test_a_chunk_at_the_wrong_offset_is_range_invalid(store):
    upload_id = store.start('app', 'p')
    store.append(upload_id, 'app', 'p', _reader(b'abc'))
    with pytest.raises(errors.RangeInvalid) as raised:
        store.append(upload_id, 'app', 'p', _reader(b'x'), 0)
    assert raised.value.headers == {'Range': '0-2'}
    assert store.size(upload_id, 'app', 'p') == 3


def test_a_wrong_digest_discards_the_upload(store):
    upload_id = store.start('app', 'p')
    store.append(upload_id, 'app', 'p', _reader(b'abc'))
    with pytest.raises(errors.DigestInvalid):
        store.finish(upload_id, 'app', 'p', _digest(b'abd'))
    assert _files(store) == []


def test_an_upload_over_max_size_is_removed(store):
    upload_id = store.start('app', 'p')
    store.append(upload_id, 'app', 'p', _reader(b'x' * 1000))
    with pytest.raises(errors.BlobTooLarge) as raised:
        store.append(upload_id, 'app', 'p', _reader(b'y'))
    assert raised.value.status == 413
    assert raised.value.code == 'SIZE_INVALID'
    assert _files(store) == []


def test_a_declared_length_over_max_size_is_refused_unread(store):
    upload_id = store.start('app', 'p')
    store.append(upload_id, 'app', 'p', _reader(b'x' * 600))

    def read(n):
        raise AssertionError('read %d bytes of a refused chunk' % n)
    with pytest.raises(errors.BlobTooLarge, match='max_blob_size of 1000'):
        store.append(upload_id, 'app', 'p', read, 600, 401)
    assert _files(store) == []


def test_another_process_finishing_reads_the_file(store, tmp_path):
    blob = gzip.compress(_tar(b'across processes'))
    upload_id = store.start('app', 'p')
    store.append(upload_id, 'app', 'p', _reader(blob[:10]))
    other = uploads.Uploads(store.directory, 1000, 60)
    other.append(upload_id, 'app', 'p', _reader(blob[10:]))
    for process in (store, other):
        finished = process.finish(upload_id, 'app', 'p', _digest(blob))
        assert finished.diff[0] == _digest(_tar(b'across processes'))


def test_length_bounds_what_is_read(store):
    upload_id = store.start('app', 'p')
    assert store.append(upload_id, 'app', 'p', _reader(b'abcdef'),
                        None, 4) == 4


def test_cancel(store):
    upload_id = store.start('app', 'p')
    store.cancel(upload_id, 'app', 'p')
    assert _files(store) == []
    with pytest.raises(errors.BlobUploadUnknown):
        store.cancel(upload_id, 'app', 'p')


def test_reap_removes_idle_uploads_only(store):
    idle = store.start('app', 'p')
    busy = store.start('app', 'p')
    old = time.time() - 120
    for ext in ('.data', '.json'):
        os.utime(os.path.join(store.directory, idle + ext), (old, old))
    # A side file left by a crash between write and rename.
    tmp = os.path.join(store.directory, 'f' * 32 + '.json.tmp')
    open(tmp, 'w').close()
    os.utime(tmp, (old, old))
    open(os.path.join(store.directory, 'unrelated.txt'), 'w').close()

    assert store.reap() == sorted([idle, 'f' * 32])
    assert _files(store) == sorted([busy + '.data', busy + '.json',
                                    'unrelated.txt'])
    with pytest.raises(errors.BlobUploadUnknown):
        store.size(idle, 'app', 'p')


def test_reap_keeps_an_upload_whose_data_is_fresh(store):
    upload_id = store.start('app', 'p')
    old = time.time() - 120
    os.utime(os.path.join(store.directory, upload_id + '.json'), (old, old))
    assert store.reap() == []
    assert store.reap(now=time.time() + 120) == [upload_id]


# -- bounds ---------------------------------------------------------------

def _bomb(unpacked):
    return gzip.compress(_tar(bytes(unpacked)), compresslevel=9)


def test_a_layer_that_unpacks_past_the_bound_is_refused_and_removed(
        tmp_path):
    store = uploads.Uploads(str(tmp_path / 'u'), max_size=10 ** 9,
                            timeout=60,
                            limits=uploads.Limits(max_unpacked=1024 * 1024))
    upload_id = store.start('app', 'p')
    with pytest.raises(errors.BlobUploadInvalid,
                       match='max_layer_unpacked_size'):
        store.append(upload_id, 'app', 'p', _reader(_bomb(2 * 1024 * 1024)))
    assert _files(store) == []


def test_uploads_in_flight_are_capped_per_project_and_in_all(tmp_path):
    store = uploads.Uploads(str(tmp_path / 'u'), max_size=1000, timeout=60,
                            limits=uploads.Limits(per_project=2, total=3))
    first = store.start('app', 'p')
    store.start('app', 'p')
    with pytest.raises(errors.TooManyRequests,
                       match='max_uploads_per_project'):
        store.start('app', 'p')
    store.start('app', 'q')
    with pytest.raises(errors.TooManyRequests, match='max_uploads\\)'):
        store.start('app', 'r')
    store.cancel(first, 'app', 'p')
    store.start('app', 'p')


def test_bytes_in_flight_are_capped_per_project(tmp_path):
    store = uploads.Uploads(str(tmp_path / 'u'), max_size=1000, timeout=60,
                            limits=uploads.Limits(bytes_per_project=100))
    held = store.start('app', 'p')
    store.append(held, 'app', 'p', _reader(b'x' * 60))
    over = store.start('app', 'p')
    with pytest.raises(errors.TooManyRequests):
        store.append(over, 'app', 'p', _reader(b'y' * 50))
    assert not os.path.exists(os.path.join(store.directory, over + '.data'))
    other = store.start('app', 'q')
    assert store.append(other, 'app', 'q', _reader(b'z' * 90)) == 90


def test_the_reaper_thread_reaps_on_its_own(tmp_path):
    store = uploads.Uploads(str(tmp_path / 'u'), max_size=1000, timeout=1)
    upload_id = store.start('app', 'p')
    old = time.time() - 10
    for ext in ('.data', '.json'):
        os.utime(os.path.join(store.directory, upload_id + ext), (old, old))
    reaper = uploads.Reaper(store, 0.1)
    reaper.start()
    try:
        deadline = time.monotonic() + 5
        while _files(store) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        reaper.stop()
    assert _files(store) == []


def test_probe_of_a_zstd_layer_gives_its_diff_id_in_any_chunking():
    import zstandard
    plain = _tar(os.urandom(5000))
    blob = zstandard.ZstdCompressor().compress(plain)
    for size in (1, 7, 1000, len(blob)):
        probe = uploads.LayerProbe()
        for i in range(0, len(blob), size):
            probe.update(blob[i:i + size])
        assert probe.digest == _digest(blob)
        assert probe.diff() == (_digest(plain), len(plain))


def test_probe_of_a_zstd_bomb_stops_at_the_bound():
    import zstandard
    blob = zstandard.ZstdCompressor().compress(bytes(200 << 20))
    probe = uploads.LayerProbe(max_unpacked=100 << 20)
    with pytest.raises(uploads.compression.UnpacksTooLarge):
        probe.update(blob)


# -- the Glance image an upload streamed into --------------------------------

def _discarding(tmp_path, **kwargs):
    gone = []
    store = uploads.Uploads(str(tmp_path / 'u'), max_size=1000, timeout=60,
                            discard=gone.append, **kwargs)
    return store, gone


def test_the_sink_gets_each_written_chunk(tmp_path):
    store, _ = _discarding(tmp_path)
    upload_id = store.start('app', 'p')
    got = []
    store.append(upload_id, 'app', 'p', _reader(b'x' * 300), sink=got.append)
    assert b''.join(got) == b'x' * 300


def test_the_sink_gets_nothing_past_the_size_bound(tmp_path):
    store, _ = _discarding(tmp_path)
    upload_id = store.start('app', 'p')
    got = []
    with pytest.raises(errors.BlobTooLarge):
        store.append(upload_id, 'app', 'p', _reader(b'x' * 1001),
                     sink=got.append)
    assert sum(map(len, got)) <= 1000


def test_a_noted_stream_is_discarded_with_its_upload(tmp_path):
    store, gone = _discarding(tmp_path)
    upload_id = store.start('app', 'p')
    assert store.note_stream(upload_id, 'image-1', 5)
    assert store.streamed(upload_id) == ('image-1', 5)
    store.cancel(upload_id, 'app', 'p')
    assert gone == ['image-1']
    assert _files(store) == []


def test_a_kept_stream_is_not_discarded(tmp_path):
    store, gone = _discarding(tmp_path)
    upload_id = store.start('app', 'p')
    store.note_stream(upload_id, 'image-1', 5)
    store.remove(upload_id, keep_stream=True)
    assert gone == []
    assert _files(store) == []


def test_a_stream_of_a_gone_upload_is_not_noted(tmp_path):
    store, _ = _discarding(tmp_path)
    upload_id = store.start('app', 'p')
    store.remove(upload_id)
    assert not store.note_stream(upload_id, 'image-1', 5)


def test_the_reaper_discards_the_stream_of_an_expired_upload(tmp_path):
    store, gone = _discarding(tmp_path)
    upload_id = store.start('app', 'p')
    store.note_stream(upload_id, 'image-1', 5)
    assert store.reap(now=time.time() + 120) == [upload_id]
    assert gone == ['image-1']
