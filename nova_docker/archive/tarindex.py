"""The members of a tar archive that can be read at any offset, found
without reading their data.

The registry serves the config and layers of a ``docker save`` archive
in Glance by their offsets: it reads every header (a block each) and
skips the data. Python's ``tarfile`` would do that too, but holds a pax
or GNU long-name header whole whatever its size, and any number of
members: this reader holds one extension header of at most
:data:`tarstream.MAX_METADATA` bytes and lists at most
:data:`members.MAX_SAVE_MEMBERS` members.
"""

import dataclasses
import io
import tarfile
from collections.abc import Iterator

from nova_docker.archive import members
from nova_docker.archive import tarstream
from nova_docker.archive.members import TarFormatError

BLOCK = tarstream.BLOCK


@dataclasses.dataclass(frozen=True)
class Member:
    """One member: its normalised name and where its data is."""

    name: str
    type: bytes
    offset_data: int
    size: int
    linkname: str

    def issym(self) -> bool:
        return self.type == tarfile.SYMTYPE


def _read_exactly(fileobj, offset: int, size: int) -> bytes:
    fileobj.seek(offset)
    data = bytearray()
    while len(data) < size:
        piece = fileobj.read(size - len(data))
        if not piece:
            raise TarFormatError('the tar archive ends at byte %d, inside '
                                 'a member' % (offset + len(data)))
        data += piece
    return bytes(data)


class _Walk:
    """State of one pass over the headers."""

    def __init__(self, fileobj, max_members: int):
        self.fileobj = fileobj
        self.size = fileobj.seek(0, io.SEEK_END)
        self.max_members = max_members
        self.pos = 0
        self.count = 0
        self.ext: dict[str, str] = {}
        self.extensions = 0

    def header(self) -> tarfile.TarInfo | None:
        if self.pos == self.size:
            # The end of the data at a header: an archive without its
            # end-of-archive blocks, which tar readers take too.
            return None
        if self.pos > self.size:
            raise TarFormatError('the tar archive ends at byte %d, inside '
                                 'member %d' % (self.size, self.count))
        block = _read_exactly(self.fileobj, self.pos, BLOCK)
        if block == tarstream.ZERO_BLOCK:
            return None
        try:
            return tarfile.TarInfo.frombuf(block, 'utf-8', 'surrogateescape')
        except tarfile.HeaderError as exc:
            raise TarFormatError('header at byte %d is damaged: %s'
                                 % (self.pos, exc)) from None

    def extension(self, info: tarfile.TarInfo) -> None:
        self.extensions += 1
        if self.extensions > tarstream.MAX_EXTENSIONS:
            raise TarFormatError('member %d has more than %d extension '
                                 'headers' % (self.count + 1,
                                              tarstream.MAX_EXTENSIONS))
        if info.size > tarstream.MAX_METADATA:
            raise TarFormatError(
                'the tar archive has an extension header of %d bytes; more '
                'than %d is not a real one'
                % (info.size, tarstream.MAX_METADATA))
        data = _read_exactly(self.fileobj, self.pos + BLOCK, info.size)
        if info.type == tarfile.GNUTYPE_LONGNAME:
            self.ext['path'] = data.rstrip(b'\0').decode(
                'utf-8', 'surrogateescape')
        elif info.type == tarfile.GNUTYPE_LONGLINK:
            self.ext['linkpath'] = data.rstrip(b'\0').decode(
                'utf-8', 'surrogateescape')
        else:
            records = tarstream.parse_pax(data)
            members.check_pax(records)
            self.ext.update({k: v for k, v in records.items()
                             if k in ('path', 'linkpath', 'size')})
        self.pos += BLOCK + info.size + tarstream.padding(info.size)

    def member(self, info: tarfile.TarInfo) -> Member:
        self.count += 1
        if self.count > self.max_members:
            raise TarFormatError('the tar archive has more than %d members'
                                 % self.max_members)
        size = int(self.ext.get('size', info.size))
        if info.type in members.HEADER_ONLY_TYPES:
            size = 0
        found = Member(tarstream.normalise(self.ext.get('path', info.name)),
                       info.type, self.pos + BLOCK, size,
                       self.ext.get('linkpath', info.linkname))
        self.ext, self.extensions = {}, 0
        self.pos += BLOCK + size + tarstream.padding(size)
        return found


def walk(fileobj, max_members: int = members.MAX_SAVE_MEMBERS
         ) -> Iterator[Member]:
    """The members of seekable ``fileobj``, in order; TarFormatError for
    a damaged or cut archive, an extension header over MAX_METADATA, or
    more than ``max_members`` members."""
    state = _Walk(fileobj, max_members)
    while True:
        info = state.header()
        if info is None:
            if state.ext or state.extensions:
                raise TarFormatError('the tar archive ends after an '
                                     'extension header')
            return
        if info.type in tarstream.PAX_TYPES or (
                info.type in tarstream.GNU_LONG_TYPES):
            state.extension(info)
        else:
            yield state.member(info)
