"""API version negotiation."""

import threading

import pytest

from nova_docker.docker import connection
from nova_docker.docker import errors


def engine(api, min_api='1.12', version='99.0'):
    return {'ApiVersion': api, 'MinAPIVersion': min_api, 'Version': version}


def test_supported_range_constants():
    assert connection.MIN_API == '1.41'
    assert connection.MAX_API == '1.52'


@pytest.mark.parametrize('reply, expected', [
    (engine('1.41'), '1.41'),
    (engine('1.45'), '1.45'),
    (engine('1.47'), '1.47'),
    (engine('1.50', '1.24'), '1.50'),
    # Docker 29: the newest the client knows.
    (engine('1.52', '1.44'), '1.52'),
    (engine('1.53', '1.44'), '1.52'),
    (engine('2.0', '1.40'), '1.52'),
])
def test_negotiate_picks_the_lower_of_both_maxima(reply, expected):
    assert connection.negotiate_api_version(reply, 'here') == expected


def test_versions_compare_as_numbers():
    assert connection.parse_version('1.9') < connection.parse_version('1.10')
    with pytest.raises(ValueError):
        connection.parse_version('latest')


def test_too_old_engine_message_names_both_ranges():
    with pytest.raises(errors.UnsupportedVersion) as caught:
        connection.negotiate_api_version(engine('1.30', '1.12', '17.06'),
                                         'unix:///run/docker.sock')
    message = str(caught.value)
    for part in ('1.12', '1.30', '1.41', '1.52', '20.10', '17.06',
                 'unix:///run/docker.sock'):
        assert part in message


def test_too_new_engine_is_refused():
    with pytest.raises(errors.UnsupportedVersion) as caught:
        connection.negotiate_api_version(engine('1.60', '1.53'), 'here')
    assert '1.53' in str(caught.value)
    assert '1.52' in str(caught.value)


def test_engine_without_api_version_is_refused():
    with pytest.raises(errors.UnsupportedVersion):
        connection.negotiate_api_version({'Version': '1.0'}, 'here')


def test_malformed_engine_version_is_refused():
    with pytest.raises(errors.UnsupportedVersion, match='malformed'):
        connection.negotiate_api_version(engine('1.x'), 'here')


def test_client_speaks_141_to_a_141_engine(fake_engine, client):
    fake_engine.route('GET', '/containers/json', json=[])
    client.list_containers()
    assert client.api_version == '1.41'
    assert fake_engine.requests[-1].path == '/v1.41/containers/json'
    # The version itself is asked for without a version prefix.
    assert [r.path for r in fake_engine.requests_to('GET', '/version')] == [
        '/version']


def test_client_speaks_152_to_a_docker_29_engine(fake_engine, client):
    # Docker 29 accepts nothing older than 1.44.
    fake_engine.route('GET', '/version', json=engine('1.52', '1.44'))
    fake_engine.route('GET', '/containers/json', json=[])
    client.list_containers()
    assert client.api_version == '1.52'
    assert fake_engine.requests[-1].path == '/v1.52/containers/json'


def test_old_engine_is_refused_and_asked_again_later(fake_engine, client):
    fake_engine.route('GET', '/version', json=engine('1.30'))
    fake_engine.route('GET', '/containers/json', json=[])
    with pytest.raises(errors.UnsupportedVersion) as caught:
        client.list_containers()
    assert '1.30' in str(caught.value) and '1.41' in str(caught.value)
    assert not fake_engine.requests_to('GET', '/containers/json')
    # The engine was upgraded: the client finds out without a restart.
    fake_engine.route('GET', '/version', json=engine('1.43'))
    assert client.list_containers() == []
    assert client.api_version == '1.43'


def test_negotiates_once_under_concurrent_first_use(fake_engine, client):
    # A slow /version widens the window in which threads race.
    fake_engine.route('GET', '/version', json=engine('1.41'), delay=0.3)
    fake_engine.route('GET', '/containers/json', json=[])
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        client.list_containers())) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [[]] * 20
    assert len(fake_engine.requests_to('GET', '/version')) == 1
    assert len(fake_engine.requests_to('GET', '/containers/json')) == 20


def test_version_returns_the_engine_reply_and_negotiates(fake_engine,
                                                         client):
    reply = client.version()
    assert reply['ApiVersion'] == '1.41'
    assert reply['Version'] == '20.10.24'
    assert client.api_version == '1.41'
    assert len(fake_engine.requests_to('GET', '/version')) == 1
