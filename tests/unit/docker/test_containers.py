"""Container endpoints against the fake engine."""

import json

import pytest

from nova_docker.docker import errors
from tests.unit.docker.helpers import frame


def test_list_containers_sends_label_filters_as_json(fake_engine, client):
    fake_engine.route('GET', '/containers/json', json=[{'Id': 'c1'}])
    filters = {'label': ['nova.uuid=abc', 'nova.project']}
    assert client.list_containers(filters=filters) == [{'Id': 'c1'}]
    query = fake_engine.requests[-1].query
    assert json.loads(query['filters'][0]) == filters
    assert query['all'] == ['1']


def test_list_running_containers_without_filters(fake_engine, client):
    fake_engine.route('GET', '/containers/json', json=[])
    client.list_containers(all=False)
    assert fake_engine.requests[-1].query == {'all': ['0']}


def test_create_container(fake_engine, client):
    fake_engine.route('POST', '/containers/create', status=201,
                      json={'Id': 'abc123', 'Warnings': []})
    body = {'Image': 'busybox', 'HostConfig': {'NetworkMode': 'none'}}
    assert client.create_container(body, name='nova-x') == 'abc123'
    request = fake_engine.requests[-1]
    assert request.query == {'name': ['nova-x']}
    assert json.loads(request.body) == body
    assert request.headers['Content-Type'] == 'application/json'


def test_create_container_missing_image(fake_engine, client):
    fake_engine.route('POST', '/containers/create', status=404,
                      json={'message': 'No such image: busybox:latest'})
    with pytest.raises(errors.NotFound, match='No such image'):
        client.create_container({'Image': 'busybox'})


def test_inspect_missing_container(fake_engine, client):
    fake_engine.route('GET', '/containers/nova-1/json', status=404,
                      json={'message': 'No such container: nova-1'})
    with pytest.raises(errors.NotFound) as caught:
        client.inspect_container('nova-1')
    assert caught.value.explanation == 'No such container: nova-1'


def test_container_names_are_quoted(fake_engine, client):
    fake_engine.route('GET', '/containers/.*', json={})
    client.inspect_container('a/b c')
    assert fake_engine.requests[-1].path == '/v1.41/containers/a%2Fb%20c/json'


@pytest.mark.parametrize('method, action', [
    ('start_container', 'start'),
    ('pause_container', 'pause'),
    ('unpause_container', 'unpause'),
])
def test_simple_actions(fake_engine, client, method, action):
    fake_engine.route('POST', '/containers/c1/' + action, status=204)
    assert getattr(client, method)('c1') is None
    assert fake_engine.requests[-1].path == '/v1.41/containers/c1/' + action


@pytest.mark.parametrize('method', ['stop_container', 'restart_container'])
def test_stop_and_restart_wait_for_the_grace_period(fake_engine, client, spy,
                                                    method):
    action = method.split('_')[0]
    fake_engine.route('POST', '/containers/c1/' + action, status=204)
    getattr(client, method)('c1', timeout=30)
    assert fake_engine.requests[-1].query == {'t': ['30']}
    # The engine answers only after the grace period: 30 s + read timeout.
    assert spy.timeout_of('/' + action) == (2, 35)


def test_kill_not_running_is_conflict(fake_engine, client):
    fake_engine.route('POST', '/containers/c1/kill', status=409,
                      json={'message': 'Container c1 is not running'})
    with pytest.raises(errors.Conflict, match='is not running'):
        client.kill_container('c1', signal='SIGTERM')
    assert fake_engine.requests[-1].query == {'signal': ['SIGTERM']}


def test_kill_defaults_to_sigkill(fake_engine, client):
    fake_engine.route('POST', '/containers/c1/kill', status=204)
    client.kill_container('c1')
    assert fake_engine.requests[-1].query == {'signal': ['SIGKILL']}


def test_remove_container(fake_engine, client):
    fake_engine.route('DELETE', '/containers/c1', status=204)
    client.remove_container('c1', force=True)
    assert fake_engine.requests[-1].query == {'force': ['1'], 'v': ['1']}
    client.remove_container('c1', volumes=False)
    assert fake_engine.requests[-1].query == {'force': ['0'], 'v': ['0']}


def _inspect(fake_engine, tty):
    fake_engine.route('GET', '/containers/c1/json',
                      json={'Id': 'c1', 'Config': {'Tty': tty}})


def test_logs_are_demultiplexed_in_order(fake_engine, client):
    _inspect(fake_engine, tty=False)
    data = (frame(1, b'hi\n') + frame(2, b'oops\n') + frame(1, b'bye\n'))
    # 20.10 sends no Content-Type; frames arrive split across chunks.
    fake_engine.route('GET', '/containers/c1/logs',
                      chunks=[data[:5], data[5:12], data[12:]])
    assert client.container_logs('c1', tail=100) == b'hi\noops\nbye\n'
    query = fake_engine.requests_to('GET', '/containers/c1/logs')[0].query
    assert query == {'stdout': ['1'], 'stderr': ['1'], 'tail': ['100'],
                     'timestamps': ['0'], 'follow': ['0']}


def test_logs_tail_keeps_only_the_last_bytes(fake_engine, client):
    _inspect(fake_engine, tty=False)
    lines = [b'%05d\n' % i for i in range(2000)]
    frames = [frame(1 + i % 2, line) for i, line in enumerate(lines)]
    fake_engine.route('GET', '/containers/c1/logs', chunks=frames)
    assert client.container_logs('c1', max_bytes=600) == \
        b''.join(lines)[-600:]


def test_logs_of_a_tty_container_pass_through(fake_engine, client):
    _inspect(fake_engine, tty=True)
    fake_engine.route('GET', '/containers/c1/logs',
                      chunks=[b'\x01\x00\x00\x00 looks like a frame\r\n'],
                      headers={'Content-Type': 'application/vnd.docker.'
                                               'raw-stream'})
    assert (client.container_logs('c1')
            == b'\x01\x00\x00\x00 looks like a frame\r\n')
    # Before API 1.42 raw-stream does not prove a TTY: inspect decides.
    assert len(fake_engine.requests_to('GET', '/containers/c1/json')) == 1


def test_multiplexed_content_type_needs_no_inspect(fake_engine, client):
    fake_engine.route('GET', '/containers/c1/logs', body=frame(1, b'x'),
                      headers={'Content-Type': 'application/vnd.docker.'
                                               'multiplexed-stream'})
    assert client.container_logs('c1') == b'x'
    assert not fake_engine.requests_to('GET', '/containers/c1/json')


def test_raw_stream_means_tty_from_api_142(fake_engine, client):
    fake_engine.route('GET', '/version',
                      json={'ApiVersion': '1.43', 'MinAPIVersion': '1.12'})
    fake_engine.route('GET', '/containers/c1/logs', body=b'raw\r\n',
                      headers={'Content-Type': 'application/vnd.docker.'
                                               'raw-stream'})
    assert client.container_logs('c1') == b'raw\r\n'
    assert not fake_engine.requests_to('GET', '/containers/c1/json')


def test_logs_when_the_container_goes_away_meanwhile(fake_engine, client):
    fake_engine.route('GET', '/containers/c1/logs', body=frame(1, b'x'))
    fake_engine.route('GET', '/containers/c1/json', status=404,
                      json={'message': 'No such container: c1'})
    with pytest.raises(errors.NotFound):
        client.container_logs('c1')


def test_logs_of_missing_container(fake_engine, client):
    fake_engine.route('GET', '/containers/c1/logs', status=404,
                      json={'message': 'No such container: c1'})
    with pytest.raises(errors.NotFound):
        client.container_logs('c1')


def test_wait_container(fake_engine, client, spy):
    fake_engine.route('POST', '/containers/c1/wait',
                      json={'StatusCode': 3, 'Error': None})
    assert client.wait_container('c1', timeout=7) == {'StatusCode': 3,
                                                      'Error': None}
    assert fake_engine.requests[-1].query == {'condition': ['not-running']}
    assert spy.timeout_of('/wait') == (2, 7)
    client.wait_container('c1', condition='removed')
    assert spy.timeout_of('/wait') == (2, None)


def test_wait_container_times_out(fake_engine, client):
    fake_engine.route('POST', '/containers/c1/wait', json={}, delay=1)
    with pytest.raises(errors.EngineTimeout):
        client.wait_container('c1', timeout=0.2)


def test_update_container(fake_engine, client):
    fake_engine.route('POST', '/containers/c1/update',
                      json={'Warnings': []})
    assert client.update_container('c1', {'Memory': 1 << 30}) == {
        'Warnings': []}
    assert json.loads(fake_engine.requests[-1].body) == {'Memory': 1 << 30}


def test_commit_container(fake_engine, client, spy):
    fake_engine.route('POST', '/commit', status=201,
                      json={'Id': 'sha256:feed'})
    image = client.commit_container(
        'c1', repo='snap', tag='s1', comment='nova snapshot',
        changes=['CMD ["/bin/sh"]', 'ENV A=1'])
    assert image == 'sha256:feed'
    assert fake_engine.requests[-1].query == {
        'container': ['c1'], 'repo': ['snap'], 'tag': ['s1'],
        'comment': ['nova snapshot'], 'pause': ['1'],
        'changes': ['CMD ["/bin/sh"]', 'ENV A=1']}
    assert spy.timeout_of('/commit') == (2, 10)


def test_commit_without_options(fake_engine, client):
    fake_engine.route('POST', '/commit', status=201, json={'Id': 'i'})
    client.commit_container('c1', pause=False)
    assert fake_engine.requests[-1].query == {'container': ['c1'],
                                              'pause': ['0']}
    # A body, empty: Podman refuses a commit without one.
    assert json.loads(fake_engine.requests[-1].body) == {}
    assert fake_engine.requests[-1].headers['Content-Type'] == \
        'application/json'
