"""Glance's download as a checked stream of tar pieces for the engine.

``image API download(data=Sink) -> [spool] -> Prefetch -> TarPieces -> engine``

* nova's image API writes the download into a :class:`Sink` (its
  ``download(..., data=sink)``): that is the only way to get nova's
  signature verification (``[glance] verify_glance_signatures``, trusted
  certificates), which consumes the chunk iterator it would otherwise
  hand back. The sink hashes every byte once (:class:`HashCheck`, Glance's
  own record) and passes it on; the hash is compared after download()
  returned, when nova has checked the signature too.
* :func:`downloaded` maps the download's failures to what nova's compute
  manager expects (checksum mismatch, ImageDownloadFailed,
  SignatureVerificationError) and, when ``[docker] image_download_dir``
  is set, spools the data to an anonymous temporary file first.
* :class:`Prefetch` runs the download in a thread of its own, a few MB
  ahead of the engine, in a bounded queue: receiving, hashing and
  verifying Glance's data overlap with sending to the engine, and memory
  stays flat.
* :class:`TarPieces` undoes gzip, follows the tar and releases its
  end-of-archive marker only after the whole download was verified (the
  download returned) and the caller's last checks passed: the engine
  cannot complete an archive that turns out to be corrupt or badly
  signed; it sees a cut body and stores nothing.
"""

import contextlib
import functools
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from cryptography import exceptions as crypto_exceptions
from cursive import exception as cursive_exception
from nova import exception

from nova_docker import exception as docker_exception
from nova_docker.archive.compression import Gunzip
from nova_docker.image.digest import HashCheck
from nova_docker.archive.oci import Platform
from nova_docker.archive.tarstream import TarStream

SPOOL_PIECE = 1024 * 1024
# Read ahead of the engine: 4 pieces of 1 MiB. Joining 64 KiB chunks into
# 1 MiB pieces halves the time lost to the engine's smaller writes and
# keeps the process's memory flat (measured: 13 MB of growth at 50 and at
# 500 MB; 64 pieces of 64 KiB grew 25-33 MB). glanceclient 4.13 reads
# 1 MiB itself: such chunks pass as they are (a join of one is no copy).
PREFETCH_PIECE = 1024 * 1024
PREFETCH_DEPTH = 4
# How often a reader thread blocked on a full queue looks for close().
_POLL = 0.1

# write(chunk): where a producer puts the bytes it made.
Write = Callable[[bytes], None]
# A push-style source: called with a write, writes all the data, returns
# at the end (or raises).
Producer = Callable[[Write], None]


def close_quietly(iterable) -> None:
    """Close a generator or streamed reply that was not read to the end."""
    close = getattr(iterable, 'close', None)
    if close is not None:
        close()


# -- the download -----------------------------------------------------------

class Sink:
    """The file object nova's image API writes a download into.

    Every chunk is hashed by ``check`` (once) and passed to ``write``. An
    error of ``write`` is remembered, so that it is not mistaken for a
    failure of the download when nova raises it again.
    """

    def __init__(self, check: HashCheck, write: Write):
        self._check = check
        self._write = write
        self.error: Exception | None = None

    def write(self, chunk: bytes) -> int:
        self._check.update(chunk)
        try:
            self._write(chunk)
        except Exception as exc:
            self.error = exc
            raise
        return len(chunk)

    def truncate(self, size: int = 0) -> None:
        """nova truncates its destination when the signature does not
        match. Nothing is kept here: the bytes already passed on are
        undone by the failure nova raises next (the archive stays open and
        the loader removes what the engine got)."""


def downloaded(fetch: Callable[[Sink], None], check: HashCheck,
               directory: str | None = None) -> Producer:
    """A producer (for :meth:`Prefetch.pushed`) of the data ``fetch(sink)``
    writes, checked by ``check``; spooled in ``directory`` if given."""
    if directory:
        return functools.partial(_spooled, fetch, check, directory)
    return functools.partial(_checked, fetch, check)


def _checked(fetch: Callable[[Sink], None], check: HashCheck,
             write: Write) -> None:
    sink = Sink(check, write)
    try:
        fetch(sink)
    except Exception as exc:
        if exc is sink.error:
            raise  # ours (the reader stopped, a full spool disk): as is
        raise download_error(check, exc) from exc
    check.verify()


def _spooled(fetch: Callable[[Sink], None], check: HashCheck,
             directory: str, write: Write) -> None:
    # The file has no name (O_TMPFILE where the kernel has it, else
    # unlinked at once): it disappears with the process whatever happens.
    # Nothing leaves it before the whole download was verified.
    with _spool_errors(check.image_id, directory):
        spool = tempfile.TemporaryFile(dir=directory)
    with spool:
        _checked(fetch, check, functools.partial(_spool_write, spool, check,
                                                 directory))
        with _spool_errors(check.image_id, directory):
            spool.seek(0)
        for piece in _spool_pieces(spool, check, directory):
            write(piece)


def _spool_write(spool, check: HashCheck, directory: str,
                 chunk: bytes) -> None:
    with _spool_errors(check.image_id, directory):
        spool.write(chunk)


def _spool_pieces(spool, check: HashCheck, directory: str
                  ) -> Iterator[bytes]:
    while True:
        with _spool_errors(check.image_id, directory):
            piece = spool.read(SPOOL_PIECE)
        if not piece:
            return
        yield piece


@contextlib.contextmanager
def _spool_errors(image_id: str, directory: str) -> Iterator[None]:
    # A full or missing spool directory is the operator's to fix, and an
    # OSError raised into the engine upload would read as "is dockerd
    # running?": say what it is.
    try:
        yield
    except OSError as exc:
        raise docker_exception.SpoolFailed(image_id=image_id,
                                           directory=directory,
                                           reason=exc.strerror or exc
                                           ) from exc


class LayerSpool:
    """The anonymous file a zstd layer is unpacked into (Docker 20.10
    reads no zstd layer): in ``directory`` (``[docker]
    image_download_dir``, where the operator lets image data land) or,
    unset, the default temp dir; its failures say where
    (:class:`SpoolFailed`), not "is the engine running?" as an OSError
    raised into the upload to the engine would.
    """

    def __init__(self, image_id: str, directory: str | None = None):
        self._where = (image_id, directory or tempfile.gettempdir())
        with _spool_errors(*self._where):
            self._file = tempfile.TemporaryFile(dir=directory)

    def write(self, data) -> int:
        with _spool_errors(*self._where):
            return self._file.write(data)

    def seek(self, offset: int) -> int:
        with _spool_errors(*self._where):
            return self._file.seek(offset)

    def read(self, size: int = -1) -> bytes:
        with _spool_errors(*self._where):
            return self._file.read(size)

    def close(self) -> None:
        self._file.close()


def download_error(check: HashCheck, exc: Exception) -> Exception:
    """The exception for a download that failed with ``exc``."""
    if isinstance(exc, (exception.NovaException,
                        cursive_exception.SignatureVerificationError)):
        # nova's image API already says what happened (image not found,
        # Glance unreachable, certificate not trusted, signature
        # properties missing): the compute manager knows these.
        return exc
    if check.complete:
        # All the bytes arrived: if they do not match, that is the news
        # (through nova's own image API, glanceclient raises its check as
        # an IOError after the last chunk, before nova checks the
        # signature).
        check.verify()
    if isinstance(exc, crypto_exceptions.InvalidSignature):
        return docker_exception.signature_mismatch(check.image_id)
    return download_failed(check, exc)


def download_failed(check: HashCheck, exc: Exception) -> Exception:
    """ImageDownloadFailed for a download that broke off with ``exc``."""
    return docker_exception.ImageDownloadFailed(
        image_id=check.image_id, received=check.received,
        size=check.size if check.size is not None else 'unknown',
        reason=str(exc) or type(exc).__name__)


# -- read-ahead -------------------------------------------------------------

class SourceStalled(Exception):
    """The source sent nothing for longer than its Stall allows.

    Not an OSError: raised inside an HTTP library's body iteration, an
    OSError would be taken for a failure of the engine's connection.
    """

    def __init__(self, seconds: float):
        super().__init__('no data for %.0f seconds' % seconds)
        self.seconds = seconds


class Stall:
    """``seconds`` of silence of a source, measured by ``idle()`` (e.g.
    :meth:`HashCheck.idle`), after which the reader gives up."""

    def __init__(self, seconds: float, idle: Callable[[], float]):
        self.seconds = seconds
        self._idle = idle

    def stalled(self) -> bool:
        return self._idle() > self.seconds


# How often a reader waiting for the source checks for a stall.
_STALL_POLL = 0.5


class _Failed:
    def __init__(self, exc: Exception):
        self.exc = exc


class _Stopped(Exception):
    """Raised into the producer when the reader closed the Prefetch."""

    def __init__(self):
        super().__init__('the load into the engine stopped: the rest of '
                         'the download is not needed')


_END = object()


class _Joiner:
    """Joins written chunks into pieces of at least ``piece`` bytes."""

    def __init__(self, put: Write, piece: int):
        self._put = put
        self._piece = piece
        self._pending: list[bytes] = []
        self._length = 0

    def write(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._length += len(chunk)
        if self._length >= self._piece:
            self.flush()

    def flush(self) -> None:
        if self._length:
            joined = b''.join(self._pending)
            self._pending, self._length = [], 0
            self._put(joined)


def pulled(iterable: Iterable[bytes]) -> Producer:
    """A producer of the chunks of ``iterable`` (closed at the end)."""
    def produce(write: Write) -> None:
        try:
            for chunk in iterable:
                write(chunk)
        finally:
            close_quietly(iterable)
    return produce


class Prefetch:
    """Iterates ``iterable`` in a thread of its own, joined into pieces of
    at least ``piece`` bytes, up to ``depth`` pieces ahead of the reader.
    :meth:`pushed` does the same for a push-style producer (a download
    that writes into a file object). The bytes come out in order. An
    exception of the source is raised to the reader in place of the bytes
    not yet handed over (up to one piece): the reader fails either way;
    the end comes only once the source returned.

    Memory is bounded by ``depth`` pieces. ``close()`` stops the thread at
    its next piece (it cannot interrupt a read that is waiting on the
    network; that read's own timeout ends it).
    """

    def __init__(self, iterable: Iterable[bytes],
                 piece: int = PREFETCH_PIECE, depth: int = PREFETCH_DEPTH,
                 stall: Stall | None = None):
        self._start(pulled(iterable), piece, depth, stall)

    @classmethod
    def pushed(cls, produce: Producer, piece: int = PREFETCH_PIECE,
               depth: int = PREFETCH_DEPTH,
               stall: Stall | None = None) -> 'Prefetch':
        """Runs ``produce(write)`` in the thread; ``write`` blocks while
        the queue is full (that holds the download back)."""
        prefetch = cls.__new__(cls)
        prefetch._start(produce, piece, depth, stall)
        return prefetch

    def _start(self, produce: Producer, piece: int, depth: int,
               stall: Stall | None) -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._stall = stall
        self._thread = threading.Thread(
            target=self._run, args=(produce, piece), daemon=True,
            name='nova-docker-image-prefetch')
        self._thread.start()

    def _run(self, produce: Producer, piece: int) -> None:
        joiner = _Joiner(self._put_or_stop, piece)
        try:
            produce(joiner.write)
            joiner.flush()
            self._put(_END)
        except _Stopped:
            return
        except Exception as exc:  # handed to the reader, who raises it
            self._put(_Failed(exc))

    def _put_or_stop(self, item) -> None:
        if not self._put(item):
            raise _Stopped()

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
            try:
                item = self._queue.get(timeout=_STALL_POLL)
            except queue.Empty:
                self._check_stall()
                continue
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def _check_stall(self) -> None:
        # The source's own reads may wait on the network for as long as
        # its library lets them; the reader (and the image's lock) must
        # not wait that long.
        if self._stall is not None and self._stall.stalled():
            self.close()
            raise SourceStalled(self._stall.seconds)

    def close(self) -> None:
        self._stop.set()


def _flat(pieces: list) -> Iterator[bytes]:
    # TarStream.feed hands a zstd layer over as a generator of pieces.
    for piece in pieces:
        if isinstance(piece, bytes):
            yield piece
        else:
            yield from piece


class TarPieces:
    """An iterable of checked tar pieces made of a (verified) source.

    :param source: the image data (gzip or not), an iterable of bytes
        that raises at its end if the data is not what Glance recorded.
    :param final_checks: callables given the TarStream once the whole
        source went by, before the end-of-archive marker is released; they
        raise to stop the load.
    :param rewrite_manifest, max_size, platform, engine_checks_diff_ids,
        spool, held_layers: see TarStream (``max_size`` bounds the data
        after gzip is undone).
    """

    def __init__(self, source: Iterable[bytes],
                 final_checks: Iterable[Callable[[TarStream], None]] = (),
                 rewrite_manifest: bool = True,
                 max_size: int | None = None,
                 platform: Platform | None = None,
                 engine_checks_diff_ids: bool | Callable[[], bool] = False,
                 spool: Callable[[], IO[bytes]] = tempfile.TemporaryFile,
                 held_layers: tuple = ()):
        self.tar = TarStream(rewrite_manifest=rewrite_manifest,
                             max_size=max_size, platform=platform,
                             engine_checks_diff_ids=engine_checks_diff_ids,
                             spool=spool, held_layers=held_layers)
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
        self.tar.close()

    def _generate(self) -> Iterator[bytes]:
        for raw in self._source:
            for plain in self._gunzip.feed(raw):
                yield from _flat(self.tar.feed(plain))
        for plain in self._gunzip.finish():
            yield from _flat(self.tar.feed(plain))
        end = self.tar.finish()
        for check in self._final_checks:
            check(self.tar)
        yield end
