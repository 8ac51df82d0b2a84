"""Driver calls while the engine is gone or hung: Nova's
HypervisorUnavailable, never the client's own errors."""

import pytest
from nova import exception

from nova_docker import driver as driver_mod
from nova_docker.docker import DockerClient
from nova_docker import host
from tests.fixtures import nova_objects

CALLS = {
    'get_info': lambda drv, inst: drv.get_info(inst),
    'list_instances': lambda drv, inst: drv.list_instances(),
    'list_instance_uuids': lambda drv, inst: drv.list_instance_uuids(),
    'instance_exists': lambda drv, inst: drv.instance_exists(inst),
    'power_on': lambda drv, inst: drv.power_on(None, inst, None),
}


@pytest.fixture
def client(fake_engine):
    driver_mod.CONF.set_override('host_url', fake_engine.url, 'docker')
    yield DockerClient(fake_engine.url, connect_timeout=2, read_timeout=1)
    driver_mod.CONF.clear_override('host_url', 'docker')


@pytest.fixture
def drv(client):
    return driver_mod.DockerDriver(virtapi=None, host=host.Host(client))


@pytest.mark.parametrize('call', sorted(CALLS))
def test_engine_gone(fake_engine, client, drv, call):
    drv.init_host('node-1')
    fake_engine.stop()
    client.close()  # its connections went with the engine
    with pytest.raises(exception.HypervisorUnavailable,
                       match=fake_engine.url):
        CALLS[call](drv, nova_objects.instance())


@pytest.mark.parametrize('call', sorted(CALLS))
def test_engine_hung(fake_engine, drv, call):
    drv.init_host('node-1')
    # Up, but answering nothing within the read timeout.
    for method in ('GET', 'POST'):
        fake_engine.route(method, '/containers/.*', json={}, delay=5)
    with pytest.raises(exception.HypervisorUnavailable):
        CALLS[call](drv, nova_objects.instance())
