"""Glance's download as a checked stream of tar pieces for the engine.

``Glance chunks -> verified() -> [spooled()] -> TarPieces -> engine``

* :func:`verified` hashes the chunks as they pass and raises "checksum
  mismatch" (ImageUnacceptable) at the end, or ImageDownloadFailed when
  Glance's stream breaks off. Errors of the download iterator never
  reach the HTTP library of the engine call as OSErrors (which it would
  report as an engine failure).
* :func:`spooled` (only when ``[docker] image_download_dir`` is set)
  writes the verified data to an anonymous temporary file first.
* :class:`Prefetch` reads the download in a thread of its own, a few MB
  ahead: receiving and hashing Glance's data overlap with sending to the
  engine instead of taking turns with it.
* :class:`TarPieces` undoes gzip, follows the tar and releases its
  end-of-archive marker only after the whole download was verified and
  the caller's last checks passed: the engine cannot complete an archive
  that turns out to be corrupt; it sees a cut body and stores nothing.
"""

import functools
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator

from nova_docker.docker import streams
from nova_docker.image import errors
from nova_docker.image.compression import Gunzip
from nova_docker.image.digest import HashCheck
from nova_docker.image.tarstream import TarStream

SPOOL_PIECE = 1024 * 1024
# Read ahead of the engine: 4 pieces of 1 MiB. Joining glanceclient's
# 64 KiB chunks into 1 MiB pieces halves the time lost to the engine's
# smaller writes and keeps the process's memory flat (measured: 13 MB of
# growth at 50 and at 500 MB; 64 pieces of 64 KiB grew 25-33 MB).
PREFETCH_PIECE = 1024 * 1024
PREFETCH_DEPTH = 4
# How often a reader thread blocked on a full queue looks for close().
_POLL = 0.1


def close_quietly(iterable) -> None:
    """Close a generator or streamed reply that was not read to the end."""
    close = getattr(iterable, 'close', None)
    if close is not None:
        close()


def verified(chunks: Iterable[bytes], check: HashCheck) -> Iterator[bytes]:
    """``chunks`` as they are, hashed by ``check`` and verified at the end.
    """
    iterator = iter(chunks)
    try:
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                break
            except Exception as exc:
                # Whatever the image service's iterator raises (a reset
                # connection, glanceclient's own hash check) ends here.
                raise download_failed(check, exc) from exc
            check.update(chunk)
            yield chunk
        check.verify()
    finally:
        close_quietly(chunks)


def download_failed(check: HashCheck, exc: Exception) -> Exception:
    """The exception for a download that broke off with ``exc``."""
    if check.complete:
        # All the bytes arrived: if they do not match, that is the news
        # (glanceclient raises its own check as an IOError after the last
        # chunk).
        check.verify()
    return errors.ImageDownloadFailed(
        image_id=check.image_id, received=check.received,
        size=check.size if check.size is not None else 'unknown',
        reason=str(exc) or type(exc).__name__)


def spooled(chunks: Iterable[bytes], check: HashCheck,
            directory: str) -> Iterator[bytes]:
    """The verified download, read back from a temporary file.

    The file has no name (O_TMPFILE where the kernel has it, else
    unlinked at once): it disappears with the process whatever happens.
    """
    with tempfile.TemporaryFile(dir=directory) as spool:
        for chunk in verified(chunks, check):
            spool.write(chunk)
        spool.seek(0)
        yield from iter(functools.partial(spool.read, SPOOL_PIECE), b'')


class _Failed:
    def __init__(self, exc: Exception):
        self.exc = exc


_END = object()


class Prefetch:
    """Iterates ``iterable`` in a thread of its own, joined into pieces of
    at least ``piece`` bytes, up to ``depth`` pieces ahead of the reader.
    The bytes come out in order. An exception of the iterable is raised
    to the reader in place of the bytes not yet handed over (up to one
    piece): the reader fails either way.

    Memory is bounded by ``depth`` pieces. ``close()`` stops the thread at
    its next piece (it cannot interrupt a read that is waiting on the
    network; that read's own timeout ends it).
    """

    def __init__(self, iterable: Iterable[bytes],
                 piece: int = PREFETCH_PIECE, depth: int = PREFETCH_DEPTH):
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(iterable, piece), daemon=True,
            name='nova-docker-image-prefetch')
        self._thread.start()

    def _run(self, iterable: Iterable[bytes], piece: int) -> None:
        try:
            for item in streams.rechunk(iterable, piece):
                if not self._put(item):
                    return
            self._put(_END)
        except Exception as exc:  # handed to the reader, who raises it
            self._put(_Failed(exc))
        finally:
            close_quietly(iterable)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def close(self) -> None:
        self._stop.set()


class TarPieces:
    """An iterable of checked tar pieces made of a (verified) source.

    :param source: the image data (gzip or not), an iterable of bytes
        that raises at its end if the data is not what Glance recorded.
    :param final_checks: callables given the TarStream once the whole
        source went by, before the end-of-archive marker is released; they
        raise to stop the load.
    :param rewrite_manifest, max_size: see TarStream (``max_size`` bounds
        the data after gzip is undone).
    """

    def __init__(self, source: Iterable[bytes],
                 final_checks: Iterable[Callable[[TarStream], None]] = (),
                 rewrite_manifest: bool = True,
                 max_size: int | None = None):
        self.tar = TarStream(rewrite_manifest=rewrite_manifest,
                             max_size=max_size)
        self._source = source
        self._final_checks = list(final_checks)
        self._gunzip = Gunzip()
        self._pieces = self._generate()
        self._peeked: list[bytes] = []

    @property
    def compressed(self) -> bool:
        return bool(self._gunzip.compressed)

    def kind(self) -> str:
        """DOCKER_SAVE or ROOTFS, read off the first member header; reads
        no further into the source than that."""
        while self.tar.kind is None:
            try:
                self._peeked.append(next(self._pieces))
            except StopIteration:
                # A source too short to name a member fails in finish().
                break
        return self.tar.kind

    def __iter__(self) -> Iterator[bytes]:
        peeked, self._peeked = self._peeked, []
        yield from peeked
        yield from self._pieces

    def close(self) -> None:
        """Stop reading the source (safe to call more than once)."""
        self._pieces.close()
        close_quietly(self._source)

    def _generate(self) -> Iterator[bytes]:
        for raw in self._source:
            for plain in self._gunzip.feed(raw):
                yield from self.tar.feed(plain)
        for plain in self._gunzip.finish():
            yield from self.tar.feed(plain)
        end = self.tar.finish()
        for check in self._final_checks:
            check(self.tar)
        yield end
