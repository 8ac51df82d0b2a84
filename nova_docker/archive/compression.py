"""Undo gzip on a stream, detected by content, in bounded pieces.

A Glance image may hold a gzip-compressed ``docker save`` or root file
system tar. :class:`Gunzip` passes plain data through untouched and
inflates gzip (several concatenated members too) in pieces of at most
:data:`PIECE` bytes, so a small compressed chunk can never turn into a
large allocation, and refuses (:class:`UnpacksTooLarge`) to unpack
more than its caller allows: in all, or in proportion to the compressed
data read (a gzip bomb inflates about 1000 times).
"""

import zlib
from collections.abc import Iterable

from nova_docker.archive.members import TarFormatError

GZIP_MAGIC = b'\x1f\x8b'
PIECE = 1024 * 1024
# Below this much output the ratio is not checked: a small tar of text or
# zeros compresses far better than a real image.
RATIO_FLOOR = 64 * 1024 * 1024
# The engine also reads bzip2, xz and zstd; the driver must look inside
# the tar to check it, and does so for plain and gzip data only.
_OTHER_COMPRESSION = {
    b'BZh': 'bzip2',
    b'\xfd7zXZ\x00': 'xz',
    b'\x28\xb5\x2f\xfd': 'zstd',
}
_SNIFF = max(len(m) for m in _OTHER_COMPRESSION)


def _refuse_other(head: bytes) -> None:
    for magic, name in _OTHER_COMPRESSION.items():
        if head.startswith(magic):
            raise TarFormatError(
                'the data is %s-compressed; upload the tar uncompressed or '
                'gzip-compressed' % name)


class UnpacksTooLarge(TarFormatError):
    """The gzip data unpacks to more than the caller allowed."""

    def __init__(self, plain: int, packed: int, max_size: int | None,
                 max_ratio: int | None):
        bounds = []
        if max_size is not None:
            bounds.append('%d bytes' % max_size)
        if max_ratio:
            bounds.append('%d times its compressed size' % max_ratio)
        super().__init__(
            'the gzip data unpacks to more than %s (%d bytes from the first '
            '%d compressed ones): it is not an image layer this service '
            'takes' % (' or '.join(bounds), plain, packed))
        self.plain = plain
        self.packed = packed


def check_unpacked(plain: int, packed: int, max_size: int | None,
                   max_ratio: int | None) -> None:
    """Raise UnpacksTooLarge once ``plain`` bytes unpacked from ``packed``
    ones pass ``max_size``, or ``max_ratio`` times ``packed`` (past
    RATIO_FLOOR): the one bound of every decompressor here."""
    too_big = max_size is not None and plain > max_size
    if max_ratio and plain > RATIO_FLOOR:
        too_big = too_big or plain > max_ratio * packed
    if too_big:
        raise UnpacksTooLarge(plain, packed, max_size, max_ratio)


class Gunzip:
    """Stream filter: gzip -> plain; anything else passes through.

    :param max_size: refuse (UnpacksTooLarge) to unpack more than this
        many bytes in all.
    :param max_ratio: refuse to unpack more than this many times the
        compressed bytes read so far, once past RATIO_FLOOR.
    :param detect: False to take every input as gzip (the caller saw the
        magic already).
    """

    def __init__(self, max_size: int | None = None,
                 max_ratio: int | None = None, detect: bool = True):
        self.compressed: bool | None = None if detect else True
        self.packed = 0
        self.plain = 0
        self._max_size = max_size
        self._max_ratio = max_ratio
        self._head = b''
        self._inflater = None if detect else zlib.decompressobj(wbits=31)
        self._trailing = False

    def feed(self, chunk: bytes) -> Iterable[bytes]:
        """The plain data of ``chunk``, inflated lazily: a chunk of a gzip
        bomb must not become one list of gigabytes before the consumer can
        refuse it."""
        if self.compressed is None:
            self._head += chunk
            if len(self._head) < _SNIFF:
                return []
            chunk, self._head = self._head, b''
            self._decide(chunk)
        if not self.compressed:
            return [chunk]
        return self._inflate(chunk)

    def finish(self) -> list[bytes]:
        """What is still held; TarFormatError if the gzip data ended early.
        """
        out: list[bytes] = []
        if self.compressed is None:
            head, self._head = self._head, b''
            self._decide(head)
            out = list(self.feed(head)) if head else []
        if self.compressed and not self._inflater.eof:
            raise TarFormatError('the gzip data ends early (the upload to '
                                 'Glance was probably cut short)')
        return out

    def _decide(self, head: bytes) -> None:
        self.compressed = head.startswith(GZIP_MAGIC)
        if self.compressed:
            self._inflater = zlib.decompressobj(wbits=31)
        else:
            _refuse_other(head)

    def _inflate(self, data: bytes):
        self.packed += len(data)
        while data and not self._trailing:
            if self._inflater.eof:
                data = self._next_member(data)
                continue
            try:
                out = self._inflater.decompress(data, PIECE)
            except zlib.error as exc:
                raise TarFormatError('the gzip data is corrupt: %s'
                                     % exc) from None
            if out:
                self._count(len(out))
                yield out
            data = (self._inflater.unused_data if self._inflater.eof
                    else self._inflater.unconsumed_tail)

    def _count(self, size: int) -> None:
        self.plain += size
        check_unpacked(self.plain, self.packed, self._max_size,
                       self._max_ratio)

    def _next_member(self, data: bytes) -> bytes:
        # gzip allows members back to back; anything else after the end
        # is trailing padding the tar does not need.
        if data.startswith(GZIP_MAGIC):
            self._inflater = zlib.decompressobj(wbits=31)
            return data
        self._trailing = True
        return b''


class _ChunkReader:
    """``read(n)`` over an iterable of chunks, for a pull-style
    decoder."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._rest = b''

    def read(self, size: int = -1) -> bytes:
        while not self._rest:
            self._rest = next(self._chunks, None)
            if self._rest is None:
                self._rest = b''
                return b''
        piece, self._rest = self._rest[:size], self._rest[size:]
        return piece


def unzstd(chunks: Iterable[bytes], max_size: int | None = None
           ) -> Iterable[bytes]:
    """The plain data of zstd ``chunks``, in pieces of at most PIECE
    (the decoder pulls its input and hands each piece over before it
    makes the next); UnpacksTooLarge past ``max_size`` bytes,
    TarFormatError if the data is not zstd."""
    import zstandard  # only where zstd data is read
    plain = packed = 0
    reader = _ChunkReader(chunks)
    pieces = zstandard.ZstdDecompressor().read_to_iter(
        reader, read_size=PIECE, write_size=PIECE)
    try:
        for piece in pieces:
            plain += len(piece)
            if max_size is not None and plain > max_size:
                raise UnpacksTooLarge(plain, packed, max_size, None)
            yield piece
    except zstandard.ZstdError as exc:
        raise TarFormatError('the zstd data is corrupt: %s' % exc) from None


def gunzip(chunks: Iterable[bytes], max_size: int | None = None,
           max_ratio: int | None = None) -> Iterable[bytes]:
    """The plain data of gzip ``chunks``, in pieces of at most PIECE,
    bounded as :class:`Gunzip` is; TarFormatError if they are not gzip or
    end early."""
    inflate = Gunzip(max_size, max_ratio, detect=False)
    for chunk in chunks:
        yield from inflate.feed(chunk)
    yield from inflate.finish()
