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


# Podman's compat API names the removal of a container 'remove'; Docker
# (and every caller) says 'destroy'. Docker has no container 'remove'.
_CONTAINER_ACTIONS = {'remove': 'destroy'}


def event(raw: dict) -> dict:
    """One ``/events`` item in the dialect of current Docker (API 1.52):
    ``Type``, ``Action`` and ``Actor`` always.

    Engines before API 1.22 sent only ``status``, ``id`` and ``from``;
    1.22 to 1.51 send both forms; 1.52 dropped the old one. Podman's
    container actions are Docker's names.
    """
    actor = dict(raw.get('Actor') or {})
    actor.setdefault('ID', raw.get('id', ''))
    actor['Attributes'] = dict(actor.get('Attributes') or {})
    if raw.get('from') and 'image' not in actor['Attributes']:
        actor['Attributes']['image'] = raw['from']
    kind = raw.get('Type') or 'container'
    action = raw.get('Action') or raw.get('status') or ''
    if kind == 'container':
        action = _CONTAINER_ACTIONS.get(action, action)
    return dict(raw, Type=kind, Action=action, Actor=actor)


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
        """Engine events as decoded dicts (see :func:`event`), as they
        happen.

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
        return streams.Stream(response, map(event,
                                            streams.json_lines(response)))
