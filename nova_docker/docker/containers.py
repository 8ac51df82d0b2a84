"""Container endpoints."""

from __future__ import annotations

import contextlib
import json
from urllib.parse import quote

from nova_docker.docker import streams
from nova_docker.docker.connection import flag
from nova_docker.docker.connection import parse_version


def _path(container: str, action: str = '') -> str:
    # An id or a name; never a path of its own.
    return '/containers/%s%s' % (quote(container, safe=''), action)


class ContainersMixin:
    """``/containers/...`` and ``/commit``."""

    def list_containers(self, all: bool = True,
                        filters: dict | None = None) -> list[dict]:
        """``GET /containers/json``; ``filters`` like
        ``{"label": ["a=b"]}``, sent JSON-encoded."""
        params = {'all': flag(all)}
        if filters:
            params['filters'] = json.dumps(filters)
        return self._call('GET', '/containers/json', params=params)

    def create_container(self, body: dict, name: str | None = None) -> str:
        """``POST /containers/create``; returns the new container's id."""
        params = {'name': name} if name else None
        reply = self._call('POST', '/containers/create', params=params,
                           json=body)
        return reply['Id']

    def inspect_container(self, container: str, size: bool = False) -> dict:
        """``size``: also ``SizeRw`` (its writable layer) and
        ``SizeRootFs`` (that and its image), which the engine must count."""
        params = {'size': flag(True)} if size else None
        return self._call('GET', _path(container, '/json'), params=params)

    def start_container(self, container: str) -> None:
        """Start; a running container is left as it is (engine: 304)."""
        self._call('POST', _path(container, '/start'))

    def stop_container(self, container: str, timeout: int) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        self._call('POST', _path(container, '/stop'),
                   params={'t': int(timeout)},
                   timeout=timeout + self.read_timeout)

    def restart_container(self, container: str, timeout: int) -> None:
        """Stop (``timeout`` seconds of grace) and start again."""
        self._call('POST', _path(container, '/restart'),
                   params={'t': int(timeout)},
                   timeout=timeout + self.read_timeout)

    def kill_container(self, container: str, signal: str = 'SIGKILL'
                       ) -> None:
        """Send ``signal``; Conflict if the container is not running."""
        self._call('POST', _path(container, '/kill'),
                   params={'signal': signal})

    def pause_container(self, container: str) -> None:
        self._call('POST', _path(container, '/pause'))

    def unpause_container(self, container: str) -> None:
        self._call('POST', _path(container, '/unpause'))

    def remove_container(self, container: str, force: bool = False,
                         volumes: bool = True) -> None:
        self._call('DELETE', _path(container),
                   params={'force': flag(force), 'v': flag(volumes)})

    def container_logs(self, container: str, stdout: bool = True,
                       stderr: bool = True, tail: int | str = 'all',
                       timestamps: bool = False,
                       max_bytes: int | None = None) -> bytes:
        """The container's output so far, stdout and stderr interleaved
        in the order written; only its last ``max_bytes`` when given,
        without ever holding much more than that."""
        params = {'stdout': flag(stdout), 'stderr': flag(stderr),
                  'tail': str(tail), 'timestamps': flag(timestamps),
                  'follow': '0'}
        response = self._stream('GET', _path(container, '/logs'),
                                params=params)
        with contextlib.closing(response):
            chunks = streams.iter_chunks(response)
            if not self._logs_are_raw(response, container):
                chunks = streams.demux_payloads(chunks)
            if max_bytes is None:
                return b''.join(chunks)
            return streams.tail_bytes(chunks, max_bytes)

    def _logs_are_raw(self, response, container: str) -> bool:
        kind = streams.content_kind(response)
        if kind == 'multiplexed':
            return False
        # Before API 1.42 the engine labels multiplexed logs raw-stream,
        # or not at all (20.10): only the container's Tty setting tells.
        if kind == 'raw' and parse_version(self.api_version) >= (1, 42):
            return True
        return bool(self.inspect_container(container)['Config'].get('Tty'))

    def wait_container(self, container: str,
                       condition: str = 'not-running',
                       timeout: float | None = None) -> dict:
        """Block until ``condition``; returns ``{"StatusCode": ...}``.

        ``timeout`` bounds the wait (EngineTimeout); None waits as long
        as it takes.
        """
        return self._call('POST', _path(container, '/wait'),
                          params={'condition': condition}, timeout=timeout)

    def container_stats(self, container: str) -> dict:
        """One reading of the container's CPU, memory, pids and block I/O
        counters (``one-shot``: without the engine's second sample)."""
        return self._call('GET', _path(container, '/stats'),
                          params={'stream': flag(False),
                                  'one-shot': flag(True)})

    def update_container(self, container: str, body: dict) -> dict:
        """Change resource limits of a container, e.g. ``Memory``."""
        return self._call('POST', _path(container, '/update'), json=body)

    def commit_container(self, container: str, repo: str | None = None,
                         tag: str | None = None,
                         changes: list[str] | None = None,
                         comment: str | None = None,
                         pause: bool = True) -> str:
        """Make an image of the container; returns the image id.

        ``changes`` are Dockerfile instructions (``CMD``, ``ENV``, ...).
        """
        params = {'container': container, 'repo': repo, 'tag': tag,
                  'comment': comment, 'pause': flag(pause),
                  'changes': list(changes or [])}
        # An empty configuration: the container's own is kept (Docker
        # merges it in). Podman refuses a commit with no body at all
        # ("Decode(): EOF").
        reply = self._call('POST', '/commit', params=params, json={},
                           timeout=self.image_timeout)
        return reply['Id']
