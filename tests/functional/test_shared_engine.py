"""Two compute hosts and one engine: each acts only on its own containers,
and an engine shared by mistake stops the second nova-compute at start.
A private engine of the test's own, so no other run's containers count.
"""

import pytest

from nova_docker import driver as driver_mod
from nova_docker import exception as docker_exception
from tests.fixtures import drivers
from tests.fixtures import engine_faults as faults
from tests.fixtures import private_engine as private_fixtures

# The private-engine fixtures, used here under the names test_faults uses.
private_engine = private_fixtures.private_engine
image_api = faults.image_api


@pytest.fixture
def driver_for(image_api):
    """driver_for(engine, host) -> a started DockerDriver of compute
    ``host`` on ``engine``."""
    def make(engine, host):
        return drivers.started_driver(engine.url, host, image_api)

    yield make
    driver_mod.CONF.clear_override('host_url', 'docker')
    driver_mod.CONF.clear_override('shared_engine', 'docker')


def test_a_second_compute_on_the_engine_is_refused_at_start(
        private_engine, driver_for, image_api):
    engine = private_engine()
    first = driver_for(engine, 'compute-a')
    inst = faults.new_instance()
    faults.boot(first, inst, faults.idle_meta(image_api))
    with pytest.raises(docker_exception.EngineOfAnotherHost,
                       match='compute-a.*shared_engine = true'):
        driver_for(engine, 'compute-b')
    first.destroy(None, inst, None)


def test_on_a_shared_engine_each_host_sees_only_its_own(
        private_engine, driver_for, image_api):
    engine = private_engine()
    driver_mod.CONF.set_override('shared_engine', True, 'docker')
    a, b = driver_for(engine, 'compute-a'), driver_for(engine, 'compute-b')
    meta = faults.idle_meta(image_api)
    on_a, on_b = faults.new_instance(), faults.new_instance()
    faults.boot(a, on_a, meta)
    faults.boot(b, on_b, meta)
    assert a.list_instance_uuids() == [on_a.uuid]
    assert b.list_instance_uuids() == [on_b.uuid]
    assert not b.instance_exists(on_a)
    for drv, inst in ((a, on_a), (b, on_b)):
        drv.destroy(None, inst, None)
    assert faults.what_is_left(engine)[0] == []
