"""Exceptions of the Docker Engine client, and the one place that maps
HTTP replies and transport failures onto them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError


class DockerError(Exception):
    """Base of every error this client raises.

    ``status_code`` is the HTTP status (None when the engine never
    answered); ``explanation`` is the engine's own message, unchanged.
    """

    def __init__(self, message: str, status_code: int | None = None,
                 explanation: str | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.explanation = explanation


class APIError(DockerError):
    """The engine answered with an error status other than 404 or 409."""


class NotFound(APIError):
    """404: no such container, image or endpoint."""


class Conflict(APIError):
    """409: the object is in the wrong state (running, paused, in use)."""


class StreamError(APIError):
    """An ``error`` line inside a streamed reply that began as HTTP 200.

    The engine reports failures of load, pull, push and import this way
    because it has already sent its status line when they happen.
    """


class EngineUnreachable(DockerError):
    """No connection to the engine: socket missing, refused, timed out
    connecting, or dropped mid-reply."""


class EngineTimeout(DockerError):
    """The engine accepted the request but sent nothing for longer than
    the read timeout."""


class UnsupportedVersion(DockerError):
    """The engine's API version range does not meet this client's."""


_STATUS_ERRORS: dict[int, type[APIError]] = {404: NotFound, 409: Conflict}


def display_url(url: str) -> str:
    """Turn a requests URL back into the form an operator configured.

    ``http+unix://%2Fvar%2Frun%2Fdocker.sock/v1.41/x`` reads as
    ``unix:///var/run/docker.sock/v1.41/x``.
    """
    parts = urlsplit(url)
    if parts.scheme != 'http+unix':
        return url
    tail = parts.path + ('?' + parts.query if parts.query else '')
    return 'unix://' + unquote(parts.netloc) + tail


def _explanation(body: bytes) -> str:
    text = body.decode('utf-8', 'replace').strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if isinstance(body, dict) and body.get('message'):
        return str(body['message'])
    return text


def describe_request(response: requests.Response) -> str:
    """'METHOD url' of the request a reply answers, for messages."""
    request = response.request
    if request is None:
        return display_url(response.url or '')
    return '%s %s' % (request.method, display_url(request.url))


def error_for_response(response: requests.Response) -> APIError:
    """The exception that an error reply stands for (reads its body)."""
    return error_for_status(response.status_code, response.reason,
                            describe_request(response), response.content)


def error_for_status(status: int, reason: str | None, where: str,
                     body: bytes) -> APIError:
    """The exception of an error reply with ``status`` to the request
    ``where`` ('METHOD url'), whose body is ``body``."""
    explanation = _explanation(body)
    cls = _STATUS_ERRORS.get(status, APIError)
    message = '%s %s from %s: %s' % (status, reason, where,
                                     explanation or '(no message)')
    return cls(message, status, explanation)


def _decode_body(response: requests.Response) -> Any:
    if not response.content:
        return None
    content_type = response.headers.get('Content-Type', '')
    if 'json' in content_type:
        return response.json()
    return response.content


def from_response(response: requests.Response, stream: bool = False) -> Any:
    """Turn a reply into data, or raise the error it stands for.

    Data is the decoded JSON, the raw bytes of a non-JSON body, or None
    for an empty body (204, and 304 which the engine sends when a
    container already is in the asked-for state). With ``stream`` the
    checked response itself is returned so the caller can read it in
    pieces.
    """
    if response.status_code >= 400:
        try:
            raise error_for_response(response)
        finally:
            response.close()
    if stream:
        return response
    return _decode_body(response)


def transport_error(exc: requests.RequestException, url: str) -> DockerError:
    """The DockerError for a failure below HTTP (no reply, or a reply that
    broke off); ``url`` is shown as the operator configured it."""
    where = display_url(url)
    if isinstance(exc, requests.ConnectTimeout):
        return EngineUnreachable(
            'Timed out connecting to the Docker Engine at %s: %s'
            % (where, exc))
    if isinstance(exc, requests.Timeout):
        return EngineTimeout(
            'The Docker Engine at %s did not answer in time: %s'
            % (where, exc))
    if isinstance(exc, requests.ConnectionError) and _is_read_timeout(exc):
        # requests reports a read timeout while streaming as a
        # ConnectionError wrapping urllib3's ReadTimeoutError.
        return EngineTimeout(
            'The Docker Engine at %s stopped sending in the middle of a '
            'reply: %s' % (where, exc))
    if isinstance(exc, (requests.ConnectionError,
                        requests.exceptions.ChunkedEncodingError)):
        return EngineUnreachable(
            'Cannot talk to the Docker Engine at %s (is dockerd running '
            'and is the socket or port right?): %s' % (where, exc))
    return DockerError('Request to the Docker Engine at %s failed: %s'
                       % (where, exc))


def _is_read_timeout(exc: BaseException) -> bool:
    return any(isinstance(arg, ReadTimeoutError) for arg in exc.args)
