"""Image endpoints."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import IO
from urllib.parse import quote

from nova_docker.docker import streams
from nova_docker.docker.connection import flag
from nova_docker.docker.load_reply import LoadResult
from nova_docker.docker import references

# Bytes, an open file, or any iterable of bytes (e.g. a Glance download),
# which is sent with chunked transfer and never held in memory whole.
Body = bytes | IO[bytes] | Iterable[bytes]

TAR = {'Content-Type': 'application/x-tar'}

SAVE_CHUNK_SIZE = 1024 * 1024


def _path(name: str, action: str = '') -> str:
    # Image references carry '/', ':' and '@' (registry/repo:tag@digest),
    # which the engine's routes take as they are.
    return '/images/%s%s' % (quote(name, safe='/:@'), action)


def _body(data: Body) -> Body:
    # requests form-encodes lists and tuples; make them a plain iterator
    # so they are streamed as the body.
    if isinstance(data, (list, tuple)):
        return iter(data)
    return data


def registry_auth(auth: dict | None) -> str:
    """The X-Registry-Auth header: base64url of the JSON credentials.

    The engine refuses a push without it, so no credentials are ``{}``.
    """
    raw = json.dumps(auth or {}).encode('utf-8')
    return base64.urlsafe_b64encode(raw).decode('ascii')


class ImagesMixin:
    """``/images/...``."""

    def inspect_image(self, name: str) -> dict:
        """``GET /images/{name}/json``; names in Docker's form (see
        :mod:`.references`)."""
        return references.familiar_tags(
            self._call('GET', _path(name, '/json')))

    def list_images(self, filters: dict | None = None) -> list[dict]:
        """``GET /images/json``; names in Docker's form."""
        params = {'filters': json.dumps(filters)} if filters else None
        return [references.familiar_tags(image) for image in
                self._call('GET', '/images/json', params=params)]

    def _json_lines(self, method: str, path: str, **kwargs) -> list:
        response = self._stream(method, path, timeout=self.image_timeout,
                                **kwargs)
        return list(streams.json_lines(response))

    def load_image(self, data: Body) -> LoadResult:
        """``POST /images/load`` of a ``docker save`` tar (gzip works too).

        Returns what was loaded and which names were applied or taken
        from other images (read from the engine's reply). StreamError if
        the engine rejects the tar (it says so in an HTTP 200 reply). An
        exception raised by an iterable ``data`` propagates as it is; the
        engine then sees a truncated upload.
        """
        return LoadResult.from_lines(self._json_lines(
            'POST', '/images/load', data=_body(data), headers=TAR))

    def save_image(self, names: str | list[str],
                   chunk_size: int | None = SAVE_CHUNK_SIZE
                   ) -> streams.Stream:
        """A ``docker save`` tar of one or more images, in chunks of at
        least ``chunk_size`` bytes (None: as the engine sends them).

        NotFound is raised here, before anything is yielded. Close the
        returned stream if it is not read to the end.
        """
        if isinstance(names, str):
            response = self._stream('GET', _path(names, '/get'),
                                    timeout=self.image_timeout)
        else:
            response = self._stream('GET', '/images/get',
                                    params={'names': list(names)},
                                    timeout=self.image_timeout)
        chunks = streams.iter_chunks(response)
        if chunk_size:
            chunks = streams.rechunk(chunks, chunk_size)
        return streams.Stream(response, chunks)

    def import_image(self, data: Body, repo: str, tag: str,
                     changes: list[str] | None = None) -> list[dict]:
        """Make an image of a root filesystem tar
        (``POST /images/create?fromSrc=-``); ``changes`` are Dockerfile
        instructions such as ``CMD ["/bin/sh"]``. The last line's
        ``status`` is the new image id."""
        params = {'fromSrc': '-', 'repo': repo, 'tag': tag,
                  'changes': list(changes or [])}
        return self._json_lines('POST', '/images/create', params=params,
                                data=_body(data), headers=TAR)

    def pull_image(self, repo: str, tag: str = 'latest',
                   auth: dict | None = None) -> list[dict]:
        """``POST /images/create?fromImage=``; StreamError on a failure
        reported mid-pull."""
        params = {'fromImage': repo, 'tag': tag}
        headers = {'X-Registry-Auth': registry_auth(auth)}
        return self._json_lines('POST', '/images/create', params=params,
                                headers=headers)

    def push_image(self, repo: str, tag: str,
                   auth: dict | None = None) -> list[dict]:
        """``POST /images/{repo}/push``; the last line carries
        ``aux.Digest``."""
        headers = {'X-Registry-Auth': registry_auth(auth)}
        return self._json_lines('POST', _path(repo, '/push'),
                                params={'tag': tag}, headers=headers)

    def tag_image(self, image: str, repo: str, tag: str) -> None:
        self._call('POST', _path(image, '/tag'),
                   params={'repo': repo, 'tag': tag})

    def remove_image(self, name: str, force: bool = False,
                     noprune: bool = False) -> list[dict]:
        """``DELETE /images/{name}``; the untagged and deleted ids."""
        params = {'force': flag(force), 'noprune': flag(noprune)}
        return self._call('DELETE', _path(name), params=params)
