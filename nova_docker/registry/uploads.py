"""Blob uploads in flight, each a file under ``upload_dir``.

An upload is the only state the registry keeps of its own. Its file is
named by a random id and has a small JSON side file saying which
repository and project it belongs to, so any process on the host can
carry on with it. The digest is computed while the data arrives; a
process that did not see every chunk reads the file again at the end.
"""

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import threading
import time
import uuid

from oslo_log import log as logging
import zstandard

from nova_docker.archive import compression
from nova_docker.archive.compression import GZIP_MAGIC
from nova_docker.archive.layers import ZSTD_MAGIC
from nova_docker.archive.members import TarFormatError
from nova_docker.registry import errors

LOG = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_ID = re.compile(r'[0-9a-f]{32}\Z')


class LayerProbe:
    """The digest of a blob and, for a gzip- or zstd-compressed tar, of
    what it unpacks to (its diff id) and how big that is: a push's archive
    stores layers uncompressed, and a tar header needs the size up front.

    Unpacking is bounded (``max_unpacked`` bytes in all, ``max_ratio``
    times the compressed size): past either, :meth:`update` raises
    ``UnpacksTooLarge``, as a bomb would make the push's archive in
    Glance a thousand times the blob.
    """

    def __init__(self, max_unpacked: int | None = None,
                 max_ratio: int | None = None):
        self.sha = hashlib.sha256()
        self.size = 0
        self._bounds = (max_unpacked, max_ratio)
        self._inflate = None
        self._kind: str | None = None
        self._plain = None
        self._zplain = 0
        self._head = b''
        # True when the data is not the gzip or zstd its magic says.
        self.gzip_error = False

    @property
    def plain_size(self) -> int:
        if self._kind == 'zstd':
            return self._zplain
        return self._inflate.plain if self._inflate is not None else 0

    def update(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        if self._kind is None:
            # The magic may be cut across chunks: wait for 4 bytes.
            self._head += data
            if len(self._head) < len(ZSTD_MAGIC):
                return
            data, self._head = self._head, b''
            self._decide(data)
        if self._inflate is not None and not self.gzip_error:
            self._feed(data)

    def _decide(self, head: bytes) -> None:
        if head.startswith(GZIP_MAGIC):
            self._kind = 'gzip'
            self._inflate = compression.Gunzip(*self._bounds, detect=False)
        elif head.startswith(ZSTD_MAGIC):
            self._kind = 'zstd'
            self._inflate = zstandard.ZstdDecompressor().stream_writer(
                self, write_size=compression.PIECE)
        else:
            self._kind = 'plain'
            return
        self._plain = hashlib.sha256()

    def write(self, piece) -> int:
        """zstd's unpacked data, hashed and counted (bounded)."""
        self._zplain += len(piece)
        self._plain.update(piece)
        compression.check_unpacked(self._zplain, self.size, *self._bounds)
        return len(piece)

    def _feed(self, data: bytes) -> None:
        try:
            if self._kind == 'zstd':
                self._inflate.write(data)
                return
            for plain in self._inflate.feed(data):
                self._plain.update(plain)
        except compression.UnpacksTooLarge:
            raise
        except (TarFormatError, zstandard.ZstdError):
            self.gzip_error = True

    @property
    def digest(self) -> str:
        return 'sha256:' + self.sha.hexdigest()

    def diff(self) -> tuple[str, int] | None:
        """``(diff id, unpacked size)`` of a gzip or zstd blob, else
        None."""
        if self._plain is None or self.gzip_error:
            return None
        return 'sha256:' + self._plain.hexdigest(), self.plain_size


@dataclasses.dataclass
class Finished:
    """A verified upload, ready to go to Glance."""

    path: str
    size: int
    digest: str
    diff: tuple[str, int] | None


@dataclasses.dataclass(frozen=True)
class Limits:
    """What uploads in flight may hold, per project and on the host
    (None: no bound), and what a gzip layer may unpack to."""

    per_project: int | None = None
    total: int | None = None
    bytes_per_project: int | None = None
    bytes_total: int | None = None
    max_unpacked: int | None = None
    max_ratio: int | None = None


@dataclasses.dataclass(frozen=True)
class _InFlight:
    """Counts and bytes of the uploads in upload_dir."""

    count: int
    project_count: int
    size: int
    project_size: int


class Uploads:
    """The uploads of one host; thread-safe. Every process of the host
    shares ``directory``: the caps count what is in it."""

    def __init__(self, directory: str, max_size: int, timeout: int,
                 limits: Limits | None = None, discard=None):
        self.directory = directory
        # discard(image_id): deletes the Glance image an upload streamed
        # into when the upload goes without it being kept.
        self.discard = discard
        self.max_size = max_size
        self.timeout = timeout
        self.limits = limits or Limits()
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self._probes: dict[str, LayerProbe] = {}
        self._lock = threading.Lock()

    def _new_probe(self) -> LayerProbe:
        return LayerProbe(self.limits.max_unpacked, self.limits.max_ratio)

    @contextlib.contextmanager
    def _host_lock(self):
        """Held while counting and adding uploads: the processes of the
        host then can not all pass a cap at once."""
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def in_flight(self, project: str, but: str | None = None) -> _InFlight:
        """What the uploads in upload_dir hold (``but`` one of them)."""
        count = project_count = size = project_size = 0
        for entry in os.listdir(self.directory):
            upload_id, _, ext = entry.partition('.')
            if ext != 'json' or upload_id == but or not _ID.match(upload_id):
                continue
            data, meta = self._paths(upload_id)
            try:
                with open(meta) as f:
                    owner = json.load(f).get('project')
                length = os.stat(data).st_size
            except (OSError, ValueError, AttributeError):
                continue
            count, size = count + 1, size + length
            if owner == project:
                project_count += 1
                project_size += length
        return _InFlight(count, project_count, size, project_size)

    def _check_count(self, project: str) -> None:
        now = self.in_flight(project)
        if self._over(now.project_count + 1, self.limits.per_project):
            raise _too_many('project %s has %d uploads in flight, the most '
                            'this registry takes (max_uploads_per_project)'
                            % (project, now.project_count))
        if self._over(now.count + 1, self.limits.total):
            raise _too_many('the registry has %d uploads in flight, the '
                            'most it takes (max_uploads)' % now.count)

    @staticmethod
    def _over(value: int, bound: int | None) -> bool:
        return bound is not None and value > bound

    def _byte_room(self, upload_id: str, project: str) -> int | None:
        """How many bytes this upload may still grow by before a byte cap
        is passed (None: no cap)."""
        limits = self.limits
        if limits.bytes_per_project is None and limits.bytes_total is None:
            return None
        others = self.in_flight(project, but=upload_id)
        rooms = [bound - used for bound, used in (
            (limits.bytes_per_project, others.project_size),
            (limits.bytes_total, others.size)) if bound is not None]
        return min(rooms)

    def _paths(self, upload_id: str) -> tuple[str, str]:
        base = os.path.join(self.directory, upload_id)
        return base + '.data', base + '.json'

    def start(self, name: str, project: str) -> str:
        """A new upload; TOOMANYREQUESTS when the project or the host has
        as many in flight as the caps allow."""
        upload_id = uuid.uuid4().hex
        data, meta = self._paths(upload_id)
        with self._host_lock():
            self._check_count(project)
            open(data, 'xb').close()
            with open(meta + '.tmp', 'w') as f:
                json.dump({'name': name, 'project': project,
                           'started': time.time()}, f)
            os.rename(meta + '.tmp', meta)
        with self._lock:
            self._probes[upload_id] = self._new_probe()
        return upload_id

    def size(self, upload_id: str, name: str, project: str) -> int:
        """Bytes received so far; BLOB_UPLOAD_UNKNOWN for an upload that
        is not this repository's and project's."""
        data, meta = self._paths(self._check_id(upload_id))
        try:
            with open(meta) as f:
                owner = json.load(f)
            size = os.stat(data).st_size
        except (OSError, ValueError):
            raise self._unknown(upload_id) from None
        if owner.get('name') != name or owner.get('project') != project:
            raise self._unknown(upload_id)
        return size

    def append(self, upload_id: str, name: str, project: str, read,
               start: int | None = None, length: int | None = None,
               sink=None) -> int:
        """Add the body ``read(n)`` gives to the upload; returns its new
        size. ``start`` (from Content-Range) must be where it stands.
        ``sink(chunk)`` gets each chunk once it is within bounds and
        written."""
        size = self.size(upload_id, name, project)
        if start is not None and start != size:
            raise errors.RangeInvalid(
                'this chunk starts at byte %d but the upload has %d bytes: '
                'send the chunk that follows' % (start, size),
                headers={'Range': '0-%d' % max(size - 1, 0)})
        if length is not None and size + length > self.max_size:
            # Refused before a byte of it is written: a declared length
            # need not be read to be too much.
            self.cancel(upload_id, name, project)
            raise self._too_large()
        room = self._byte_room(upload_id, project)
        limit = self.max_size if room is None else min(self.max_size,
                                                       size + room)
        try:
            size = self._write(upload_id, read, size, length, limit, sink)
        except BaseException:
            self.cancel(upload_id, name, project)
            raise
        return size

    def _write(self, upload_id: str, read, size: int, length: int | None,
               limit: int, sink=None) -> int:
        """Append what ``read`` gives, up to ``limit`` bytes in all."""
        probe = self._probe(upload_id, size)
        data, _ = self._paths(upload_id)
        if length is not None and size + length > limit:
            raise self._over_limit(limit)
        with open(data, 'ab') as f:
            while True:
                want = CHUNK if length is None else min(CHUNK, length)
                chunk = read(want) if want else b''
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise self._over_limit(limit)
                f.write(chunk)
                if probe is not None:
                    self._probe_update(probe, chunk)
                if sink is not None:
                    sink(chunk)
                if length is not None:
                    length -= len(chunk)
        os.utime(data)
        return size

    def _over_limit(self, limit: int) -> errors.RegistryError:
        if limit >= self.max_size:
            return self._too_large()
        return _too_many('this upload would pass the bytes uploads in '
                         'flight may hold (max_upload_bytes_per_project or '
                         'max_upload_bytes, %d bytes left for it); it was '
                         'removed' % limit)

    @staticmethod
    def _probe_update(probe: LayerProbe, chunk: bytes) -> None:
        try:
            probe.update(chunk)
        except compression.UnpacksTooLarge as exc:
            raise errors.BlobUploadInvalid(
                'the layer was refused and removed: %s (max_layer_unpacked_'
                'size, max_layer_unpack_ratio)' % exc) from None

    def _probe(self, upload_id: str, size: int) -> LayerProbe | None:
        with self._lock:
            probe = self._probes.get(upload_id)
        if probe is not None and probe.size != size:
            # Chunks went to another process: the digest is read off the
            # file at the end instead.
            with self._lock:
                self._probes.pop(upload_id, None)
            return None
        return probe

    def finish(self, upload_id: str, name: str, project: str,
               digest: str) -> Finished:
        """Verify the upload against ``digest``. A wrong digest removes
        the upload (DIGEST_INVALID)."""
        size = self.size(upload_id, name, project)
        data, _ = self._paths(upload_id)
        with self._lock:
            probe = self._probes.get(upload_id)
        if probe is None or probe.size != size:
            probe = self._new_probe()
            try:
                with open(data, 'rb') as f:
                    for chunk in iter(lambda: f.read(CHUNK), b''):
                        self._probe_update(probe, chunk)
            except errors.BlobUploadInvalid:
                self.cancel(upload_id, name, project)
                raise
        if probe.digest != digest:
            self.cancel(upload_id, name, project)
            raise errors.DigestInvalid(
                'the uploaded data has digest %s, not %s; the upload was '
                'discarded: push again' % (probe.digest, digest),
                detail={'digest': digest})
        return Finished(data, size, digest, probe.diff())

    def cancel(self, upload_id: str, name: str, project: str) -> None:
        self.size(upload_id, name, project)
        self.remove(upload_id)

    def _meta(self, upload_id: str) -> dict:
        try:
            with open(self._paths(upload_id)[1]) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def note_stream(self, upload_id: str, image_id: str,
                    size: int | None) -> bool:
        """Record that Glance image ``image_id`` holds the upload's first
        ``size`` bytes (None: it is being filled); False when the upload
        is gone."""
        _, meta_path = self._paths(upload_id)
        with self._host_lock():
            meta = self._meta(upload_id)
            if not meta:
                return False
            meta['stream'] = [image_id, size]
            with open(meta_path + '.tmp', 'w') as f:
                json.dump(meta, f)
            os.rename(meta_path + '.tmp', meta_path)
        return True

    def streamed(self, upload_id: str) -> tuple[str, int | None] | None:
        """The Glance image the upload streamed into and how many bytes
        it holds (None: not known to be complete), if any."""
        stream = self._meta(upload_id).get('stream')
        if (isinstance(stream, list) and len(stream) == 2 and
                isinstance(stream[0], str) and
                isinstance(stream[1], (int, type(None)))):
            return stream[0], stream[1]
        return None

    def remove(self, upload_id: str, keep_stream: bool = False) -> None:
        """Remove the upload and, unless ``keep_stream`` (it became the
        blob), the Glance image it streamed into."""
        stream = None if keep_stream else self.streamed(upload_id)
        with self._lock:
            self._probes.pop(upload_id, None)
        if stream is not None and self.discard is not None:
            self.discard(stream[0])
        for path in self._paths(upload_id):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def reap(self, now: float | None = None) -> list[str]:
        """Remove uploads idle longer than ``timeout``; their ids."""
        now = time.time() if now is None else now
        gone = []
        for entry in os.listdir(self.directory):
            upload_id, _, ext = entry.partition('.')
            if ext not in ('data', 'json', 'json.tmp'):
                continue
            path = os.path.join(self.directory, entry)
            try:
                idle = now - os.stat(path).st_mtime
            except FileNotFoundError:
                continue
            if idle > self.timeout and _ID.match(upload_id):
                data, _ = self._paths(upload_id)
                try:
                    idle = now - os.stat(data).st_mtime
                except FileNotFoundError:
                    pass
                if idle > self.timeout:
                    self.remove(upload_id)
                    if ext == 'json.tmp':
                        os.unlink(path)
                    gone.append(upload_id)
        return sorted(set(gone))

    def _too_large(self) -> errors.BlobTooLarge:
        return errors.BlobTooLarge('blob exceeds the registry\'s '
                                   'max_blob_size of %d bytes'
                                   % self.max_size)

    def _check_id(self, upload_id: str) -> str:
        if not _ID.match(upload_id or ''):
            raise self._unknown(upload_id)
        return upload_id

    @staticmethod
    def _unknown(upload_id: str) -> errors.BlobUploadUnknown:
        return errors.BlobUploadUnknown(
            'upload %s is not known here (finished, cancelled, expired, or '
            'another repository\'s): start the upload again' % upload_id,
            detail={'uuid': upload_id})


def _too_many(message: str) -> errors.TooManyRequests:
    return errors.TooManyRequests(
        message + ': finish or cancel an upload, or wait for unfinished '
        'ones to expire, then try again')


class Reaper:
    """A thread that removes idle uploads every ``interval`` seconds, so
    a stale upload goes without another upload starting. One per server
    process: the processes share upload_dir and removal is idempotent."""

    def __init__(self, uploads: Uploads, interval: float):
        self._uploads = uploads
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='upload-reaper')
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                for upload_id in self._uploads.reap():
                    LOG.info('Removed upload %s: no data for %d s',
                             upload_id, self._uploads.timeout)
            except Exception:
                LOG.exception('Looking for idle uploads failed; trying '
                              'again in %d s', self._interval)
