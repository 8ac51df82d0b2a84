"""A request body's reader refuses a client that stalls or trickles."""

import time

import pytest

from nova_docker.registry import app
from nova_docker.registry import errors


def test_a_trickling_body_is_refused_after_the_grace():
    def trickle(size):
        time.sleep(0.05)
        return b'x'
    body = app._Body(trickle, app.BodyLimits(timeout=0.2, min_rate=100))
    started = time.monotonic()
    with pytest.raises(errors.BlobUploadInvalid, match='min_upload_rate'):
        while True:
            body.read(1024)
    assert time.monotonic() - started < 2


def test_a_body_at_the_rate_is_read_whole():
    chunks = [b'x' * 1000] * 5
    body = app._Body(lambda size: chunks.pop() if chunks else b'',
                     app.BodyLimits(timeout=0.2, min_rate=100))
    assert sum(len(body.read(1000)) for _ in range(6)) == 5000


def test_a_silent_body_is_blob_upload_invalid():
    def silent(size):
        raise TimeoutError('timed out')
    body = app._Body(silent, app.BodyLimits(timeout=7))
    with pytest.raises(errors.BlobUploadInvalid,
                       match='no data for 7 s'):
        body.read(10)
