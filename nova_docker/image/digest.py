"""Check image data against the hash Glance recorded for it."""

import hashlib
import time

from nova import exception
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def _new_hash(algo: str):
    # md5 is Glance's legacy checksum, not a security control here; say
    # so, or a FIPS-mode hashlib refuses it.
    return hashlib.new(algo, usedforsecurity=False)


class HashCheck:
    """Hashes data as it streams by and compares at the end.

    Glance's multihash (``os_hash_algo``/``os_hash_value``) is used when
    this host knows the algorithm, else the md5 ``checksum``.
    """

    def __init__(self, image_id: str, algo: str | None,
                 expected: str | None, size: int | None = None):
        self.image_id = image_id
        self.algo = algo
        self.expected = (expected or '').lower() or None
        self.size = size
        self.received = 0
        self._last_update = time.monotonic()
        self._hash = _new_hash(algo) if algo and self.expected else None

    @classmethod
    def for_image(cls, image: dict) -> 'HashCheck':
        """The check for a Glance image as nova's image API returns it."""
        image_id = image['id']
        size = image.get('size') or None
        algo, value = image.get('os_hash_algo'), image.get('os_hash_value')
        if algo and value:
            if algo in hashlib.algorithms_available:
                return cls(image_id, algo, value, size)
            LOG.warning('Image %s is hashed with %s, which this host does '
                        'not know; checking its md5 checksum instead',
                        image_id, algo)
        if image.get('checksum'):
            return cls(image_id, 'md5', image['checksum'], size)
        LOG.warning('Glance records no hash for image %s: its data is '
                    'loaded unverified', image_id)
        return cls(image_id, None, None, size)

    @property
    def complete(self) -> bool:
        """True once as many bytes as Glance's ``size`` went by."""
        return self.size is not None and self.received == self.size

    def idle(self) -> float:
        """Seconds since the last data arrived (or since the check was
        made): how long the download has been silent."""
        return time.monotonic() - self._last_update

    def update(self, chunk: bytes) -> None:
        self._last_update = time.monotonic()
        self.received += len(chunk)
        if self._hash is not None:
            self._hash.update(chunk)

    def verify(self) -> None:
        """ImageUnacceptable ("checksum mismatch") unless the data read so
        far is what Glance recorded."""
        if self._hash is None:
            return
        actual = self._hash.hexdigest()
        if actual != self.expected:
            raise exception.ImageUnacceptable(
                image_id=self.image_id,
                reason='checksum mismatch: Glance records %s %s but the %d '
                       'bytes read hash to %s. The data stored in Glance is '
                       'damaged: upload the image again'
                       % (self.algo, self.expected, self.received, actual))
