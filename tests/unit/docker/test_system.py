"""ping, info and the events stream."""

import datetime
import json
import threading
import time

from nova_docker.docker import DockerClient


def test_ping(fake_engine, client):
    assert client.ping() is True
    assert fake_engine.requests[-1].path == '/_ping'


def test_ping_false_when_the_engine_answers_an_error(fake_engine, client):
    fake_engine.route('GET', '/_ping', status=500,
                      json={'message': 'daemon is shutting down'})
    assert client.ping() is False


def test_info(fake_engine, client):
    fake_engine.route('GET', '/info', json={'NCPU': 8})
    assert client.info() == {'NCPU': 8}
    assert fake_engine.requests[-1].path == '/v1.41/info'


def _event(action):
    return json.dumps({'Type': 'container', 'Action': action,
                       'Actor': {'ID': 'c1'}}) + '\n'


def test_events_parameters_and_no_read_timeout(fake_engine, client, spy):
    fake_engine.route('GET', '/events', chunks=[_event('start')])
    filters = {'type': ['container'], 'label': ['nova.uuid']}
    with client.events(since=100, until=200, filters=filters) as events:
        assert [e['Action'] for e in events] == ['start']
    query = fake_engine.requests[-1].query
    assert json.loads(query['filters'][0]) == filters
    assert query['since'] == ['100'] and query['until'] == ['200']
    # An events stream may be quiet for hours.
    assert spy.timeout_of('/events') == (2, None)


def test_events_time_bounds_as_the_engine_parses_them(fake_engine,
                                                      client):
    fake_engine.route('GET', '/events', chunks=[_event('die')])
    since = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    list(client.events(since=since, until=1e-05))
    query = fake_engine.requests[-1].query
    assert query['since'] == ['1767225600.000000000']
    assert query['until'] == ['0.000010000']


def test_events_can_be_closed_from_another_thread(fake_engine):
    release = threading.Event()

    def chunks():
        yield _event('create')
        yield _event('start')
        release.wait(10)  # the engine has nothing more to say for now

    fake_engine.route('GET', '/events', chunks=chunks())
    client = DockerClient(fake_engine.url, read_timeout=30)
    events = client.events()
    seen = []
    reader = threading.Thread(
        target=lambda: seen.extend(e['Action'] for e in events))
    reader.start()
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ['create', 'start']
    started = time.monotonic()
    events.close()
    reader.join(3)
    try:
        # close() must wake the blocked reader, not wait for the engine.
        assert time.monotonic() - started < 3
        assert not reader.is_alive()
        assert list(events) == []
    finally:
        release.set()


# The same die and removal as each engine writes them.
DOCKER_1_41_DIE = {'status': 'die', 'id': 'c1', 'from': 'img',
                   'Type': 'container', 'Action': 'die',
                   'Actor': {'ID': 'c1', 'Attributes': {'image': 'img',
                                                        'exitCode': '0'}},
                   'time': 1, 'timeNano': 1000000000}
# API 1.52 (Docker 29) dropped status, id and from.
DOCKER_1_52_DIE = {k: v for k, v in DOCKER_1_41_DIE.items()
                   if k not in ('status', 'id', 'from')}
# Before API 1.22: the old form only.
DOCKER_1_21_DIE = {'status': 'die', 'id': 'c1', 'from': 'img',
                   'time': 1, 'timeNano': 1000000000}
# Podman 4.3 names a container's removal 'remove'.
PODMAN_REMOVE = dict(DOCKER_1_41_DIE, status='remove', Action='remove')


def test_events_come_in_one_dialect_from_every_engine(fake_engine, client):
    fake_engine.route('GET', '/events', chunks=[
        json.dumps(e) + '\n' for e in (DOCKER_1_41_DIE, DOCKER_1_52_DIE,
                                       DOCKER_1_21_DIE, PODMAN_REMOVE)])
    got = list(client.events(until=2))
    assert [(e['Type'], e['Action'], e['Actor']['ID']) for e in got] == [
        ('container', 'die', 'c1')] * 3 + [('container', 'destroy', 'c1')]
    assert {e['Actor']['Attributes']['image'] for e in got} == {'img'}
    assert [e['timeNano'] for e in got] == [1000000000] * 4
