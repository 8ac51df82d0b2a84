"""URL parsing, TLS settings, pooling and unreachable engines."""

import os
import socket
import tempfile
import threading

import pytest

from nova_docker.docker import DockerClient
from nova_docker.docker import TLSConfig
from nova_docker.docker import connection
from nova_docker.docker import errors


def test_unix_url_becomes_http_unix():
    assert (connection.parse_base_url('unix:///var/run/docker.sock', None)
            == 'http+unix://%2Fvar%2Frun%2Fdocker.sock')


def test_relative_unix_path_is_refused():
    with pytest.raises(ValueError, match='absolute'):
        connection.parse_base_url('unix://docker.sock', None)


@pytest.mark.parametrize('url, tls, expected', [
    ('tcp://10.0.0.5:2376', TLSConfig(), 'https://10.0.0.5:2376'),
    ('tcp://10.0.0.5:2375', None, 'http://10.0.0.5:2375'),
    ('tcp://engine.example', TLSConfig(), 'https://engine.example:2376'),
    ('tcp://engine.example', None, 'http://engine.example:2375'),
    ('tcp://[::1]:2376', TLSConfig(), 'https://[::1]:2376'),
])
def test_tcp_url(url, tls, expected):
    assert connection.parse_base_url(url, tls) == expected


@pytest.mark.parametrize('url', ['http://h:2375', 'ssh://h', 'h:2375',
                                 'tcp://h:2375/path'])
def test_unknown_url_is_refused(url):
    with pytest.raises(ValueError):
        connection.parse_base_url(url, None)


def test_tcp_defaults_to_tls():
    client = DockerClient('tcp://127.0.0.1:2376')
    assert client._http_base == 'https://127.0.0.1:2376'
    assert client._session.verify is True


def test_tcp_without_tls_only_when_asked():
    client = DockerClient('tcp://127.0.0.1:2375', tls=None)
    assert client._http_base == 'http://127.0.0.1:2375'


@pytest.fixture
def pem_files(tmp_path):
    paths = []
    for name in ('ca.pem', 'cert.pem', 'key.pem'):
        path = tmp_path / name
        path.write_text('not checked until connecting\n')
        paths.append(str(path))
    return paths


def test_tls_verify_defaults_to_system_cas():
    assert TLSConfig().verify is True
    assert TLSConfig().cert is None


def test_tls_verify_with_ca_file(pem_files):
    ca, _, _ = pem_files
    assert TLSConfig(ca_file=ca).verify == ca


def test_tls_insecure_turns_verification_off_only(pem_files):
    ca, cert, key = pem_files
    tls = TLSConfig(ca_file=ca, cert_file=cert, key_file=key, insecure=True)
    assert tls.verify is False
    # The client certificate is still presented: TLS stays on.
    assert tls.cert == (cert, key)


def test_tls_cert_without_key_is_a_combined_pem(pem_files):
    _, cert, _ = pem_files
    assert TLSConfig(cert_file=cert).cert == cert


def test_tls_key_without_cert_is_refused(pem_files):
    with pytest.raises(ValueError, match='cert_file'):
        TLSConfig(key_file=pem_files[2])


def test_tls_missing_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match='does not exist'):
        TLSConfig(ca_file=str(tmp_path / 'nope.pem'))


def test_client_session_carries_tls_settings(pem_files):
    ca, cert, key = pem_files
    # Nothing listens there: building the client must not connect.
    client = DockerClient('tcp://127.0.0.1:9', tls=TLSConfig(ca, cert, key))
    assert client._http_base == 'https://127.0.0.1:9'
    assert client._session.verify == ca
    assert client._session.cert == (cert, key)


def test_tls_is_ignored_for_a_unix_socket(pem_files):
    ca, cert, key = pem_files
    client = DockerClient('unix:///run/docker.sock',
                          tls=TLSConfig(ca, cert, key))
    assert client._session.cert is None
    assert client._session.verify is True


def test_session_ignores_proxy_environment():
    assert DockerClient()._session.trust_env is False


def test_pools_are_sized_for_many_threads():
    session = DockerClient()._session
    unix = session.get_adapter('http+unix://%2Frun%2Fdocker.sock/x')
    https = session.get_adapter('https://h:2376/x')
    assert isinstance(unix, connection.UnixAdapter)
    assert unix._pool_maxsize >= 16
    assert https._pool_maxsize >= 16


def test_one_connection_serves_calls_to_different_paths(fake_engine,
                                                        client):
    for number in range(5):
        fake_engine.route('GET', '/containers/c%d/json' % number,
                          json={'Id': 'c%d' % number})
        client.inspect_container('c%d' % number)
    assert fake_engine.connections == 1


def test_concurrent_calls_keep_their_connections(fake_engine, client):
    fake_engine.route('GET', '/info', json={'ok': True}, delay=0.2)
    # Negotiate first so that only /info runs in parallel.
    assert client.api_version == '1.41'

    def wave():
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            client.info())) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert results == [{'ok': True}] * 20

    wave()
    assert fake_engine.connections <= 21
    wave()
    # Connections of the first wave serve the second: the total stays at
    # about the concurrency (a thread that starts late in a busy machine
    # may reuse one early), where a pool of one would reopen 19 of them.
    assert fake_engine.connections <= 21


def test_missing_socket_is_unreachable_and_named():
    url = 'unix:///tmp/nova-docker-no-such-dir/docker.sock'
    client = DockerClient(url)
    with pytest.raises(errors.EngineUnreachable) as caught:
        client.ping()
    assert url in str(caught.value)
    assert caught.value.status_code is None
    with pytest.raises(errors.EngineUnreachable):
        client.list_containers()


def test_refused_socket_is_unreachable():
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'docker.sock')
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)  # bound but not listening: connection refused
        try:
            with pytest.raises(errors.EngineUnreachable) as caught:
                DockerClient('unix://' + path).version()
        finally:
            sock.close()
    assert path in str(caught.value)


def test_refused_tcp_port_is_unreachable():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    client = DockerClient('tcp://127.0.0.1:%d' % port, tls=None)
    with pytest.raises(errors.EngineUnreachable) as caught:
        client.ping()
    assert '127.0.0.1:%d' % port in str(caught.value)


def test_slow_reply_is_engine_timeout(fake_engine):
    fake_engine.route('GET', '/info', json={}, delay=1)
    client = DockerClient(fake_engine.url, read_timeout=0.2)
    with pytest.raises(errors.EngineTimeout):
        client.info()
