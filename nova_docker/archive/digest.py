"""Digests of data streaming past: Glance's hash of an image, and the
sha256 of a blob and of what it unpacks to."""

import hashlib
import time
from collections.abc import Iterable


class DigestMismatch(ValueError):
    """The data does not hash to what was recorded for it."""

    def __init__(self, algo: str, expected: str, actual: str, size: int):
        super().__init__('%s %s recorded, but the %d bytes read hash to %s'
                         % (algo, expected, size, actual))
        self.algo = algo
        self.expected = expected
        self.actual = actual
        self.size = size


def new_hash(algo: str):
    """``hashlib`` object of ``algo``; md5 is Glance's legacy checksum,
    not a security control here: say so, or a FIPS-mode hashlib refuses
    it."""
    return hashlib.new(algo, usedforsecurity=False)


class StreamHash:
    """Hashes data as it streams by and compares at the end.

    :param algo: a ``hashlib`` name, or None to check nothing.
    :param expected: the hex digest the data must have.
    :param size: the number of bytes expected, if known.
    """

    def __init__(self, algo: str | None, expected: str | None,
                 size: int | None = None):
        self.algo = algo
        self.expected = (expected or '').lower() or None
        self.size = size
        self.received = 0
        self._last_update = time.monotonic()
        self._hash = new_hash(algo) if algo and self.expected else None

    @property
    def complete(self) -> bool:
        """True once as many bytes as ``size`` went by."""
        return self.size is not None and self.received == self.size

    def idle(self) -> float:
        """Seconds since the last data arrived (or since the check was
        made)."""
        return time.monotonic() - self._last_update

    def update(self, chunk: bytes) -> None:
        self._last_update = time.monotonic()
        self.received += len(chunk)
        if self._hash is not None:
            self._hash.update(chunk)

    def check(self) -> None:
        """DigestMismatch unless the data read so far hashes to
        ``expected`` (nothing to check without an algorithm)."""
        if self._hash is None:
            return
        actual = self._hash.hexdigest()
        if actual != self.expected:
            raise DigestMismatch(self.algo, self.expected, actual,
                                 self.received)


def sha256_of(chunks: Iterable[bytes]) -> str:
    """``sha256:<hex>`` of all of ``chunks``."""
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(chunk)
    return 'sha256:' + sha.hexdigest()
