"""A least-recently-used cache bounded by bytes, with an optional time to
live: what the registry remembers between requests can't grow with what
tenants push or how many of them ask."""

import collections
import threading
import time


class BoundedCache:
    """``get``/``put`` by key; the oldest entries go first once the sizes
    given to ``put`` add up to more than ``max_bytes``. An entry larger
    than ``max_bytes`` is not kept at all."""

    def __init__(self, max_bytes: int, ttl: float | None = None,
                 clock=time.monotonic):
        self.max_bytes = max_bytes
        self._ttl = ttl
        self._clock = clock
        self._entries = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._bytes

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, size, expires = entry
            if expires is not None and expires <= self._clock():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key, value, size: int) -> None:
        expires = None if self._ttl is None else self._clock() + self._ttl
        with self._lock:
            if key in self._entries:
                self._drop(key)
            if size > self.max_bytes:
                return
            self._entries[key] = (value, size, expires)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _drop(self, key) -> None:
        _, size, _ = self._entries.pop(key)
        self._bytes -= size
