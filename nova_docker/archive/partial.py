"""A ``docker save`` stream without the data of layers the receiver holds.

A migration's transfer image (:mod:`nova_docker.migration`) is the save
of the committed workload: its Glance base image's layers plus one
layer on top. A target whose engine already holds the base, and whose
load looks every layer up by its chain id before it reads the layer's
file (Docker's classic image store), needs only the top layer's data.
:class:`LayerFilter` drops the base layers' data as the save streams
past, keeping every other member (configs, manifests, the layer
metadata) so the target's load still names and checks the image.

Which members are the base's data, by the layouts Docker writes:

* Docker 25 and later (an OCI layout): an uncompressed layer is the blob
  ``blobs/sha256/<diff id>``, so a blob named after a held diff id is
  dropped.
* Docker 20.10: ``<v1 id>/layer.tar``, the ``<v1 id>/json`` before it in
  the archive. Every layer's json but the image's top one has the
  creation time ``1970-01-01T00:00:00Z``; with exactly one layer on top
  of the base (checked by the caller before the save), those are the
  base's layers.

Whatever is dropped is hashed on the way: at the end the dropped data
must be exactly the held layers, once each (:meth:`LayerFilter.finish`
raises :class:`Mismatch` otherwise, and the caller sends the whole
archive instead). A layout the filter does not know drops nothing and
fails the same check.
"""

import hashlib
import json
import re
import tarfile

from nova_docker.archive.members import TarFormatError
from nova_docker.archive import tarstream

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
# A layer's v1 json (Docker 20.10) is a few hundred bytes to a few KB.
MAX_JSON = 1024 * 1024
# The creation time Docker 20.10's save gives every layer but the top.
EPOCH = '1970-01-01T00:00:00Z'
EXTENSION_TYPES = frozenset((tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                             tarfile.GNUTYPE_LONGLINK))
HEADER_ONLY_TYPES = frozenset((tarfile.LNKTYPE, tarfile.SYMTYPE,
                               tarfile.CHRTYPE, tarfile.BLKTYPE,
                               tarfile.DIRTYPE, tarfile.FIFOTYPE))

_BLOB = re.compile(r'blobs/sha256/([0-9a-f]{64})\Z')
_V1_JSON = re.compile(r'([0-9a-f]{64})/json\Z')
_V1_LAYER = re.compile(r'([0-9a-f]{64})/layer\.tar\Z')


class Mismatch(ValueError):
    """The save did not hold the held layers as expected: its data was
    not dropped as it should be, and the archive must go whole."""


def padding(size: int) -> int:
    return -size % BLOCK


class _Member:
    """The member whose data is passing: dropped or not, hashed if
    dropped, captured if it is a v1 json."""

    def __init__(self, name: str, size: int, drop: bool, capture: bool):
        self.name = name
        self.left = size + padding(size)
        self.data_left = size
        self.drop = drop
        self.hash = hashlib.sha256() if drop else None
        self.captured = bytearray() if capture else None


class LayerFilter:
    """Feeds on a ``docker save`` tar cut anywhere, hands back what to
    send on: everything but the data of the layers whose diff ids are
    ``held``.

    :param held: ``sha256:<hex>`` diff ids of the layers the receiver
        holds (its base image's ``RootFS.Layers``).
    """

    def __init__(self, held):
        self.held = frozenset(held)
        self.dropped: dict[str, int] = {}
        self.dropped_bytes = 0
        self.ended = False
        self._header = bytearray()
        self._extensions: list[bytes] = []
        self._ext_left = 0
        self._ext_path: str | None = None
        self._ext_type = None
        self._ext_size = 0
        self._ext_size_override: int | None = None
        self._member: _Member | None = None
        self._epoch_dirs: set[str] = set()
        self._links = False

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        view = memoryview(chunk)
        pos, end = 0, len(chunk)
        while pos < end:
            if self.ended:
                out.append(bytes(view[pos:]))
                break
            if self._ext_left:
                take = min(self._ext_left, end - pos)
                self._extensions[-1] += view[pos:pos + take]
                self._ext_left -= take
                if not self._ext_left:
                    self._on_extension_end()
            elif self._member is not None:
                take = min(self._member.left, end - pos)
                out.extend(self._data(view[pos:pos + take],
                                      whole=(pos == 0 and take == end)))
            else:
                take = min(BLOCK - len(self._header), end - pos)
                self._header += view[pos:pos + take]
                if len(self._header) == BLOCK:
                    out.extend(self._on_header(bytes(self._header)))
                    self._header.clear()
            pos += take
        return out

    def finish(self) -> None:
        """Mismatch unless the whole archive went by and exactly the held
        layers were dropped, each once."""
        if not self.ended or self._member is not None:
            raise Mismatch('the save stream ended inside the archive')
        if self._links:
            raise Mismatch('the save holds a layer as a link to another')
        if set(self.dropped) != self.held or any(
                count != 1 for count in self.dropped.values()):
            raise Mismatch(
                'the save held the layers %s where the receiver holds %s'
                % (sorted(self.dropped), sorted(self.held)))

    # -- members ----------------------------------------------------------

    def _on_header(self, block: bytes) -> list[bytes]:
        if block == ZERO_BLOCK:
            self.ended = True
            held, self._extensions = self._extensions, []
            return held + [block]
        try:
            info = tarfile.TarInfo.frombuf(block, 'utf-8', 'surrogateescape')
        except tarfile.HeaderError as exc:
            raise TarFormatError('the engine\'s save stream has a damaged '
                                 'tar header: %s' % exc) from None
        if info.type in EXTENSION_TYPES:
            if len(self._extensions) >= 3 or info.size > MAX_JSON:
                raise TarFormatError('the engine\'s save stream has '
                                     'oversized extension headers')
            self._extensions.append(bytearray(block))
            self._ext_left = info.size + padding(info.size)
            self._ext_type = info.type
            self._ext_size = info.size
            if not self._ext_left:
                self._on_extension_end()
            return []
        return self._on_member(block, info)

    def _on_extension_end(self) -> None:
        data = bytes(self._extensions[-1][BLOCK:BLOCK + self._ext_size])
        if self._ext_type == tarfile.GNUTYPE_LONGNAME:
            self._ext_path = data.rstrip(b'\0').decode('utf-8',
                                                       'surrogateescape')
        elif self._ext_type == tarfile.XHDTYPE:
            records = tarstream.parse_pax(data)
            self._ext_path = records.get('path', self._ext_path)
            if records.get('size', '').isdigit():
                self._ext_size_override = int(records['size'])

    def _on_member(self, block: bytes, info: tarfile.TarInfo) -> list[bytes]:
        name = self._ext_path or info.name
        size = (info.size if self._ext_size_override is None
                else self._ext_size_override)
        self._ext_path = self._ext_size_override = None
        extensions, self._extensions = self._extensions, []
        if info.type in HEADER_ONLY_TYPES:
            size = 0
            if (info.issym() or info.islnk()) and (
                    _V1_LAYER.match(name) or _BLOB.match(name)):
                # A layer saved once and linked where it occurs again.
                self._links = True
        drop = info.isreg() and self._drops(name)
        capture = bool(info.isreg() and _V1_JSON.match(name) and
                       size <= MAX_JSON)
        member = _Member(name, size, drop, capture)
        if member.left:
            self._member = member
        elif drop:
            self._count(member)
        if drop:
            return []
        return [bytes(e) for e in extensions] + [block]

    def _drops(self, name: str) -> bool:
        blob = _BLOB.match(name)
        if blob:
            return 'sha256:' + blob.group(1) in self.held
        layer = _V1_LAYER.match(name)
        return bool(self.held and layer and
                    layer.group(1) in self._epoch_dirs)

    def _data(self, piece: memoryview, whole: bool) -> list[bytes]:
        member = self._member
        member.left -= len(piece)
        data = piece[:member.data_left]
        member.data_left -= len(data)
        if member.hash is not None:
            member.hash.update(data)
        if member.captured is not None:
            member.captured += data
        if not member.left:
            self._member = None
            self._done(member)
        if member.drop:
            self.dropped_bytes += len(piece)
            return []
        return [piece.obj if whole else bytes(piece)]

    def _done(self, member: _Member) -> None:
        if member.drop:
            self._count(member)
        elif member.captured is not None:
            self._on_v1_json(member.name, bytes(member.captured))

    def _count(self, member: _Member) -> None:
        digest = 'sha256:' + (member.hash or hashlib.sha256()).hexdigest()
        self.dropped[digest] = self.dropped.get(digest, 0) + 1

    def _on_v1_json(self, name: str, data: bytes) -> None:
        try:
            created = json.loads(data).get('created')
        except (ValueError, AttributeError):
            return
        if created == EPOCH:
            self._epoch_dirs.add(_V1_JSON.match(name).group(1))


def on_top(base, image) -> bool:
    """Whether the diff ids ``image`` are those of ``base`` plus one
    layer, each layer once: the one shape :class:`LayerFilter` is sure
    to read right in every layout (Docker 20.10 dates every layer but the
    top at the epoch; a layer that occurs twice is saved once and linked).
    """
    base, image = list(base), list(image)
    return (bool(base) and len(image) == len(base) + 1 and
            image[:-1] == base and len(set(image)) == len(image))


def filtered(chunks, layer_filter: LayerFilter):
    """The chunks of a save stream through ``layer_filter``, its finish
    checked after the last."""
    for chunk in chunks:
        yield from layer_filter.feed(chunk)
    layer_filter.finish()
