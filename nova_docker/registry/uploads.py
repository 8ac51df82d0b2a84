"""Blob uploads in flight, each a file under ``upload_dir``.

An upload is the only state the registry keeps of its own. Its file is
named by a random id and has a small JSON side file saying which
repository and project it belongs to, so any process on the host can
carry on with it. The digest is computed while the data arrives; a
process that did not see every chunk reads the file again at the end.
"""

import dataclasses
import hashlib
import json
import os
import re
import threading
import time
import uuid
import zlib

from oslo_log import log as logging

from nova_docker.registry import errors

LOG = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_ID = re.compile(r'[0-9a-f]{32}\Z')
_GZIP_MAGIC = b'\x1f\x8b'


class LayerProbe:
    """The digest of a blob and, for a gzip-compressed tar, of what it
    unpacks to (its diff id) and how big that is: a push's archive stores
    layers uncompressed, and a tar header needs the size up front."""

    def __init__(self):
        self.sha = hashlib.sha256()
        self.size = 0
        self._inflate = None
        self._plain = None
        self.plain_size = 0
        self._head = b''
        self.gzip_error = False

    def update(self, data: bytes) -> None:
        fresh = data
        if self.size < 2:
            self._head = (self._head + data)[:2]
            if len(self._head) == 2 and self._head == _GZIP_MAGIC:
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._plain = hashlib.sha256()
                # The magic may have begun in an earlier, 1-byte chunk,
                # which the inflater has not seen yet.
                fresh = self._head[:self.size] + data
        self.sha.update(data)
        self.size += len(data)
        if self._inflate is not None and not self.gzip_error:
            self._feed(fresh)

    def _feed(self, data: bytes) -> None:
        try:
            while data:
                plain = self._inflate.decompress(data, CHUNK)
                self._plain.update(plain)
                self.plain_size += len(plain)
                data = self._inflate.unconsumed_tail
                if self._inflate.eof:
                    # Concatenated gzip members, as pigz can write them.
                    rest = self._inflate.unused_data
                    self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest + data
        except zlib.error:
            self.gzip_error = True

    @property
    def digest(self) -> str:
        return 'sha256:' + self.sha.hexdigest()

    def diff(self) -> tuple[str, int] | None:
        """``(diff id, unpacked size)`` of a gzip blob, else None."""
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


class Uploads:
    """The uploads of one host; thread-safe."""

    def __init__(self, directory: str, max_size: int, timeout: int):
        self.directory = directory
        self.max_size = max_size
        self.timeout = timeout
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self._probes: dict[str, LayerProbe] = {}
        self._lock = threading.Lock()

    def _paths(self, upload_id: str) -> tuple[str, str]:
        base = os.path.join(self.directory, upload_id)
        return base + '.data', base + '.json'

    def start(self, name: str, project: str) -> str:
        upload_id = uuid.uuid4().hex
        data, meta = self._paths(upload_id)
        open(data, 'xb').close()
        with open(meta + '.tmp', 'w') as f:
            json.dump({'name': name, 'project': project,
                       'started': time.time()}, f)
        os.rename(meta + '.tmp', meta)
        with self._lock:
            self._probes[upload_id] = LayerProbe()
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
               start: int | None = None, length: int | None = None) -> int:
        """Add the body ``read(n)`` gives to the upload; returns its new
        size. ``start`` (from Content-Range) must be where it stands."""
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
        probe = self._probe(upload_id, size)
        data, _ = self._paths(upload_id)
        with open(data, 'ab') as f:
            while True:
                want = CHUNK if length is None else min(CHUNK, length)
                chunk = read(want) if want else b''
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_size:
                    self.cancel(upload_id, name, project)
                    raise self._too_large()
                f.write(chunk)
                if probe is not None:
                    probe.update(chunk)
                if length is not None:
                    length -= len(chunk)
        os.utime(data)
        return size

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
            probe = LayerProbe()
            with open(data, 'rb') as f:
                for chunk in iter(lambda: f.read(CHUNK), b''):
                    probe.update(chunk)
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

    def remove(self, upload_id: str) -> None:
        with self._lock:
            self._probes.pop(upload_id, None)
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
