"""The data members of a ``docker save`` archive, metered one by one.

:class:`SaveData` follows the members whose data passes through a
:class:`~nova_docker.archive.tarstream.TarStream`: each gets a
:class:`~nova_docker.archive.layers.BlobMeter`, a member under ``blobs/``
must be named ``blobs/sha256/<hex>`` and hash to that name, and what each
blob held is recorded for :func:`nova_docker.archive.oci.resolve`. The
unpacked size of compressed members is counted against the archive's
bound as it streams.
"""

import contextlib
import tarfile
import tempfile
from collections.abc import Callable
from typing import IO

from nova_docker.archive import background
from nova_docker.archive import compression
from nova_docker.archive import layers
from nova_docker.archive import members
from nova_docker.archive import oci
from nova_docker.archive.members import TarFormatError

# Members smaller than this are measured in the sending thread.
BACKGROUND_MIN = 4 * 1024 * 1024
# All the JSON blobs of one archive (manifests, indexes, configs) held
# together for the end of the archive: more is not an image.
MAX_JSON_TOTAL = 8 * 1024 * 1024
_OCI_NAMES = frozenset((members.MANIFEST, members.REPOSITORIES,
                        members.OCI_INDEX, members.OCI_LAYOUT))


class TooLarge(TarFormatError):
    """The members unpack to more than the archive's bound."""


class SaveData:
    """The data members of one ``docker save`` archive.

    :param max_size: the archive's bound on what the engine unpacks.
    :param hash_unpacked, spool: see :class:`layers.BlobMeter`.
    """

    def __init__(self, max_size: int | None = None,
                 hash_unpacked: bool | Callable[[], bool] = True,
                 spool: Callable[[], IO[bytes]] = tempfile.TemporaryFile):
        self.blobs: dict[str, oci.Blob] = {}
        # Bytes compressed members unpack to beyond their own size.
        self.extra = 0
        self.outside: str | None = None
        self._max_size = max_size
        self._meter_options = {'hash_unpacked': hash_unpacked,
                               'spool': spool}
        self._json = 0
        self.meter: layers.BlobMeter | None = None
        self._left = 0
        self._behind: background.Background | None = None

    def member(self, name: str, info: tarfile.TarInfo, size: int,
               archive_size: int) -> None:
        """A member named ``name`` starts; ``archive_size`` bytes of the
        archive went by."""
        bare = name.rstrip('/')
        is_blob = bare.split('/', 1)[0] == oci.BLOBS
        if is_blob:
            self._check_blob_name(bare, info)
        elif bare not in _OCI_NAMES and self.outside is None:
            self.outside = bare
        if not info.isreg() or not (size or is_blob):
            return
        budget = None
        if self._max_size is not None:
            budget = self._max_size - archive_size - self.extra + size
        self.meter = layers.BlobMeter(bare, size, max_size=budget,
                                      hashed=is_blob, **self._meter_options)
        self._left = size
        if not size:
            self.feed(b'')

    def feed(self, data) -> None:
        """The next piece of the member's data (and padding after it)."""
        meter = self.meter
        take = data[:self._left] if len(data) > self._left else data
        self._left -= len(take)
        with self._bounds(meter):
            if self._behind is not None:
                self._behind.feed(take)
            else:
                meter.feed(take)
                self._maybe_behind(meter)
            if not self._left:
                if self._behind is not None:
                    self._behind.close()
                self.meter = self._behind = None
                self._done(meter)

    def _maybe_behind(self, meter: layers.BlobMeter) -> None:
        # Once its compression is known (the stream needs it to route the
        # member), a large gzip or hashed plain member is measured behind
        # the send; zstd stays here (its spool is read at the member's
        # end), as does a classic plain member (nothing to measure).
        worth = meter.compression == layers.GZIP or (
            meter.hashed and meter.compression == layers.PLAIN)
        if self._left >= BACKGROUND_MIN and worth:
            self._behind = background.Background(meter)

    @staticmethod
    @contextlib.contextmanager
    def _bounds(meter: layers.BlobMeter):
        try:
            yield
        except compression.UnpacksTooLarge as exc:
            if meter.max_size is not None and exc.plain > meter.max_size:
                raise TooLarge(str(exc)) from None
            raise

    def _check_blob_name(self, bare: str, info: tarfile.TarInfo) -> None:
        if info.isdir() and bare in oci.BLOB_DIRS:
            return
        if not info.isreg() or not oci.BLOB_NAME.match(bare):
            raise TarFormatError(
                'member %r lies under blobs/ but is not a file named '
                'blobs/sha256/<64 hex digits>; an OCI image layout holds '
                'nothing else there' % bare)

    def _done(self, meter: layers.BlobMeter) -> None:
        if meter.compression != layers.PLAIN:
            self.extra += meter.plain - meter.size
        if meter.digest is None:
            return
        named = 'sha256:' + oci.BLOB_NAME.match(meter.name).group(1)
        if meter.digest != named:
            raise TarFormatError(
                'the blob %s does not hash to its name (its %d bytes hash '
                'to %s): the archive is corrupt or was altered'
                % (meter.name, meter.size, meter.digest))
        if meter.json is not None:
            self._json += len(meter.json)
            if self._json > MAX_JSON_TOTAL:
                raise TarFormatError(
                    'the archive holds more than %d bytes of small blobs; '
                    'that is not one image' % MAX_JSON_TOTAL)
        self.blobs[named] = oci.Blob(meter.size, meter.compression,
                                     meter.diff_id, meter.json)
