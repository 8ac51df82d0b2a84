"""How long sending a request body may stall.

urllib3 applies a request's connect timeout to the socket until the whole
request is sent, and its read timeout only to the reply: a body that the
engine reads slowly (an image load while it writes layers to disk) would
be cut after ``connect_timeout`` seconds, not after the silence the call
allows. :class:`SendTimeoutMixin` gives the sending of a body the read
timeout of the call instead, set by the caller for its thread with
:func:`sending`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_local = threading.local()


@contextlib.contextmanager
def sending(timeout: float | None) -> Iterator[None]:
    """Requests this thread sends inside allow ``timeout`` seconds of
    silence per write of their body (None: no limit)."""
    previous = getattr(_local, 'timeout', _UNSET)
    _local.timeout = timeout
    try:
        yield
    finally:
        _local.timeout = previous


_UNSET = object()


class SendTimeoutMixin:
    """For urllib3 connection classes: each write of the request uses the
    timeout of the enclosing :func:`sending`, once connected."""

    def send(self, data) -> None:
        timeout = getattr(_local, 'timeout', _UNSET)
        if timeout is not _UNSET and self.sock is not None:
            self.sock.settimeout(timeout)
        super().send(data)
