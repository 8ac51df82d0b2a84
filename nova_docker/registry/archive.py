"""The ``docker load``-able archive that a pushed image becomes in Glance.

The driver boots a Glance image from such an archive with no registry on
the way, and its loader takes only what ``docker save`` writes: layers
as plain tars. Gzip layers are therefore unpacked into the archive as
they are copied from their blobs; their unpacked size, which a tar
header needs before the data, was recorded when the blob was uploaded.
"""

import dataclasses
import json
import queue
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator

from nova_docker.archive import compression
from nova_docker.archive import tarstream

CHUNK = 1024 * 1024
# Pieces (of up to CHUNK) a layer is read ahead of the archive's upload.
READ_AHEAD = 4
_DONE = object()


@dataclasses.dataclass(frozen=True)
class Layer:
    """A layer as the archive holds it: unpacked, named by its diff id."""

    diff_id: str
    size: int
    # False (plain), True or 'gzip', or 'zstd'.
    gzip: bool | str
    chunks: Callable[[], Iterable[bytes]]


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _member(name: str, size: int, chunks: Iterable[bytes]) -> Iterator[bytes]:
    yield _header(name, size)
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        if sent > size:
            raise ValueError('%s holds more than the %d bytes recorded for '
                             'it' % (name, size))
        yield chunk
    if sent != size:
        raise ValueError('%s holds %d bytes, not the %d recorded for it'
                         % (name, sent, size))
    yield bytes(tarstream.padding(size))


def _read_ahead(chunks: Iterable[bytes],
                depth: int = READ_AHEAD) -> Iterator[bytes]:
    """``chunks``, made in a thread of their own up to ``depth`` pieces
    ahead, so that reading a layer from Glance and unpacking it go on
    while the archive is sent to Glance (zlib and sockets release the
    GIL): without it the manifest PUT of a 100 MB image did one after
    the other."""
    pieces = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                pieces.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_DONE)
        except BaseException as exc:
            put(exc)
        finally:
            close = getattr(chunks, 'close', None)
            if close is not None:
                close()

    threading.Thread(target=produce, name='archive-read-ahead',
                     daemon=True).start()
    try:
        while True:
            item = pieces.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def layer_name(diff_id: str) -> str:
    return '%s/layer.tar' % diff_id.split(':', 1)[1]


def archive(config: bytes, config_digest: str, layers: list[Layer],
            repo_tag: str) -> Iterator[bytes]:
    """The tar stream: each distinct layer once, the config, then
    ``manifest.json`` naming ``repo_tag``."""
    written = set()
    for layer in layers:
        name = layer_name(layer.diff_id)
        if name in written:
            continue
        written.add(name)
        data = layer.chunks()
        if layer.gzip == 'zstd':
            data = compression.unzstd(data, max_size=layer.size)
        elif layer.gzip:
            # Bounded by the size recorded at upload: a blob that unpacks
            # to more is refused before the excess is unpacked.
            data = compression.gunzip(data, max_size=layer.size)
        yield from _member(name, layer.size, _read_ahead(data))
    config_name = config_digest.split(':', 1)[1] + '.json'
    yield from _member(config_name, len(config), [config])
    manifest = json.dumps([{
        'Config': config_name, 'RepoTags': [repo_tag],
        'Layers': [layer_name(layer.diff_id) for layer in layers]}]).encode()
    yield from _member('manifest.json', len(manifest), [manifest])
    yield tarstream.END_OF_ARCHIVE
