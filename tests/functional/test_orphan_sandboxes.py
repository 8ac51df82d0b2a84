"""A sandbox whose workload was never made (nova-compute died between the
two creates) is found and removed when nova-compute starts again, and
listed for nova's clean-up of deleted instances meanwhile; sandboxes of
live instances and of other hosts are left alone. A private engine of the
test's own (tests/fixtures/private_engine.py), shared by two hosts."""

import time

import pytest

from nova_docker import container
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from nova_docker import labels
from nova_docker import sandbox_image
from tests.fixtures import drivers
from tests.fixtures import images as image_fixtures
from tests.fixtures import private_engine as private_fixtures
from tests.fixtures import nova_objects

private_engine = private_fixtures.private_engine

# The grace of the restarts here, in seconds: short, so the test waits
# little; an engine's 'Created' is in whole seconds.
GRACE = 2
# Ends at once on SIGTERM (a shell as PID 1 ignores it).
IDLE = "/bin/sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'"


@pytest.fixture
def driver_for(image_api):
    """driver_for(engine, host, grace=GRACE) -> a started DockerDriver of
    compute ``host`` on ``engine`` (a start of nova-compute)."""
    driver_mod.CONF.set_override('shared_engine', True, 'docker')

    def make(engine, host, grace=GRACE):
        return drivers.started_driver(engine.url, host, image_api,
                                      orphan_sandbox_grace=grace)

    yield make
    driver_mod.CONF.clear_override('host_url', 'docker')
    driver_mod.CONF.clear_override('shared_engine', 'docker')


def make_orphan_sandbox(engine, host):
    """The sandbox the driver's first create makes, and no workload:
    what a nova-compute that died between its two creates leaves."""
    inst = nova_objects.instance()
    api = engine.api()
    try:
        arch = api.get('/info').json()['Architecture']
        client = host_mod.client_from_conf()
        image = sandbox_image.ensure_image(client, arch)
        client.close()
        body = container.sandbox_body(inst, image, host=host, node=host)
        api.post('/containers/create', json=body,
                 params={'name': labels.sandbox_name(inst)}
                 ).raise_for_status()
    finally:
        api.close()
    return inst


def names_on(engine):
    api = engine.api()
    try:
        return {n.lstrip('/') for c in api.containers()
                for n in c.get('Names') or []}
    finally:
        api.close()


def test_a_restart_removes_this_hosts_sandboxes_without_workload(
        private_engine, driver_for, image_api):
    engine = private_engine()
    first = driver_for(engine, 'compute-a')
    meta = image_api.add(image_fixtures.docker_save_tar(None, ['/bin/sh']))
    meta.properties.os_command_line = IDLE
    live = nova_objects.instance()
    first.spawn(None, live, meta, [], None, {})
    orphan = make_orphan_sandbox(engine, 'compute-a')
    of_another_host = make_orphan_sandbox(engine, 'compute-b')

    # A sandbox younger than the grace may be a boot in progress.
    driver_for(engine, 'compute-a', grace=host_mod.ORPHAN_SANDBOX_GRACE)
    assert labels.sandbox_name(orphan) in names_on(engine)

    time.sleep(GRACE + 1)
    driver_for(engine, 'compute-a')  # nova-compute starts again

    names = names_on(engine)
    assert labels.sandbox_name(orphan) not in names
    assert {labels.sandbox_name(live), labels.container_name(live),
            labels.sandbox_name(of_another_host)} <= names
    first.destroy(None, live, None)
    driver_for(engine, 'compute-b', grace=0)
    assert names_on(engine) == set()


def test_destroy_removes_a_sandbox_alone(private_engine, driver_for):
    """While the service runs, nova's clean-up of deleted (or evacuated)
    instances sees a sandbox alone among the instances here, and its
    destroy removes it."""
    engine = private_engine()
    drv = driver_for(engine, 'compute-a')
    orphan = make_orphan_sandbox(engine, 'compute-a')
    make_orphan_sandbox(engine, 'compute-b')
    assert drv.list_instance_uuids() == [orphan.uuid]
    drv.destroy(None, orphan, None)
    assert drv.list_instance_uuids() == []
    driver_for(engine, 'compute-b', grace=0)
    assert names_on(engine) == set()
