"""Follow a tar archive as it streams past, without holding it.

:class:`TarStream` is fed the archive in chunks cut anywhere and hands
back what to forward. Along the way it

* tells a ``docker save`` archive from a root file system tar by the
  name of the first member (:func:`classify`);
* reads ``manifest.json`` of a ``docker save`` archive, and may rewrite
  it without ``RepoTags`` so the engine never sees a user-chosen name;
* checks every header, so random bytes or a cut archive are refused
  with a precise reason;
* holds back the end-of-archive marker: the caller releases it with
  :meth:`TarStream.finish` only after the data has been verified, so the
  engine cannot complete an archive that turns out to be corrupt.

Member data passes through as the same ``bytes`` objects whenever a
chunk lies wholly inside one member: nothing is copied but headers and
the pieces of a chunk that straddles a member boundary.
"""

import json
import re
import tarfile
import tempfile
from collections.abc import Callable
from typing import IO

from nova_docker.archive import blobs
from nova_docker.archive import members
from nova_docker.archive import oci
from nova_docker.archive.members import MANIFEST
from nova_docker.archive.members import TarFormatError

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
# Two zero blocks end an archive; the engine's tar reader (Go's
# archive/tar) accepts them with or without further padding.
END_OF_ARCHIVE = bytes(2 * BLOCK)

DOCKER_SAVE = 'docker-save'
ROOTFS = 'rootfs'

# Bigger manifests or extension headers are not real: refuse rather than
# hold them in memory. It bounds all that is held at once, too.
MAX_METADATA = 1024 * 1024
# A member of a root file system tar may carry a pax header and GNU long
# name and link headers; more in front of one member is not a real tar.
MAX_EXTENSIONS = 3

_SAVE_NAMES = members.METADATA_NAMES
# Top-level members of a save archive: '<config digest>.json' and
# '<layer id>/' (Docker 20.10), '<digest>.tar' (podman/skopeo),
# 'blobs/' (OCI layout, Docker 25+).
_SAVE_TOP = re.compile(r'(?:[0-9a-f]{64}(?:\.json|\.tar)?|blobs)\Z')

PAX_TYPES = frozenset((tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE))
GNU_LONG_TYPES = frozenset((tarfile.GNUTYPE_LONGNAME,
                            tarfile.GNUTYPE_LONGLINK))

class ArchiveTooLarge(TarFormatError):
    """The archive unpacks to more than the caller allowed."""

    def __init__(self, limit: int):
        super().__init__('the image unpacks to more than %d bytes' % limit)
        self.limit = limit


def padding(size: int) -> int:
    """Bytes of zero padding after ``size`` bytes of member data."""
    return -size % BLOCK


def normalise(name: str) -> str:
    """``./a/b``, ``/a/b`` -> ``a/b``; ``./`` -> ``''``."""
    while name.startswith('./'):
        name = name[2:]
    name = name.lstrip('/')
    return '' if name == '.' else name


def classify(name: str) -> str:
    """DOCKER_SAVE or ROOTFS, from an archive's first member name."""
    top = name.split('/', 1)[0]
    if name in _SAVE_NAMES or _SAVE_TOP.match(top):
        return DOCKER_SAVE
    return ROOTFS


def parse_pax(data: bytes) -> dict[str, str]:
    """The ``key=value`` records of a pax extended header, read as strictly
    as Go's archive/tar reads them (each record ends in a newline)."""
    records = {}
    pos = 0
    while pos < len(data) and data[pos:pos + 1] != b'\0':
        length_end = data.find(b' ', pos)
        digits = data[pos:length_end] if length_end > pos else b''
        if not digits.isdigit():
            raise TarFormatError('malformed pax extended header')
        length = int(digits)
        record = data[length_end + 1:pos + length]
        key, sep, value = record[:-1].partition(b'=')
        if (length <= 0 or pos + length > len(data) or not sep or not key or
                not record.endswith(b'\n')):
            raise TarFormatError('malformed pax extended header')
        records[key.decode('utf-8', 'surrogateescape')] = value.decode(
            'utf-8', 'surrogateescape')
        pos += length
    return records


def without_repo_tags(manifest: list) -> list:
    """``manifest`` with every image's ``RepoTags`` emptied."""
    return [dict(entry, RepoTags=None) for entry in manifest]


def config_digests(manifest: list) -> list[str]:
    """``sha256:<hex>`` image ids named by the ``Config`` entries."""
    digests = []
    for entry in manifest:
        config = str(entry.get('Config') or '')
        hexpart = config.rsplit('/', 1)[-1]
        if hexpart.endswith('.json'):
            hexpart = hexpart[:-len('.json')]
        if re.fullmatch(r'[0-9a-f]{64}', hexpart):
            digests.append('sha256:' + hexpart)
    return digests


def _member_header(name: str, original: tarfile.TarInfo, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = original.mode or 0o644
    info.mtime = original.mtime
    return info.tobuf(tarfile.USTAR_FORMAT)


def _member(name: str, original: tarfile.TarInfo, data: bytes) -> list[bytes]:
    return [_member_header(name, original, len(data)),
            data + bytes(padding(len(data)))]


def _load_json(data: bytes, name: str):
    try:
        return json.loads(data)
    except ValueError:
        raise TarFormatError(
            '%s of the docker save archive is not JSON' % name) from None


class _Capture:
    """A small member (extension header or metadata) being collected."""

    def __init__(self, what: str, header: bytes, info: tarfile.TarInfo,
                 size: int, held: list[bytes]):
        self.what = what
        self.header = header
        self.info = info
        self.size = size
        self.left = size + padding(size)
        self.data = bytearray()
        self.held = held


class TarStream:
    """Checks (and optionally rewrites) a tar archive passing through.

    :param rewrite_manifest: forward a ``docker save`` archive in the
        classic form every engine loads, without a name of the user's: drop
        ``index.json``, ``oci-layout`` and ``repositories`` (a newer engine
        names images from the annotations of ``index.json``), and write
        ``manifest.json`` last, with ``RepoTags`` emptied - for an OCI
        layout, made from ``index.json`` (:func:`oci.resolve`).
    :param max_size: refuse (ArchiveTooLarge) an archive that unpacks to
        more than this many bytes: its own size, with compressed layers
        counted at their unpacked size as they stream.
    :param platform: the engine's :class:`oci.Platform`, to pick the image
        of a multi-platform index.
    :param engine_checks_diff_ids: the engine refuses a layer that does
        not unpack to the diff id its config records, leaving nothing: a
        compressed layer's unpacked data is then counted, not hashed. A
        callable is asked once, at the first compressed blob.
    :param spool: makes the file a zstd layer is unpacked into (see
        :class:`layers.BlobMeter`).
    :param held_layers: diff ids of the image's first layers that the
        engine holds, whose blobs an OCI layout may lack (see
        :func:`oci.resolve`).

    After the first member header, :attr:`kind` is DOCKER_SAVE or ROOTFS;
    once the archive ended (:meth:`finish`), :attr:`manifest` is the
    parsed ``manifest.json`` (for an OCI layout, the one made from
    ``index.json``). A docker save archive is held to
    :class:`members.SaveMembers`; its data members to
    :class:`blobs.SaveData` (digests, diff ids, unpacked size).
    """

    def __init__(self, rewrite_manifest: bool = False,
                 max_size: int | None = None,
                 platform: oci.Platform | None = None,
                 engine_checks_diff_ids: bool | Callable[[], bool] = False,
                 spool: Callable[[], IO[bytes]] = tempfile.TemporaryFile,
                 held_layers: tuple = ()):
        self.kind: str | None = None
        self._held_layers = tuple(held_layers)
        self.manifest: list | None = None
        self.members = 0
        self.size = 0
        self.ended = False
        self._rewrite = rewrite_manifest
        self._max_size = max_size
        self._platform = platform
        self._save_members = members.SaveMembers()
        self._engine_checks = engine_checks_diff_ids
        self._data = blobs.SaveData(
            max_size, hash_unpacked=lambda: not self._checks_diff_ids(),
            spool=spool)
        self._index: bytes | None = None
        # A blob's header waits until its compression is known: a zstd
        # layer goes to the engine unpacked, under a header of its own.
        self._pending: list[bytes] | None = None
        self._spooling = None
        self._manifest_info: tarfile.TarInfo | None = None
        self._header = bytearray()
        self._skip = 0
        self._capture: _Capture | None = None
        # Extension headers wait for the member they describe: if that
        # member is rewritten they are dropped, else forwarded with it.
        self._held: list[bytes] = []
        self._ext: dict[str, str] = {}

    def feed(self, chunk: bytes) -> list[bytes]:
        """The pieces of the archive to forward for ``chunk``: bytes, or
        a generator of bytes (a zstd layer, unpacked from its spool file
        as it is read)."""
        self.size += len(chunk)
        self._check_size()
        out: list[bytes] = []
        view = memoryview(chunk)
        pos, end = 0, len(chunk)
        while pos < end and not self.ended:
            if self._skip:
                take = min(self._skip, end - pos)
                meter = self._data.meter
                if meter is not None:
                    self._feed_data(view[pos:pos + take])
                whole = pos == 0 and take == end
                out.extend(self._route(
                    chunk if whole else bytes(view[pos:pos + take]), meter))
                self._skip -= take
                if not self._skip and self._spooling is not None:
                    out.append(self._unspooled(self._spooling))
                    self._spooling = None
            elif self._capture is not None:
                take = min(self._capture.left, end - pos)
                self._capture.data += view[pos:pos + take]
                self._capture.left -= take
                if not self._capture.left:
                    out.extend(self._captured())
            else:
                take = min(BLOCK - len(self._header), end - pos)
                self._header += view[pos:pos + take]
                if len(self._header) == BLOCK:
                    block = bytes(self._header)
                    self._header.clear()
                    out.extend(self._on_header(block))
            pos += take
        # Whatever follows the end-of-archive marker is padding the engine
        # does not need: it is dropped.
        return out

    def finish(self) -> bytes:
        """The end-of-archive marker to forward last; TarFormatError if the
        archive stopped inside a member or held no member at all."""
        if self._header or self._skip or self._capture is not None:
            raise TarFormatError(
                'the tar archive ends in the middle of member %d '
                '(the upload to Glance was probably cut short)'
                % (self.members + (0 if self._header else 1)))
        if not self.members:
            raise TarFormatError('the tar archive holds no file at all')
        if self._index is not None:
            self._resolve_index()
        if self._rewrite and self.manifest is not None:
            new = json.dumps(without_repo_tags(self.manifest)).encode()
            return b''.join(_member(MANIFEST, self._manifest_info, new) +
                            [END_OF_ARCHIVE])
        return END_OF_ARCHIVE

    def close(self) -> None:
        """Close the file of a zstd layer not yet sent (a load that
        stopped): it holds room in the spool directory until then."""
        for meter in (self._data.meter, self._spooling):
            if meter is not None and meter.spool is not None:
                meter.spool.close()

    def _checks_diff_ids(self) -> bool:
        if callable(self._engine_checks):
            self._engine_checks = bool(self._engine_checks())
        return self._engine_checks

    def _check_size(self) -> None:
        if (self._max_size is not None and
                self.size + self._data.extra > self._max_size):
            raise ArchiveTooLarge(self._max_size)

    def _feed_data(self, data: memoryview) -> None:
        try:
            self._data.feed(data)
        except blobs.TooLarge:
            raise ArchiveTooLarge(self._max_size) from None
        self._check_size()

    def _resolve_index(self) -> None:
        if self._data.outside is not None:
            raise TarFormatError(
                'member %r of the OCI image layout lies outside blobs/; '
                'the layout holds nothing else but its index.json, '
                'oci-layout and manifest.json' % self._data.outside)
        self.manifest = [oci.resolve(
            self._index, self._data.blobs, self._platform,
            engine_checks_diff_ids=self._checks_diff_ids,
            held=self._held_layers)]
        if self._manifest_info is None:
            self._manifest_info = tarfile.TarInfo(MANIFEST)

    # -- headers ---------------------------------------------------------

    def _on_header(self, block: bytes) -> list[bytes]:
        if block == ZERO_BLOCK:
            if not self.members:
                raise TarFormatError('the tar archive holds no file at all')
            self.ended = True
            return []
        info = self._parse(block)
        if info.type in PAX_TYPES or info.type in GNU_LONG_TYPES:
            if len(self._held) >= MAX_EXTENSIONS:
                raise TarFormatError(
                    'member %d has more than %d extension headers'
                    % (self.members + 1, MAX_EXTENSIONS))
            self._start_capture('extension', block, info, info.size)
            return []
        return self._on_member(block, info)

    def _parse(self, block: bytes) -> tarfile.TarInfo:
        try:
            return tarfile.TarInfo.frombuf(block, 'utf-8', 'surrogateescape')
        except tarfile.HeaderError as exc:
            where = ('it does not start with a tar header'
                     if not self.members else
                     'header %d is damaged' % (self.members + 1))
            raise TarFormatError(
                'not a tar archive (%s: %s)' % (where, exc)) from None

    def _on_member(self, block: bytes, info: tarfile.TarInfo) -> list[bytes]:
        raw_name = self._ext.pop('path', info.name)
        name = normalise(raw_name)
        size = info.size
        if 'size' in self._ext:
            size = int(self._ext.pop('size'))
        self._ext = {}
        self.members += 1
        held, self._held = self._held, []
        if self.kind is None and name:
            self.kind = classify(name)
        if info.type in members.HEADER_ONLY_TYPES and (
                self.kind != DOCKER_SAVE):
            size = 0
        if self.kind == DOCKER_SAVE:
            self._save_members.check(block, info, raw_name, size, len(held))
            if name in members.METADATA_NAMES:
                self._start_capture(name, block, info, size, held)
                return []
            self._data.member(name, info, size, self.size)
            if self._data.meter is not None and size:
                self._skip = size + padding(size)
                self._pending = held + [block]
                return []
        self._skip = size + padding(size)
        return held + [block]

    def _route(self, piece: bytes, meter) -> list:
        if self._spooling is not None:
            return []
        if self._pending is None:
            return [piece]
        self._pending.append(piece)
        if meter is None or meter.compression is None:
            return []
        pending, self._pending = self._pending, None
        if meter.compression != 'zstd':
            return pending
        self._spooling = meter
        return []

    @staticmethod
    def _unspooled(meter):
        """The member of a zstd blob, unpacked (a generator: read from
        its file piece by piece as the engine takes it)."""
        info = tarfile.TarInfo(meter.name)
        info.size = meter.plain
        info.mode = 0o444
        spool = meter.spool
        try:
            yield info.tobuf(tarfile.USTAR_FORMAT)
            spool.seek(0)
            while piece := spool.read(1024 * 1024):
                yield piece
            yield bytes(padding(meter.plain))
        finally:
            spool.close()

    # -- small members read whole ----------------------------------------

    def _start_capture(self, what: str, block: bytes, info: tarfile.TarInfo,
                       size: int, held: list[bytes] | None = None) -> None:
        held_bytes = sum(len(piece) for piece in self._held + (held or []))
        if size + held_bytes > MAX_METADATA:
            raise TarFormatError(
                'the tar archive has a %s of %d bytes; more than %d is not '
                'a real one' % (what, size + held_bytes, MAX_METADATA))
        self._capture = _Capture(what, block, info, size, held or [])

    def _captured(self) -> list[bytes]:
        capture, self._capture = self._capture, None
        data = bytes(capture.data[:capture.size])
        if capture.what == 'extension':
            self._on_extension(capture.info, data)
            self._held.append(capture.header + bytes(capture.data))
            return []
        original = capture.held + [capture.header, bytes(capture.data)]
        if capture.what == MANIFEST:
            return self._on_manifest(capture.info, data, original)
        if capture.what == members.OCI_INDEX:
            self._index = data
        # 'repositories' names images too, in the format before
        # manifest.json; an archive with a manifest does not need it. A
        # newer engine reads an archive with 'oci-layout' through
        # index.json and names images from its annotations: the engine
        # gets the classic form, manifest.json alone.
        return [] if self._rewrite else original

    def _on_extension(self, info: tarfile.TarInfo, data: bytes) -> None:
        if info.type == tarfile.GNUTYPE_LONGNAME:
            self._ext['path'] = data.rstrip(b'\0').decode(
                'utf-8', 'surrogateescape')
        elif info.type in (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE):
            records = parse_pax(data)
            if self.kind != ROOTFS:
                members.check_pax(records)
            self._ext.update({k: v for k, v in records.items()
                              if k in ('path', 'size')})

    def _on_manifest(self, info: tarfile.TarInfo, data: bytes,
                     original: list[bytes]) -> list[bytes]:
        manifest = _load_json(data, MANIFEST)
        if not isinstance(manifest, list) or not all(
                isinstance(entry, dict) for entry in manifest):
            raise TarFormatError('manifest.json of the docker save archive '
                                 'is not a list of images')
        self.manifest = manifest
        self._manifest_info = info
        # Rewritten, it goes last (finish): the engine reads it only once
        # the whole archive is unpacked, and by then the driver knows
        # whether an index.json describes the image instead.
        return [] if self._rewrite else original
