"""The client and the driver against the real engine over tcp:// + TLS."""

import pytest

from nova_docker import docker
from nova_docker import driver as driver_mod
from nova_docker.docker import errors
from tests.fixtures import tls


@pytest.fixture
def proxy(engine):
    fixture = tls.TLSEngineProxy()
    fixture.setUp()
    yield fixture
    fixture.cleanUp()


def client(proxy, tls_config):
    return docker.DockerClient(proxy.url, tls=tls_config, connect_timeout=5,
                               read_timeout=10)


def test_verified_mutual_tls_reaches_the_engine(proxy, engine):
    pki = proxy.pki
    c = client(proxy, docker.TLSConfig(ca_file=pki['ca'],
                                       cert_file=pki['client-cert'],
                                       key_file=pki['client-key']))
    assert c.ping() is True
    assert c.api_version == '1.41'
    assert c.info()['ID'] == engine.get('/info').json()['ID']


def test_a_server_signed_by_another_ca_is_refused(proxy):
    pki = proxy.pki
    c = client(proxy, docker.TLSConfig(ca_file=pki['other-ca'],
                                       cert_file=pki['client-cert'],
                                       key_file=pki['client-key']))
    with pytest.raises(errors.EngineUnreachable, match='(?i)certificate'):
        c.version()


def test_insecure_skips_the_server_check_but_keeps_tls(proxy):
    pki = proxy.pki
    c = client(proxy, docker.TLSConfig(ca_file=pki['other-ca'],
                                       cert_file=pki['client-cert'],
                                       key_file=pki['client-key'],
                                       insecure=True))
    # The proxy speaks nothing but TLS: an answer proves TLS stayed on.
    assert c.ping() is True


def test_no_client_certificate_is_refused(proxy):
    c = client(proxy, docker.TLSConfig(ca_file=proxy.pki['ca']))
    with pytest.raises(errors.EngineUnreachable):
        c.version()


def test_plain_http_to_a_tls_engine_fails(proxy):
    c = client(proxy, None)
    with pytest.raises(errors.DockerError):
        c.version()


def test_driver_from_config_over_tls(proxy):
    pki = proxy.pki
    overrides = {'host_url': proxy.url, 'ca_file': pki['ca'],
                 'cert_file': pki['client-cert'],
                 'key_file': pki['client-key']}
    for name, value in overrides.items():
        driver_mod.CONF.set_override(name, value, 'docker')
    try:
        drv = driver_mod.DockerDriver(virtapi=None)
        drv.init_host('tls-node')
        assert drv.get_available_resource('tls-node')['vcpus'] > 0
    finally:
        for name in overrides:
            driver_mod.CONF.clear_override(name, 'docker')
