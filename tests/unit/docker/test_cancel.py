"""Requests of an interruptible client view, aborted from another thread."""

import socket
import threading
import time

import pytest

from nova_docker.docker import DockerClient
from nova_docker.docker import cancel
from nova_docker.docker import errors
from tests.fixtures.sockets import full_backlog


def call_in_thread(func):
    """Run ``func`` in a thread; (thread, outcome list)."""
    outcome = []

    def run():
        try:
            outcome.append(func())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def cancel_soon(cancellation, thread, wait=0.3, bound=5):
    """Cancel once ``thread`` had time to block; True if it then ended
    within ``bound`` seconds."""
    time.sleep(wait)
    assert thread.is_alive(), 'the call did not block'
    cancellation.cancel()
    thread.join(bound)
    return not thread.is_alive()


@pytest.mark.parametrize('family', [socket.AF_UNIX, socket.AF_INET],
                         ids=['unix', 'tcp'])
def test_cancel_aborts_a_blocked_connect(family):
    with full_backlog(family) as url:
        client = DockerClient(url, tls=None, connect_timeout=30)
        cancellation = cancel.Cancellation()
        view = client.interruptible(cancellation)
        thread, outcome = call_in_thread(view.ping)
        assert cancel_soon(cancellation, thread)
        assert isinstance(outcome[0], errors.EngineUnreachable)


def test_cancel_aborts_a_wait_for_the_reply(fake_engine):
    fake_engine.route('GET', '/containers/json', json=[], delay=30)
    cancellation = cancel.Cancellation()
    view = DockerClient(fake_engine.url, read_timeout=60).interruptible(
        cancellation)
    thread, outcome = call_in_thread(view.list_containers)
    assert cancel_soon(cancellation, thread)
    assert isinstance(outcome[0], errors.DockerError)


def test_cancel_ends_a_stream_being_read(fake_engine):
    release = threading.Event()

    def chunks(request):
        yield '{"Action": "start"}\n'
        release.wait(30)

    fake_engine.route('GET', '/events', chunks=chunks)
    cancellation = cancel.Cancellation()
    view = DockerClient(fake_engine.url).interruptible(cancellation)
    try:
        # The per-call session is closed once the reply began: the stream
        # must still be readable.
        stream = view.events()
        assert next(stream)['Action'] == 'start'
        thread, outcome = call_in_thread(lambda: list(stream))
        assert cancel_soon(cancellation, thread)
    finally:
        release.set()


def test_a_cancelled_view_makes_no_new_connection(fake_engine):
    cancellation = cancel.Cancellation()
    view = DockerClient(fake_engine.url).interruptible(cancellation)
    assert view.ping() is True
    connections = fake_engine.connections
    cancellation.cancel()
    with pytest.raises(errors.EngineUnreachable):
        view.ping()
    assert fake_engine.connections == connections


def test_the_client_itself_is_not_affected(fake_engine):
    client = DockerClient(fake_engine.url)
    cancellation = cancel.Cancellation()
    client.interruptible(cancellation)
    cancellation.cancel()
    assert client.ping() is True
    # ... and keeps reusing its pooled connection.
    assert client.ping() is True
    assert fake_engine.connections == 1
