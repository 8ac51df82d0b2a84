"""The registry's records on Glance images, and the seal that makes them
the registry's.

The registry keeps what it knows in ``nova_docker_*`` properties of the
Glance images it writes (a blob's digest, a tag's manifest, what replaced
a tag). Any owner of an image may set any property on it, so a property
proves nothing: a tenant could name another project's private manifest
on an image of his own and pull it. Each image the registry writes
therefore carries :data:`SEAL`, an HMAC under a key only the registry
processes (and ``nova-docker-registry-prune``) hold, over the image's id,
its owner and every record key. An image whose seal does not verify is
treated as one the registry never wrote: its records are dropped before
anything reads them, and it can only be served from its own data as any
uploaded image is.

Binding the id stops a sealed record from being copied onto another
image (Nova snapshots copy properties from the image a server booted
from); binding the owner stops one project's record from serving in
another's.
"""

import hashlib
import hmac
import json

BLOB = 'nova_docker_blob'
DIFF_ID = 'nova_docker_diff_id'
DIFF_SIZE = 'nova_docker_diff_size'
MEDIA_TYPE = 'nova_docker_media_type'
REPOSITORY = 'nova_docker_repository'
MANIFEST = 'nova_docker_manifest'
REPLACED_BY = 'nova_docker_replaced_by'
REPLACED_TAG = 'nova_docker_replaced_tag'
SEAL = 'nova_docker_seal'
KEYS = (BLOB, DIFF_ID, DIFF_SIZE, MEDIA_TYPE, REPOSITORY, MANIFEST,
        REPLACED_BY, REPLACED_TAG)
PREFIX = 'nova_docker_'
_VERSION = 'v1:'
MIN_KEY_LENGTH = 32


class Sealer:
    """Seals and checks the records of images under one secret key."""

    def __init__(self, key: str):
        if not key or len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                'the registry needs [registry] record_key: a random secret '
                'of at least %d characters, the same for every registry '
                'process and nova-docker-registry-prune (e.g. the output '
                'of "openssl rand -hex 32")' % MIN_KEY_LENGTH)
        self._key = key.encode()

    def seal(self, image_id: str, owner: str | None, records: dict) -> str:
        """The seal of ``records`` (record key -> value) on one image."""
        message = json.dumps(
            [image_id, owner, {k: str(records[k]) for k in KEYS
                               if records.get(k) is not None}],
            sort_keys=True, separators=(',', ':')).encode()
        return _VERSION + hmac.new(self._key, message,
                                   hashlib.sha256).hexdigest()

    def sealed(self, image_id: str, owner: str | None, **records) -> dict:
        """``records`` with their seal, ready to be image properties."""
        return dict(records, **{SEAL: self.seal(image_id, owner, records)})

    def verified(self, image: dict) -> bool:
        """Did this registry write every record on ``image``?"""
        found = image.get(SEAL)
        if not isinstance(found, str):
            return False
        expected = self.seal(image.get('id'), image.get('owner'), image)
        return hmac.compare_digest(found, expected)

    def trusted(self, image: dict) -> dict:
        """``image`` as the registry may believe it: unchanged when its
        seal verifies, else without any record (a copy)."""
        if not has_records(image) or self.verified(image):
            return image
        return {key: value for key, value in image.items()
                if not key.startswith(PREFIX)}


def has_records(image: dict) -> bool:
    return any(key.startswith(PREFIX) for key in image)


def records_of(image: dict) -> dict:
    """The record keys an image carries, whoever set them."""
    return {key: image[key] for key in KEYS if image.get(key) is not None}
