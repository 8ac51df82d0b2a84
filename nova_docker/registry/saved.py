"""What is inside a Glance docker image that was uploaded, not pushed.

A ``docker save`` archive already holds an image config and its layers:
the registry serves them as they are, found with ranged reads of the
Glance image (a few requests per layer, none of the data read), so a pull
gives the image id that a boot of the same Glance image gives. A root
file system tar is served as an image of one layer, the tar itself, with
a config made from the Glance image's properties: the same bytes on
every pull.
"""

import dataclasses
import hashlib
import io
import json
import platform
import posixpath
import shlex
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Iterator

from nova_docker.archive import compression
from nova_docker.archive import digest as digest_of
from nova_docker.archive import layers as blob_meter
from nova_docker.archive import oci
from nova_docker.archive import tarindex
from nova_docker.archive import tarstream
from nova_docker.archive.members import TarFormatError
from nova_docker.registry import errors
from nova_docker.registry import manifests

READ_AHEAD = 64 * 1024
_GZIP_MAGIC = b'\x1f\x8b'
_GOARCH = {'x86_64': 'amd64', 'aarch64': 'arm64', 'armv7l': 'arm',
           'ppc64le': 'ppc64le', 's390x': 's390x', 'i686': '386'}
MAX_CONFIG = 8 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Blob:
    """Where a blob's bytes are: ``size`` bytes of a Glance image from
    ``offset``."""

    image_id: str
    offset: int
    size: int
    digest: str
    # (diff id, unpacked size) when known: a plain tar is its own diff.
    diff: tuple[str, int] | None = None
    # A config made by the registry lives here, not in Glance.
    data: bytes | None = None
    # The project whose sealed blob image this is (None: a part of an
    # uploaded image, or made by the registry).
    owner: str | None = None


@dataclasses.dataclass
class SavedImage:
    """A config and layers found in (or made for) one Glance image."""

    image_id: str
    config: bytes
    layers: list[tuple[Blob, bool]]

    @property
    def zstd(self) -> bool:
        """Whether a layer is zstd, which only OCI manifests can name."""
        return any(gz == 'zstd' for _blob, gz in self.layers)

    @property
    def config_digest(self) -> str:
        return manifests.digest_of(self.config)

    def manifest(self, media_type: str) -> manifests.Manifest:
        return manifests.generated(
            media_type, self.config,
            [(blob.digest, blob.size, gz) for blob, gz in self.layers])

    def blob(self, digest: str) -> Blob | None:
        if digest == self.config_digest:
            return Blob(self.image_id, 0, len(self.config), digest,
                        data=self.config)
        for blob, _ in self.layers:
            if blob.digest == digest:
                return blob
        return None

    def digests(self) -> set[str]:
        found = {self.config_digest}
        found.update(blob.digest for blob, _ in self.layers)
        found.update(self.manifest(t).digest for t in manifests.IMAGE_TYPES)
        return found


class RangeFile(io.RawIOBase):
    """A Glance image as a seekable file, read with ranged downloads."""

    def __init__(self, glance, image_id: str, size: int):
        self._glance, self._id, self._size = glance, image_id, size
        self._pos = 0
        self._buf_start, self._buf = 0, b''

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos,
                io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        start = self._pos - self._buf_start
        if not (0 <= start and start + want <= len(self._buf)):
            end = min(self._size, self._pos + max(want, READ_AHEAD))
            self._buf = self._glance.read(self._id, self._pos, end)
            self._buf_start, start = self._pos, 0
        data = self._buf[start:start + want]
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)


def goarch(machine: str | None) -> str:
    machine = machine or platform.machine()
    return _GOARCH.get(machine, machine)


def rootfs_config(image: dict, diff_id: str, arch: str | None) -> bytes:
    """The config of a root file system tar's one-layer image."""
    config = {}
    line = image.get('os_command_line')
    if line:
        try:
            config['Cmd'] = shlex.split(line)
        except ValueError:
            pass
    body = {'architecture': goarch(image.get('architecture') or arch),
            'os': 'linux', 'config': config,
            'rootfs': {'type': 'layers', 'diff_ids': [diff_id]}}
    return json.dumps(body, sort_keys=True, separators=(',', ':')).encode()


class Indexer:
    """SavedImage of Glance images, remembered by image id (Glance data
    never changes): the ``keep`` last used, holding at most ``max_bytes``
    of configs (each up to MAX_CONFIG) together."""

    def __init__(self, glance, arch: str | None = None, keep: int = 256,
                 max_unpacked: int | None = None,
                 max_ratio: int | None = None,
                 max_bytes: int = 64 * 1024 * 1024):
        self._glance = glance
        self._arch = arch
        self._max_unpacked = max_unpacked
        self._max_ratio = max_ratio
        self._keep = keep
        self._max_bytes = max_bytes
        self._held = 0
        self._cache: OrderedDict[str, SavedImage] = OrderedDict()
        self._lock = threading.Lock()

    def index(self, image: dict) -> SavedImage:
        with self._lock:
            if image['id'] in self._cache:
                self._cache.move_to_end(image['id'])
                return self._cache[image['id']]
        saved = self._build(image)
        with self._lock:
            if image['id'] not in self._cache:
                self._cache[image['id']] = saved
                self._held += len(saved.config)
            while self._cache and (len(self._cache) > self._keep or
                                   self._held > self._max_bytes):
                _, gone = self._cache.popitem(last=False)
                self._held -= len(gone.config)
        return saved

    def _build(self, image: dict) -> SavedImage:
        size = image.get('size') or 0
        head = self._glance.read(image['id'], 0, min(size, 2)) if size else b''
        if head == _GZIP_MAGIC:
            if self._compressed_kind(image) == tarstream.DOCKER_SAVE:
                raise _unreadable(image, 'a gzip-compressed docker save '
                                  'archive: upload it uncompressed')
            return self._rootfs(image, compressed=True)
        reader = RangeFile(self._glance, image['id'], size)
        try:
            members = tarindex.walk(reader)
            first = next(members, None)
            if first is None or tarstream.classify(
                    first.name) == tarstream.ROOTFS:
                return self._rootfs(image, compressed=False)
            return self._saved(image, reader, first, members)
        except TarFormatError as exc:
            raise _unreadable(image, exc) from None

    def _compressed_kind(self, image: dict) -> str:
        """The kind of a gzip image, from its first header: no more than
        a block of it is unpacked."""
        inflate = compression.Gunzip(detect=False)
        plain = bytearray()
        chunks = self._glance.download(image['id'], 0,
                                       min(image['size'], READ_AHEAD))
        try:
            for chunk in chunks:
                for piece in inflate.feed(chunk):
                    plain += piece[:tarstream.BLOCK - len(plain)]
                    if len(plain) == tarstream.BLOCK:
                        break
                if len(plain) == tarstream.BLOCK:
                    break
            info = tarfile.TarInfo.frombuf(bytes(plain), 'utf-8',
                                           'surrogateescape')
        except (TarFormatError, tarfile.TarError) as exc:
            raise _unreadable(image, exc) from None
        finally:
            close = getattr(chunks, 'close', None)
            if close is not None:
                close()
        return tarstream.classify(tarstream.normalise(info.name))

    def _saved(self, image: dict, reader: RangeFile, first: tarindex.Member,
               rest) -> SavedImage:
        members = {first.name: first}
        try:
            for member in rest:
                members[member.name] = member
            entry = self._entry(reader, members)
            config = self._read(reader, members, entry['Config'])
            diff_ids = json.loads(config)['rootfs']['diff_ids']
            layers = [self._layer(image, members, name, diff_id)
                      for name, diff_id in zip(entry['Layers'], diff_ids,
                                               strict=True)]
        except (TarFormatError, KeyError, IndexError, TypeError,
                ValueError) as exc:
            raise _unreadable(image, exc) from None
        return SavedImage(image['id'], config, layers)

    def _entry(self, reader: RangeFile, members: dict) -> dict:
        """The manifest.json entry of the archive's image; for an OCI
        layout without one (skopeo's oci-archive), made from index.json
        for this registry's platform."""
        if 'manifest.json' in members or 'index.json' not in members:
            return json.loads(self._read(reader, members,
                                         'manifest.json'))[0]
        blobs = {}
        for name, member in members.items():
            found = oci.BLOB_NAME.match(name)
            if found and member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                small = member.size <= blob_meter.MAX_JSON
                blobs['sha256:' + found.group(1)] = oci.Blob(
                    member.size, None, None,
                    self._read(reader, members, name) if small else None)
        return oci.resolve(self._read(reader, members, 'index.json'), blobs,
                           oci.Platform('linux', goarch(self._arch)),
                           check_data=False)

    @staticmethod
    def _member(members: dict, name: str) -> tarindex.Member:
        name = tarstream.normalise(name)
        for _ in range(8):
            member = members[name]
            if not member.issym():
                return member
            name = posixpath.normpath(posixpath.join(
                posixpath.dirname(name), member.linkname))
        raise ValueError('symlink loop at %s' % name)

    def _read(self, reader: RangeFile, members: dict, name: str) -> bytes:
        member = self._member(members, name)
        if member.size > MAX_CONFIG:
            raise ValueError('%s is too large' % name)
        reader.seek(member.offset_data)
        data = reader.read(member.size)
        if len(data) != member.size:
            raise ValueError('%s is cut short' % name)
        return data

    def _layer(self, image, members, name, diff_id) -> tuple[Blob, bool]:
        member = self._member(members, name)
        start = member.offset_data
        head = (self._glance.read(image['id'], start, start + 4)
                if member.size else b'')
        if not head.startswith((_GZIP_MAGIC, blob_meter.ZSTD_MAGIC)):
            return Blob(image['id'], member.offset_data, member.size,
                        diff_id, (diff_id, member.size)), False
        digest = digest_of.sha256_of(self._glance.download(
            image['id'], member.offset_data,
            member.offset_data + member.size))
        return Blob(image['id'], member.offset_data, member.size,
                    digest), ('zstd' if head.startswith(blob_meter.ZSTD_MAGIC)
                              else True)

    def _digests(self, chunks: Iterator[bytes],
                 compressed: bool) -> tuple[str, str]:
        """Digest of the data and of what it unpacks to, unpacked in
        bounded pieces and no further than the registry's bounds."""
        sha, plain = hashlib.sha256(), hashlib.sha256()
        inflate = (compression.Gunzip(self._max_unpacked, self._max_ratio,
                                      detect=False)
                   if compressed else None)
        try:
            for chunk in chunks:
                sha.update(chunk)
                for piece in (inflate.feed(chunk) if inflate else ()):
                    plain.update(piece)
            if inflate is not None:
                inflate.finish()
        finally:
            close = getattr(chunks, 'close', None)
            if close is not None:
                close()
        if inflate is None:
            plain = sha
        return 'sha256:' + sha.hexdigest(), 'sha256:' + plain.hexdigest()

    def _rootfs(self, image: dict, compressed: bool) -> SavedImage:
        size = image.get('size') or 0
        sha = image.get('os_hash_value')
        if compressed or image.get('os_hash_algo') != 'sha256':
            try:
                sha, diff_id = self._digests(
                    self._glance.download(image['id']), compressed)
            except TarFormatError as exc:
                raise _unreadable(image, exc) from None
        else:
            sha = 'sha256:' + sha
            diff_id = sha
        config = rootfs_config(image, diff_id, self._arch)
        return SavedImage(image['id'], config,
                          [(Blob(image['id'], 0, size, sha), compressed)])


def _unreadable(image: dict, exc: Exception) -> errors.RegistryError:
    return errors.ManifestUnknown(
        'Glance image %s (%s) is not a docker save archive or a root file '
        'system tar that can be served (%s)'
        % (image['id'], image.get('name'), exc))
