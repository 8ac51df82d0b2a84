"""The ``docker load``-able archive that a pushed image becomes in Glance.

The driver boots a Glance image from such an archive with no registry on
the way. Its loader (``nova_docker.archive.tarstream``) and every engine
it supports (Docker's classic and containerd image stores, Podman) take
a ``docker save`` archive whose ``<id>/layer.tar`` is gzip-compressed as
well as plain: the loader unpacks such a member only to count what it
unpacks to, against the same bounds as a plain one, and the engine
unpacks it as it loads. So a gzip layer goes into the archive as its
blob is, copied, not unpacked (:func:`keeps_compressed` says when), which
spares the push a gunzip and, for a real image, about half the bytes
written to Glance and downloaded at each host's first boot; that boot
pays the engine's gunzip instead, as after a ``docker pull``
(``[registry] archive_gzip_layers`` turns this off). zstd layers are
unpacked (Docker 20.10 does not read zstd), as are gzip layers the
loader's bounds might refuse; their unpacked size, which a tar header
needs before the data, was recorded when the blob was uploaded.
"""

import dataclasses
import json
import queue
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator

from nova_docker.archive import compression
from nova_docker.archive import layers as blob_meter
from nova_docker.archive import tarstream

CHUNK = 1024 * 1024
# Pieces (of up to CHUNK) a layer is read ahead of the archive's upload.
READ_AHEAD = 4
_DONE = object()


@dataclasses.dataclass(frozen=True)
class Layer:
    """A layer as the archive holds it, named by its diff id: its blob
    as it is when ``packed`` is set, else unpacked."""

    diff_id: str
    # What it unpacks to, as recorded at upload.
    size: int
    # False (plain), True or 'gzip', or 'zstd'.
    gzip: bool | str
    chunks: Callable[[], Iterable[bytes]]
    # The blob's size when the archive holds the blob unchanged (see
    # keeps_compressed); None: it is unpacked into the archive.
    packed: int | None = None


def keeps_compressed(gz: bool | str, packed: int, unpacked: int,
                     checked_ratio: int | None) -> bool:
    """Whether a layer's blob goes into the archive as it is.

    Only gzip, and only where the driver's loader can't refuse it while
    it would load the same layer unpacked: the loader holds a gzip member
    to :data:`layers.MAX_RATIO` times its compressed bytes once past
    :data:`compression.RATIO_FLOOR` unpacked (a bomb). Below that floor
    nothing but the unpacked size counts, the same either way; above it
    the layer must have met a ratio bound no looser than the loader's at
    upload (``checked_ratio``, the registry's ``max_layer_unpack_ratio``;
    None: not checked), and be within half the loader's bound as a whole.
    Both check the ratio as the data goes, counting the compressed bytes
    in chunks of their own sizes, so a layer whose first part alone sits
    at the bound could still pass the upload and not the load (which then
    refuses the boot, saying why): the margin makes that unlikely, not
    impossible.
    """
    if gz not in (True, 'gzip'):
        return False
    if unpacked <= compression.RATIO_FLOOR:
        return True
    return (checked_ratio is not None and
            checked_ratio <= blob_meter.MAX_RATIO and
            unpacked <= packed * (blob_meter.MAX_RATIO // 2))


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
        data, size = layer.chunks(), layer.size
        if layer.packed is not None:
            # The member must hold exactly the blob's bytes, checked as
            # they pass; what they unpack to was checked at upload.
            size = layer.packed
        elif layer.gzip == 'zstd':
            data = compression.unzstd(data, max_size=layer.size)
        elif layer.gzip:
            # Bounded by the size recorded at upload: a blob that unpacks
            # to more is refused before the excess is unpacked.
            data = compression.gunzip(data, max_size=layer.size)
        yield from _member(name, size, _read_ahead(data))
    config_name = config_digest.split(':', 1)[1] + '.json'
    yield from _member(config_name, len(config), [config])
    manifest = json.dumps([{
        'Config': config_name, 'RepoTags': [repo_tag],
        'Layers': [layer_name(layer.diff_id) for layer in layers]}]).encode()
    yield from _member('manifest.json', len(manifest), [manifest])
    yield tarstream.END_OF_ARCHIVE
