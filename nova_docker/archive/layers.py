"""One member of an image archive, measured as it streams past.

A layer of a ``docker save`` of the containerd image store (or of an OCI
layout) stays compressed as the registry sent it: gzip or zstd. The
engine unpacks it; before the archive is complete the driver must know
what that costs and that the bytes are the ones the image names.
:class:`BlobMeter` is fed a member's data in chunks and

* hashes the bytes as they are (the blob's digest);
* detects plain, gzip or zstd data by its magic and unpacks gzip and zstd
  on the way, in pieces of at most :data:`compression.PIECE` bytes, only
  to hash (the layer's diff id) and count what they unpack to: nothing of
  the unpacked data is held;
* refuses (:class:`compression.UnpacksTooLarge`) to unpack more than its
  bound, in all or in proportion to the compressed bytes (a bomb);
* keeps a copy of a small JSON member (a manifest, index or config),
  which the caller reads once the archive ended.

zstd comes from the ``zstandard`` library (python-zstandard, the binding
of the reference C library): a decoder of our own for a format this
involved would be the riskiest code in the package, and the library's
streaming writer hands its output over in pieces of a size we choose.
"""

import hashlib
import tempfile
from collections.abc import Callable
from typing import IO

import zstandard

from nova_docker.archive import compression
from nova_docker.archive.members import TarFormatError

PLAIN = 'plain'
GZIP = 'gzip'
ZSTD = 'zstd'
ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
# Compressions the engines do not all unpack in a docker save archive.
_REFUSED = ((b'BZh', 'bzip2'), (b'\xfd7zXZ\x00', 'xz'))
_SNIFF = 6
# Members that may be JSON metadata are at most this big.
MAX_JSON = 1024 * 1024
# Unpacked data may be at most this many times the compressed bytes (past
# compression.RATIO_FLOOR): the registry's default bound on gzip layers.
MAX_RATIO = 100


class _Counter:
    """The file object zstandard's stream writer writes unpacked data
    into: hashed and counted, then dropped."""

    def __init__(self, meter: 'BlobMeter'):
        self._meter = meter

    def write(self, data) -> int:
        self._meter.unpacked(data)
        if self._meter.spool is not None:
            self._meter.spool.write(data)
        return len(data)


class BlobMeter:
    """Digest, compression, diff id and unpacked size of one member.

    :param name: the member's name, for messages.
    :param size: its size in the tar header.
    :param max_size: refuse to unpack more than this many bytes.
    :param max_ratio: refuse to unpack more than this many times the
        compressed bytes read (past compression.RATIO_FLOOR).
    :param hashed: False to hash nothing and keep no JSON (a member of
        a classic archive, whose name is no digest: the engine checks its
        diff id itself); only compressed data is then unpacked, to count
        it.
    :param hash_unpacked: False (or a callable returning False, asked
        once the data is known to be compressed) to count what compressed
        data unpacks to without hashing it, for an engine that checks each
        layer's diff id itself as it loads (:attr:`diff_id` is then None):
        that hash is the dearest part of the metering (500 MB of unpacked
        data for a 250 MB gzip layer).
    :param spool: makes the file a zstd member is unpacked into
        (``tempfile.TemporaryFile`` in the default temp dir unless given).
    """

    def __init__(self, name: str, size: int, max_size: int | None = None,
                 max_ratio: int | None = MAX_RATIO, hashed: bool = True,
                 hash_unpacked: bool | Callable[[], bool] = True,
                 spool: Callable[[], IO[bytes]] = tempfile.TemporaryFile):
        self.name = name
        self.size = size
        self.left = size
        self.compression: str | None = None
        self.plain = 0
        self.json: bytes | None = None
        # A zstd member unpacked into an anonymous file: Docker 20.10
        # does not read zstd layers, so the engine gets them plain.
        self.spool = None
        self.max_size = max_size
        self._hashed = hashed
        self._hash_unpacked = hash_unpacked
        self._make_spool = spool
        self._bounds = (max_size, max_ratio)
        self._sha = hashlib.sha256() if hashed else None
        self._diff = None
        self._head = b''
        self._inflate = None
        self._json = bytearray() if hashed and size <= MAX_JSON else None

    @property
    def hashed(self) -> bool:
        return self._hashed

    @property
    def digest(self) -> str | None:
        return 'sha256:' + self._sha.hexdigest() if self._sha else None

    @property
    def diff_id(self) -> str | None:
        """sha256 of what the member unpacks to (itself if plain)."""
        if self.compression == PLAIN:
            return self.digest
        return 'sha256:' + self._diff.hexdigest() if self._diff else None

    def feed(self, data) -> None:
        """Take the next ``data`` (no more than ``left`` bytes)."""
        self.left -= len(data)
        if self._sha is not None:
            self._sha.update(data)
        if self._json is not None:
            self._json += data
        if self.compression is None:
            self._head += bytes(data)
            if len(self._head) < _SNIFF and self.left:
                return
            data, self._head = self._head, b''
            self._decide(data)
        self._unpack(data)
        if not self.left:
            self._finish()

    def unpacked(self, data) -> None:
        """Count and hash ``data`` unpacked from the member."""
        self.plain += len(data)
        if self._diff is not None:
            self._diff.update(data)
        compression.check_unpacked(self.plain, self.size, *self._bounds)

    def _decide(self, head: bytes) -> None:
        for magic, name in _REFUSED:
            if head.startswith(magic):
                raise TarFormatError(
                    'member %r of the docker save archive is %s-compressed;'
                    ' layers must be plain, gzip or zstd tars' % (
                        self.name, name))
        if head.startswith(compression.GZIP_MAGIC):
            self.compression = GZIP
            self._inflate = compression.Gunzip(*self._bounds, detect=False)
        elif head.startswith(ZSTD_MAGIC):
            self.compression = ZSTD
            self.spool = self._make_spool()
            self._inflate = zstandard.ZstdDecompressor().stream_writer(
                _Counter(self), write_size=compression.PIECE)
        else:
            self.compression = PLAIN
        if self.compression != PLAIN:
            # Asked only of a blob (a classic archive's layer is never
            # hashed): the callable may ask the engine.
            wanted = self._hashed and self._hash_unpacked
            if callable(wanted):
                wanted = wanted()
            self._diff = hashlib.sha256() if wanted else None
            self._json = None

    def _unpack(self, data) -> None:
        if self.compression == GZIP:
            for piece in self._inflate.feed(data):
                self.unpacked(piece)
        elif self.compression == ZSTD:
            try:
                self._inflate.write(data)
            except zstandard.ZstdError as exc:
                raise TarFormatError('member %r: the zstd data is corrupt: '
                                     '%s' % (self.name, exc)) from None
        else:
            self.plain += len(data)

    def _finish(self) -> None:
        if self.compression == GZIP:
            for piece in self._inflate.finish():
                self.unpacked(piece)
        elif self.compression == ZSTD:
            self._inflate.flush()
        if self._json is not None:
            self.json = bytes(self._json)
            self._json = None
