"""Mapping of engine replies and transport failures onto exceptions."""

import pytest
import requests
from urllib3.exceptions import ReadTimeoutError

from nova_docker.docker import errors


@pytest.mark.parametrize('status, cls', [
    (404, errors.NotFound),
    (409, errors.Conflict),
    (500, errors.APIError),
    (400, errors.APIError),
])
def test_status_maps_to_error_with_engine_message(fake_engine, client,
                                                  status, cls):
    fake_engine.route('GET', '/containers/c1/json', status=status,
                      json={'message': 'engine says no %d' % status})
    with pytest.raises(errors.DockerError) as caught:
        client.inspect_container('c1')
    assert type(caught.value) is cls
    assert caught.value.status_code == status
    assert caught.value.explanation == 'engine says no %d' % status
    # The operator sees what was asked and what the engine answered.
    assert 'engine says no' in str(caught.value)
    assert 'GET unix://' in str(caught.value)
    assert '/containers/c1/json' in str(caught.value)


def test_404_and_409_are_api_errors(fake_engine, client):
    fake_engine.route('POST', '/containers/c1/kill', status=409,
                      json={'message': 'is not running'})
    with pytest.raises(errors.APIError):
        client.kill_container('c1')


def test_plain_text_error_body_is_the_explanation(fake_engine, client):
    fake_engine.route('GET', '/info', status=500,
                      body='something broke\n',
                      headers={'Content-Type': 'text/plain'})
    with pytest.raises(errors.APIError) as caught:
        client.info()
    assert caught.value.explanation == 'something broke'


def test_json_error_without_message_keeps_the_body(fake_engine, client):
    fake_engine.route('GET', '/info', status=500, json={'oops': 1})
    with pytest.raises(errors.APIError) as caught:
        client.info()
    assert caught.value.explanation == '{"oops": 1}'


@pytest.mark.parametrize('status', [204, 304])
def test_empty_success_replies_are_not_errors(fake_engine, client, status):
    # 304: the engine's answer to starting a running container.
    fake_engine.route('POST', '/containers/c1/start', status=status)
    assert client.start_container('c1') is None
    assert len(fake_engine.requests_to('POST', '/containers/c1/start')) == 1


def test_display_url_shows_the_unix_socket():
    url = 'http+unix://%2Fvar%2Frun%2Fdocker.sock/v1.41/info?x=1'
    assert (errors.display_url(url)
            == 'unix:///var/run/docker.sock/v1.41/info?x=1')
    assert errors.display_url('https://h:2376/x') == 'https://h:2376/x'


def test_connect_timeout_is_unreachable():
    exc = errors.transport_error(requests.ConnectTimeout('slow'),
                                 'https://h:2376/_ping')
    assert isinstance(exc, errors.EngineUnreachable)
    assert 'https://h:2376/_ping' in str(exc)


def test_read_timeout_is_engine_timeout():
    exc = errors.transport_error(requests.ReadTimeout('slow'), 'https://h')
    assert isinstance(exc, errors.EngineTimeout)
    assert not isinstance(exc, errors.EngineUnreachable)


def test_read_timeout_while_streaming_is_engine_timeout():
    # What requests raises when a streamed read times out.
    wrapped = requests.ConnectionError(ReadTimeoutError(None, '/x', 'slow'))
    exc = errors.transport_error(wrapped, 'https://h')
    assert isinstance(exc, errors.EngineTimeout)


def test_connection_error_is_unreachable():
    exc = errors.transport_error(requests.ConnectionError('refused'),
                                 'http+unix://%2Frun%2Fd.sock/_ping')
    assert isinstance(exc, errors.EngineUnreachable)
    assert 'unix:///run/d.sock/_ping' in str(exc)
