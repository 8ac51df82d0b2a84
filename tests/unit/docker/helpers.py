"""Helpers of the Docker client's unit tests."""

import struct


def frame(stream: int, data: bytes) -> bytes:
    """One frame of a multiplexed logs stream."""
    return struct.pack('>BxxxL', stream, len(data)) + data


class RequestSpy:
    """Wraps a client's session.request to record the keyword arguments
    (timeouts, streaming) of each call, then lets the call through."""

    def __init__(self, client):
        self.calls = []
        self._request = client._session.request
        client._session.request = self

    def __call__(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        return self._request(method, url, **kwargs)

    def timeout_of(self, path_part: str):
        """The timeout of the latest call whose URL contains path_part."""
        for _method, url, kwargs in reversed(self.calls):
            if path_part in url:
                return kwargs['timeout']
        raise AssertionError('no call to %s in %s' % (path_part, self.calls))
