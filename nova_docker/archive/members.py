"""What a ``docker save`` archive may hold: one reading of every member.

The engine unpacks a ``docker save`` archive with Go's ``archive/tar``,
cleans every member's path, lets a later member win over an earlier one
of the same (cleaned) name, follows symlinks inside the archive and then
reads ``manifest.json``, whose ``RepoTags`` it applies with force. The
loader rewrites ``manifest.json`` without those tags, so the loader and
the engine must agree on which member *is* ``manifest.json``. Anything
two tar readers (or the loader and the engine's path cleaning) could read
differently is refused here rather than interpreted:

* names that are not canonical (``./``, ``..``, ``//``, absolute, control
  characters), and names that occur twice;
* members other than files, directories and symlinks (hard links, devices,
  global or sparse headers), and header-only members that claim data;
* symlinks named like an archive's metadata, pointing at it or out of the
  archive, and members whose path passes through a symlink;
* a ustar ``prefix`` field in a header that is not POSIX ustar (Python's
  ``tarfile`` prepends it, Go's reader does not), pax records that Go and
  Python read differently, and more than one extension header per member.

A root file system tar is data for the engine's import, which applies no
name from it: it gets only the checks that bound memory.
"""

import posixpath
import re
import tarfile


class TarFormatError(ValueError):
    """The data is not a (complete, unambiguous) tar archive; the message
    says why."""

MANIFEST = 'manifest.json'
REPOSITORIES = 'repositories'
OCI_INDEX = 'index.json'
OCI_LAYOUT = 'oci-layout'
METADATA_NAMES = frozenset((MANIFEST, REPOSITORIES, OCI_INDEX, OCI_LAYOUT))

# A docker save archive has about four members per layer, and the engine
# stacks at most 128 layers: far more members than this is not an image.
MAX_SAVE_MEMBERS = 10000

SAVE_TYPES = frozenset((tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE,
                        tarfile.SYMTYPE))
EXTENSION_TYPES = frozenset((tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                             tarfile.GNUTYPE_LONGLINK))
# Members whose size field says nothing about data that follows.
HEADER_ONLY_TYPES = frozenset((tarfile.LNKTYPE, tarfile.SYMTYPE,
                               tarfile.CHRTYPE, tarfile.BLKTYPE,
                               tarfile.DIRTYPE, tarfile.FIFOTYPE))

# Pax records either reader acts on; anything else both ignore.
_PAX_NAME_KEYS = frozenset(('path', 'linkpath'))
# hdrcharset makes Python re-decode names; GNU.sparse.* makes both readers
# rewrite name and size, each its own way.
_PAX_REFUSED = re.compile(r'hdrcharset\Z|GNU\.sparse\.')
_USTAR_POSIX_MAGIC = b'ustar\x0000'
_CONTROL = re.compile(r'[\x00-\x1f\x7f\\]')


def _refuse(what: str) -> TarFormatError:
    return TarFormatError(
        '%s; an archive written by `docker save` never has that, and the '
        'engine could read it differently from the driver' % what)


def check_canonical(name: str, is_dir: bool = False) -> None:
    """TarFormatError unless ``name`` is a clean relative path (a
    directory's may end in one ``/``)."""
    bare = name[:-1] if is_dir and name.endswith('/') else name
    if (not bare or bare.startswith('/') or _CONTROL.search(bare) or
            any(part in ('', '.', '..') for part in bare.split('/'))):
        raise _refuse('the member name %r is not a canonical path' % name)


def header_name_as_go_reads_it(block: bytes) -> str:
    """The name field of a raw header the way Go's archive/tar reads it:
    the ustar prefix counts only in a POSIX ustar (or pax) header."""
    name = block[0:100].split(b'\0', 1)[0]
    if block[257:265] == _USTAR_POSIX_MAGIC:
        prefix = block[345:500].split(b'\0', 1)[0]
        if prefix:
            name = prefix + b'/' + name
    return name.decode('utf-8', 'surrogateescape')


def check_pax(records: dict[str, str]) -> None:
    """Refuse pax records that Go's and Python's readers apply unlike."""
    for key, value in records.items():
        if _PAX_REFUSED.match(key):
            raise _refuse('a pax record %r' % key)
        if key == 'size' and not re.fullmatch(r'[0-9]{1,20}', value):
            raise _refuse('a pax size record %r' % value)
        if key in _PAX_NAME_KEYS and '\0' in value:
            raise _refuse('a pax %s with a NUL byte' % key)


class SaveMembers:
    """The members of one ``docker save`` archive, checked as they pass.

    Holds one entry per member name (bounded by MAX_SAVE_MEMBERS).
    """

    def __init__(self):
        self._names: set[str] = set()
        self._links: set[str] = set()

    def check(self, block: bytes, info: tarfile.TarInfo, name: str,
              size: int, extensions: int) -> None:
        """Refuse the member of raw header ``block``, parsed as ``info``,
        whose final name is ``name`` after ``extensions`` extension
        headers."""
        if extensions > 1:
            raise _refuse('member %r has %d extension headers'
                          % (name, extensions))
        go_name = header_name_as_go_reads_it(block)
        if not extensions and go_name.rstrip('/') != info.name.rstrip('/'):
            raise _refuse('the header of %r uses the ustar prefix field '
                          'outside a POSIX ustar header' % name)
        if info.type not in SAVE_TYPES:
            raise _refuse('member %r is of tar type %r' % (name, info.type))
        if info.type in HEADER_ONLY_TYPES and size:
            raise _refuse('member %r is a %s with %d bytes of data'
                          % (name, 'directory' if info.isdir() else 'link',
                             size))
        check_canonical(name, info.isdir())
        bare = name.rstrip('/')
        self._check_path(bare)
        if info.type == tarfile.SYMTYPE:
            self._check_link(bare, info.linkname)
            self._links.add(bare)

    def _check_path(self, bare: str) -> None:
        if bare in self._names:
            raise _refuse('member %r occurs twice' % bare)
        if len(self._names) >= MAX_SAVE_MEMBERS:
            raise _refuse('the archive has more than %d members'
                          % MAX_SAVE_MEMBERS)
        parts = bare.split('/')
        for depth in range(1, len(parts)):
            if '/'.join(parts[:depth]) in self._links:
                raise _refuse('member %r lies below a symlink' % bare)
        self._names.add(bare)

    def _check_link(self, bare: str, target: str) -> None:
        if posixpath.basename(bare) in METADATA_NAMES:
            raise _refuse('symlink %r is named like the archive\'s metadata'
                          % bare)
        resolved = posixpath.normpath(
            posixpath.join(posixpath.dirname(bare), target))
        if (target.startswith('/') or resolved == '.' or
                resolved.startswith('../') or resolved == '..' or
                _CONTROL.search(target)):
            raise _refuse('symlink %r points at %r, outside the archive'
                          % (bare, target))
        if resolved in METADATA_NAMES:
            raise _refuse('symlink %r points at the archive\'s %s'
                          % (bare, resolved))
