"""Check image data against the hash Glance recorded for it."""

import hashlib

from nova import exception
from oslo_log import log as logging

from nova_docker.archive import digest

LOG = logging.getLogger(__name__)


class HashCheck(digest.StreamHash):
    """Hashes data as it streams by and compares at the end.

    Glance's multihash (``os_hash_algo``/``os_hash_value``) is used when
    this host knows the algorithm, else the md5 ``checksum``.
    """

    def __init__(self, image_id: str, algo: str | None,
                 expected: str | None, size: int | None = None):
        super().__init__(algo, expected, size)
        self.image_id = image_id

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

    def verify(self) -> None:
        """ImageUnacceptable ("checksum mismatch") unless the data read so
        far is what Glance recorded."""
        try:
            self.check()
        except digest.DigestMismatch as exc:
            raise exception.ImageUnacceptable(
                image_id=self.image_id,
                reason='checksum mismatch: Glance records %s %s but the %d '
                       'bytes read hash to %s. The data stored in Glance is '
                       'damaged: upload the image again'
                       % (exc.algo, exc.expected, exc.size,
                          exc.actual)) from None
