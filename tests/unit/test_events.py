import json
import logging
import socket
import threading
import time

import pytest
from nova.virt import event as virtevent

from nova_docker import events
from nova_docker.docker import DockerClient
from nova_docker import labels
from tests.fixtures.sockets import full_backlog
from tests.fixtures.fake_engine import FakeEngine


def engine_event(action, uuid='u-1'):
    return {'Type': 'container', 'Action': action,
            'Actor': {'Attributes': {labels.LABEL_INSTANCE_UUID: uuid}}}


class Collector:
    def __init__(self):
        self.events = []
        self.arrived = threading.Event()

    def __call__(self, event):
        self.events.append((event.uuid, event.transition))
        self.arrived.set()


def test_start_is_reported_at_once():
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=60)
    watcher.handle(engine_event('start'))
    assert got.events == [('u-1', virtevent.EVENT_LIFECYCLE_STARTED)]


def test_stop_is_reported_after_the_delay():
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=0.05)
    watcher.handle(engine_event('die'))
    assert got.arrived.wait(5)
    assert got.events == [('u-1', virtevent.EVENT_LIFECYCLE_STOPPED)]


def test_a_start_within_the_delay_cancels_the_stop():
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=0.3)
    watcher.handle(engine_event('die'))
    watcher.handle(engine_event('start'))
    watcher.handle(engine_event('die', uuid='u-2'))
    watcher.handle(engine_event('destroy', uuid='u-2'))
    # Well past the delay: no stop may have fired for either.
    time.sleep(0.6)
    assert got.events == [('u-1', virtevent.EVENT_LIFECYCLE_STARTED)]


def test_the_stream_asks_only_for_filters_every_engine_applies():
    # Podman 4 matches 'event' against its own names ('died') and a
    # 'label' by key=value only: either filter would hide every event.
    filters = events.event_filters('node-1')
    assert set(filters) == {'type', 'label'}
    assert all('=' in label for label in filters['label'])


def test_only_start_die_and_destroy_of_instances_matter():
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=0.05)
    for action in ('create', 'kill', 'stop', 'exec_start: sh', 'restart'):
        watcher.handle(engine_event(action))
    watcher.handle(engine_event('start', uuid=''))
    time.sleep(0.1)
    assert got.events == []


def test_events_of_other_containers_are_ignored():
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=0)
    watcher.handle({'Action': 'start', 'Actor': {'Attributes': {}}})
    assert got.events == []


def test_a_sandbox_whose_instance_label_is_empty_is_no_instance():
    # Sandboxes carry every label of ours, the instance's empty: their
    # events pass the engine's label filter but name no instance.
    got = Collector()
    watcher = events.EventWatcher(None, got, stop_delay=0)
    watcher.handle(engine_event('start', uuid=''))
    watcher.handle(engine_event('die', uuid=''))
    assert got.events == []


# -- the watcher against a fake engine ---------------------------------------

STARTED = virtevent.EVENT_LIFECYCLE_STARTED
STOPPED = virtevent.EVENT_LIFECYCLE_STOPPED


def listed(uuid, state):
    """One entry of GET /containers/json as the engine lists ours."""
    return {'Id': 'id-' + uuid, 'State': state,
            'Labels': {labels.LABEL_INSTANCE_UUID: uuid}}


def wait_for(predicate, bound=10):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Streams:
    """Answers for successive GET /events: ``script[n]`` is called with
    the request for the n-th connection and yields its chunks; past the
    script every stream is held open and quiet until release()."""

    def __init__(self, *script):
        self.script = list(script)
        self.served = 0
        self._release = threading.Event()

    def __call__(self, request):
        index, self.served = self.served, self.served + 1
        if index < len(self.script):
            yield from self.script[index](request)
            return
        self._release.wait(30)

    def release(self):
        self._release.set()


@pytest.fixture
def watch(fake_engine):
    """Start a watcher of the fake engine: watch(**kwargs) -> (watcher,
    Collector); stopped (and checked stopped) after the test."""
    made = []
    streams = []

    def make(stream_script=(), stop_delay=0.2, scripted=True, **kwargs):
        # scripted=False: the test has routed /events itself.
        if scripted:
            streams_ = Streams(*stream_script)
            streams.append(streams_)
            fake_engine.route('GET', '/events', chunks=streams_)
        got = Collector()
        # Timeouts longer than any wait of the tests: what ends a call
        # early is the watcher, not a timeout.
        client = DockerClient(fake_engine.url, connect_timeout=30,
                              read_timeout=30)
        watcher = events.EventWatcher(client, got, stop_delay=stop_delay,
                                      **kwargs)
        made.append(watcher)
        watcher.start()
        return watcher, got

    yield make
    for watcher in made:
        watcher.stop()
        assert not watcher.alive
    for streams_ in streams:
        streams_.release()


def test_first_listing_only_learns_the_state(fake_engine, watch):
    fake_engine.route('GET', '/containers/json',
                      json=[listed('u-1', 'running'),
                            listed('u-2', 'exited')])
    watcher, got = watch()
    assert wait_for(lambda: fake_engine.requests_to(
        'GET', '/containers/json'))
    time.sleep(0.5)  # past the stop delay: nothing may have been sent
    assert got.events == []
    listing = fake_engine.requests_to('GET', '/containers/json')[0]
    assert listing.query['all'] == ['1']
    assert json.loads(listing.query['filters'][0]) == \
        labels.instance_label_filter()


def test_a_listed_sandbox_is_no_instance_on_resync(fake_engine, watch):
    fake_engine.route('GET', '/containers/json', json=[
        listed('u-1', 'exited'), listed('', 'running')])
    watcher, got = watch([change_listing_then_end(fake_engine, [
        listed('u-1', 'exited'), listed('', 'exited')])])
    assert wait_for(lambda: len(fake_engine.requests_to(
        'GET', '/containers/json')) == 2)
    time.sleep(0.5)
    assert got.events == []


def change_listing_then_end(fake_engine, entries):
    """A stream that waits for the watcher's first listing, then lets the
    'engine' change its containers and ends (as dockerd going down)."""
    def script(request):
        wait_for(lambda: fake_engine.requests_to('GET', '/containers/json'))
        fake_engine.route('GET', '/containers/json', json=entries)
        return iter(())
    return script


def test_resync_after_reconnect_reports_what_changed(fake_engine, watch):
    fake_engine.route('GET', '/containers/json', json=[
        listed('ran-stops', 'running'), listed('was-off', 'exited'),
        listed('vanishes', 'running'), listed('keeps', 'running')])
    watcher, got = watch([change_listing_then_end(fake_engine, [
        listed('ran-stops', 'exited'), listed('was-off', 'exited'),
        listed('keeps', 'running'), listed('new-runs', 'running'),
        listed('new-off', 'created')])])
    assert wait_for(lambda: len(got.events) >= 3)
    time.sleep(0.5)
    assert sorted(got.events) == sorted([
        ('new-runs', STARTED), ('ran-stops', STOPPED),
        ('vanishes', STOPPED)])
    # One listing per connection, and the second stream resumes.
    assert len(fake_engine.requests_to('GET', '/containers/json')) == 2
    second = fake_engine.requests_to('GET', '/events')[1]
    assert second.query['since'][0].endswith('.000000000')


def test_stop_found_by_resync_is_held_back_like_a_live_stop(fake_engine,
                                                            watch):
    fake_engine.route('GET', '/containers/json',
                      json=[listed('u-1', 'running')])

    def started_again(request):
        # The reboot's second half, replayed on the new stream.
        yield json.dumps(engine_event('start', 'u-1') | {
            'timeNano': time.time_ns()}) + '\n'
        time.sleep(30)

    watcher, got = watch([change_listing_then_end(
        fake_engine, [listed('u-1', 'exited')]), started_again],
        stop_delay=1.0)
    assert wait_for(lambda: got.events)
    time.sleep(1.5)
    # The STOPPED of the resync was dropped; the start went through.
    assert got.events == [('u-1', STARTED)]


def test_replayed_events_are_not_reported_twice(fake_engine, watch):
    fake_engine.route('GET', '/containers/json', json=[])
    nanos = time.time_ns()
    start = json.dumps(engine_event('start', 'u-1') | {
        'timeNano': nanos}) + '\n'

    def once_then_end(request):
        wait_for(lambda: fake_engine.requests_to('GET', '/containers/json'))
        fake_engine.route('GET', '/containers/json',
                          json=[listed('u-1', 'running')])
        yield start

    def replayed(request):
        # 'since' is inclusive: the engine sends the last event again.
        assert request.query['since'] == [events.since_param(nanos)]
        yield start
        time.sleep(30)

    watcher, got = watch([once_then_end, replayed])
    assert wait_for(lambda: len(fake_engine.requests_to(
        'GET', '/containers/json')) == 2)
    time.sleep(0.3)
    assert got.events == [('u-1', STARTED)]


def count_attempts(fake_engine, window):
    time.sleep(window)
    return len(fake_engine.requests_to('GET', '/events'))


@pytest.mark.parametrize('reply', ['eof', 'error'])
def test_an_engine_that_ends_every_stream_at_once_is_no_busy_loop(
        fake_engine, watch, reply):
    fake_engine.route('GET', '/containers/json', json=[])
    if reply == 'eof':
        fake_engine.route('GET', '/events', chunks=lambda request: ())
    else:
        fake_engine.route('GET', '/events', status=500,
                          json={'message': 'daemon is shutting down'})
    watcher, got = watch(scripted=False)
    # Attempts after 0, 0.5, 1.5 s (then 3.5): 3 in 3 s, where a loop
    # without backoff makes hundreds.
    attempts = count_attempts(fake_engine, 3.0)
    assert 2 <= attempts <= 4
    assert watcher.alive


def test_backoff_doubles_to_the_cap_and_resets():
    backoff = events.Backoff(first=0.5, cap=30)
    assert [backoff.next() for _ in range(8)] == [
        0.5, 1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next() == 0.5


def test_one_warning_when_lost_one_info_when_back(fake_engine, watch,
                                                  caplog):
    fake_engine.route('GET', '/containers/json', json=[])
    fake_engine.route('GET', '/events', status=500,
                      json={'message': 'daemon is shutting down'})
    caplog.set_level(logging.DEBUG, logger='nova_docker.events')
    streams = Streams()
    watcher, got = watch(scripted=False,
                         backoff=events.Backoff(first=0.05, cap=0.2))
    assert wait_for(lambda: len(fake_engine.requests_to(
        'GET', '/events')) >= 5)
    fake_engine.route('GET', '/events', chunks=streams)
    try:
        assert wait_for(lambda: streams.served)
        assert wait_for(lambda: any(
            r.levelno == logging.INFO for r in caplog.records))
    finally:
        streams.release()
    records = [r for r in caplog.records if r.name == 'nova_docker.events']
    warnings = [r for r in records if r.levelno == logging.WARNING]
    infos = [r for r in records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and 'daemon is shutting down' in \
        warnings[0].getMessage()
    assert len(infos) == 1
    assert not [r for r in records if r.levelno >= logging.ERROR]


# -- stop() whatever the watcher is doing ------------------------------------

def stops_promptly(watcher, bound=5):
    started = time.monotonic()
    watcher.stop()
    return not watcher.alive and time.monotonic() - started < bound


def test_stop_while_waiting_to_reconnect(fake_engine, watch):
    fake_engine.route('GET', '/events', status=500, json={'message': 'no'})
    watcher, got = watch(scripted=False, backoff=events.Backoff(first=60))
    assert wait_for(lambda: fake_engine.requests_to('GET', '/events'))
    time.sleep(0.2)
    assert stops_promptly(watcher)


def test_stop_while_waiting_for_the_events_reply(fake_engine, watch):
    fake_engine.route('GET', '/events', json={}, delay=30)
    watcher, got = watch(scripted=False, read_timeout=60)
    assert wait_for(lambda: fake_engine.requests_to('GET', '/events'))
    time.sleep(0.2)
    assert stops_promptly(watcher)


def test_stop_while_reading_a_quiet_stream(fake_engine, watch):
    fake_engine.route('GET', '/containers/json', json=[])
    watcher, got = watch(read_timeout=60)
    assert wait_for(lambda: fake_engine.requests_to(
        'GET', '/containers/json'))
    time.sleep(0.2)
    assert stops_promptly(watcher)


def test_stop_while_listing_for_resync(fake_engine, watch):
    fake_engine.route('GET', '/containers/json', json=[], delay=30)
    watcher, got = watch(read_timeout=60)
    assert wait_for(lambda: fake_engine.requests_to(
        'GET', '/containers/json'))
    time.sleep(0.2)
    assert stops_promptly(watcher)


@pytest.mark.parametrize('family', [socket.AF_UNIX, socket.AF_INET],
                         ids=['unix', 'tcp'])
def test_stop_while_connecting(family):
    with full_backlog(family) as url:
        client = DockerClient(url, tls=None, connect_timeout=30)
        watcher = events.EventWatcher(client, Collector(), stop_delay=0)
        watcher.start()
        time.sleep(0.3)
        assert watcher.alive
        assert stops_promptly(watcher)


# -- a silent link -----------------------------------------------------------

def test_a_silent_tcp_stream_is_reopened_quietly(watch, caplog):
    engine = FakeEngine(tcp=True)
    engine.start()
    try:
        engine.route('GET', '/containers/json', json=[])
        streams = Streams()  # headers, then silence: as a split link
        engine.route('GET', '/events', chunks=streams)
        caplog.set_level(logging.DEBUG, logger='nova_docker.events')
        client = DockerClient(engine.url, tls=None, connect_timeout=2)
        watcher = events.EventWatcher(client, Collector(), stop_delay=0,
                                      read_timeout=1.0)
        watcher.start()
        try:
            # Reopened within the read timeout (plus slack), and resumed.
            assert wait_for(lambda: len(engine.requests_to(
                'GET', '/events')) >= 2, bound=5)
            second = engine.requests_to('GET', '/events')[1]
            assert 'since' in second.query
            # ... and resynced after reopening.
            assert wait_for(lambda: len(engine.requests_to(
                'GET', '/containers/json')) >= 2)
        finally:
            assert stops_promptly(watcher)
            streams.release()
        assert not [r for r in caplog.records
                    if r.name == 'nova_docker.events'
                    and r.levelno >= logging.WARNING]
    finally:
        engine.stop()


def test_an_engine_that_accepts_and_never_answers_is_left(watch, caplog):
    engine = FakeEngine(tcp=True)
    engine.start()
    try:
        engine.route('GET', '/containers/json', json=[])
        engine.route('GET', '/events', json={}, delay=30)
        client = DockerClient(engine.url, tls=None, connect_timeout=2)
        watcher = events.EventWatcher(
            client, Collector(), stop_delay=0, read_timeout=0.5,
            backoff=events.Backoff(first=0.1))
        watcher.start()
        try:
            assert wait_for(lambda: len(engine.requests_to(
                'GET', '/events')) >= 2, bound=5)
        finally:
            assert stops_promptly(watcher)
        warnings = [r for r in caplog.records
                    if r.name == 'nova_docker.events'
                    and r.levelno == logging.WARNING]
        assert len(warnings) == 1
    finally:
        engine.stop()
