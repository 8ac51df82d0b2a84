"""The docker load archive a push becomes."""

import gzip
import hashlib
import io
import json
import tarfile
import threading
import zlib

import pytest

from nova_docker.registry import archive


def _digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _layer_tar(content):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        info = tarfile.TarInfo('file')
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _layer(plain, gz):
    blob = gzip.compress(plain) if gz else plain
    # Chunks of 100 bytes: the gunzip works across chunk edges.
    chunks = [blob[i:i + 100] for i in range(0, len(blob), 100)]
    return archive.Layer(_digest(plain), len(plain), gz, lambda: chunks)


def _read(stream):
    return tarfile.open(fileobj=io.BytesIO(b''.join(stream)))


def test_the_archive_is_a_tar_docker_load_reads():
    plain_a, plain_b = _layer_tar(b'a' * 5000), _layer_tar(b'b')
    config = json.dumps({'rootfs': {'diff_ids': [_digest(plain_a),
                                                 _digest(plain_b)]}}).encode()
    layers = [_layer(plain_a, True), _layer(plain_b, False),
              _layer(plain_a, True)]
    with _read(archive.archive(config, _digest(config), layers,
                               'app:1')) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile('manifest.json'))
        assert tar.extractfile(archive.layer_name(
            _digest(plain_a))).read() == plain_a
        assert tar.extractfile(archive.layer_name(
            _digest(plain_b))).read() == plain_b
        config_name = _digest(config).split(':')[1] + '.json'
        assert tar.extractfile(config_name).read() == config
    # A layer named twice is written once.
    assert names == [archive.layer_name(_digest(plain_a)),
                     archive.layer_name(_digest(plain_b)),
                     config_name, 'manifest.json']
    assert manifest == [{'Config': config_name, 'RepoTags': ['app:1'],
                         'Layers': [archive.layer_name(_digest(p))
                                    for p in (plain_a, plain_b, plain_a)]}]


@pytest.mark.parametrize('size', [10, 100000])
def test_a_layer_of_another_size_than_recorded_is_refused(size):
    plain = _layer_tar(b'x' * 100)
    layer = archive.Layer(_digest(plain), size, False, lambda: [plain])
    with pytest.raises(ValueError, match='recorded'):
        b''.join(archive.archive(b'{}', _digest(b'{}'), [layer], 'a:1'))


def test_an_empty_image():
    with _read(archive.archive(b'{}', _digest(b'{}'), [], 'a:1')) as tar:
        assert json.load(tar.extractfile('manifest.json'))[0]['Layers'] == []


# -- each layer is read ahead in a thread -------------------------------

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


# -- the index of saved archives ----------------------------------------

class _Glance:
    """Glance images as bytes, with the ranged reads the indexer uses;
    counts the reads."""

    def __init__(self, images):
        self.images = images
        self.reads = 0

    def read(self, image_id, start, end):
        self.reads += 1
        return self.images[image_id][start:end]

    def download(self, image_id, start=0, end=None):
        self.reads += 1
        return iter([self.images[image_id][start:end]])


def _saved_archive(config: bytes) -> bytes:
    layer = _layer_tar(b'layer')
    config_name = hashlib.sha256(config).hexdigest() + '.json'
    manifest = json.dumps([{'Config': config_name, 'RepoTags': None,
                            'Layers': ['l/layer.tar']}]).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for name, data in (('manifest.json', manifest), (config_name, config),
                           ('l/layer.tar', layer)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_the_indexer_cache_is_bounded_by_bytes():
    from nova_docker.registry import saved

    def config(n):
        return json.dumps({'rootfs': {'diff_ids': [_digest(_layer_tar(
            b'layer'))]}, 'pad': 'x' * 4000, 'n': n}).encode()
    images = {'i%d' % n: _saved_archive(config(n)) for n in range(4)}
    glance = _Glance(images)
    indexer = saved.Indexer(glance, keep=100, max_bytes=10000)
    for image_id, data in images.items():
        indexer.index({'id': image_id, 'size': len(data)})
    reads = glance.reads
    # The last two fit in 10000 bytes of configs; the first went.
    indexer.index({'id': 'i3', 'size': len(images['i3'])})
    indexer.index({'id': 'i2', 'size': len(images['i2'])})
    assert glance.reads == reads
    indexer.index({'id': 'i0', 'size': len(images['i0'])})
    assert glance.reads > reads


def test_a_zstd_layer_is_unpacked_into_the_archive():
    import zstandard
    plain = _layer_tar(b'z' * 5000)
    blob = zstandard.ZstdCompressor().compress(plain)
    chunks = [blob[i:i + 100] for i in range(0, len(blob), 100)]
    layer = archive.Layer(_digest(plain), len(plain), 'zstd',
                          lambda: chunks)
    config = json.dumps({'rootfs': {'diff_ids': [_digest(plain)]}}).encode()
    with _read(archive.archive(config, _digest(config), [layer],
                               'app:1')) as tar:
        assert tar.extractfile(archive.layer_name(
            _digest(plain))).read() == plain


def test_a_zstd_layer_that_unpacks_past_its_record_is_refused():
    import zstandard
    plain = _layer_tar(b'z' * 5000)
    blob = zstandard.ZstdCompressor().compress(plain)
    layer = archive.Layer(_digest(plain), 1000, 'zstd', lambda: [blob])
    with pytest.raises(ValueError, match='unpacks to more than 1000'):
        b''.join(archive.archive(b'{}', _digest(b'{}'), [layer], 'a:1'))


# -- gzip layers kept as pushed ------------------------------------------

def test_a_gzip_layer_the_loader_takes_is_its_blob_unchanged():
    plain = _layer_tar(b'g' * 5000)
    blob = _gzip(plain)
    layer = archive.Layer(_digest(plain), len(plain), True,
                          lambda: _pieces(blob, 100), packed=len(blob))
    config = json.dumps({'rootfs': {'diff_ids': [_digest(plain)]}}).encode()
    with _read(archive.archive(config, _digest(config), [layer],
                               'app:1')) as tar:
        member = tar.extractfile(archive.layer_name(_digest(plain)))
        assert member.read() == blob


@pytest.mark.parametrize('size', [10, 100000])
def test_a_kept_blob_of_another_size_than_its_own_is_refused(size):
    blob = _gzip(_layer_tar(b'x' * 100))
    layer = archive.Layer('sha256:' + 'a' * 64, 10240, True,
                          lambda: [blob], packed=size)
    with pytest.raises(ValueError, match='recorded'):
        b''.join(archive.archive(b'{}', _digest(b'{}'), [layer], 'a:1'))


MIB = 1024 * 1024


@pytest.mark.parametrize('gz, packed, unpacked, ratio, kept', [
    # Below the loader's ratio floor only the unpacked size counts.
    (True, 1, 64 * MIB, None, True),
    ('gzip', 1, 64 * MIB, 0, True),
    # Above it, the bound the upload met must be no looser than the
    # loader's (100), and the layer well inside it.
    (True, 10 * MIB, 300 * MIB, 100, True),
    (True, 10 * MIB, 300 * MIB, 50, True),
    (True, 10 * MIB, 300 * MIB, None, False),
    (True, 10 * MIB, 300 * MIB, 101, False),
    (True, 2 * MIB, 101 * MIB, 100, False),
    # Only gzip: zstd and plain blobs are unpacked or already plain.
    ('zstd', 1, 10, None, False),
    (False, 10, 10, None, False),
])
def test_which_gzip_layers_the_archive_keeps(gz, packed, unpacked, ratio,
                                             kept):
    assert archive.keeps_compressed(gz, packed, unpacked, ratio) is kept
