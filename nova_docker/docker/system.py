"""System endpoints: ping, version, info, events."""

from __future__ import annotations

import datetime
import json

from nova_docker.docker import errors
from nova_docker.docker import streams


def _timestamp(value: int | float | str | datetime.datetime) -> str:
    # The engine parses 'seconds[.fraction]'; str() of a float may use
    # exponent notation, which it does not.
    if isinstance(value, datetime.datetime):
        value = value.timestamp()
    if isinstance(value, float):
        return '%.9f' % value
    return str(value)


class SystemMixin:
    """``/_ping``, ``/version``, ``/info`` and ``/events``."""

    def ping(self) -> bool:
        """True if the engine answers ``GET /_ping`` with OK, False if it
        answers with an error; EngineUnreachable if it does not answer."""
        try:
            self._call('GET', '/_ping', versioned=False)
        except errors.APIError:
            return False
        return True

    def version(self) -> dict:
        """The engine's ``GET /version`` reply (asked afresh each call)."""
        engine = self._call('GET', '/version', versioned=False)
        if self._api_version is None:
            self._negotiate(engine)
        return engine

    def info(self) -> dict:
        """``GET /info``: host resources, storage driver, counts."""
        return self._call('GET', '/info')

    def events(self, since=None, until=None,
               filters: dict | None = None,
               timeout: float | None = None) -> streams.Stream:
        """Engine events as decoded dicts, as they happen.

        Iterate the returned stream; ``close()`` it (from any thread) to
        stop. Without ``until`` it never ends by itself. ``timeout`` is
        the read timeout (None: none): a quiet engine sends nothing for
        hours, so a caller that sets one must expect EngineTimeout in
        the iteration and open the stream again.
        """
        params = {}
        if since is not None:
            params['since'] = _timestamp(since)
        if until is not None:
            params['until'] = _timestamp(until)
        if filters:
            params['filters'] = json.dumps(filters)
        response = self._stream('GET', '/events', params=params,
                                timeout=timeout)
        return streams.Stream(response, streams.json_lines(response))
