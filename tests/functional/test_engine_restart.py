"""The event follower and the driver across restarts of a private engine.

Each test runs a dockerd of its own (tests.fixtures.private_engine): the
shared engine is never stopped.
"""

import threading
import time

import pytest
from nova import exception
from nova.virt import event as virtevent

from nova_docker import container
from nova_docker import events
from nova_docker.docker import DockerClient
from nova_docker import labels
from tests.fixtures.lifecycle import Events
from tests.fixtures import private_engine as private_fixtures
from tests.fixtures import nova_objects

# Runs once per engine kind (tests/fixtures/engines.py).
pytestmark = pytest.mark.every_engine

STARTED = virtevent.EVENT_LIFECYCLE_STARTED
STOPPED = virtevent.EVENT_LIFECYCLE_STOPPED
# Ends at once on SIGTERM (a shell as PID 1 ignores it; the engine would
# wait its 10 s stop timeout).
IDLE = "/bin/sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'"
STOP_DELAY = 0.5
# Driver calls while the engine is down must fail well within this.
FAIL_FAST = 15


# A dockerd of the test's own (see tests/fixtures/private_engine.py).
private_engine = private_fixtures.private_engine


def load_busybox(engine):
    return private_fixtures.load_busybox(engine, IDLE)


class GatedBackoff(events.Backoff):
    """Holds the watcher between attempts until the test opens the gate,
    so that the stream stays down while the test changes the engine."""

    def __init__(self):
        super().__init__(first=0.1, cap=0.5)
        self.gate = threading.Event()
        self.held = threading.Event()

    def next(self):
        self.held.set()
        self.gate.wait(60)
        return super().next()


def run_instance(client, image, host='test-node'):
    """A running container for a new instance, labelled as the driver of
    compute ``host`` labels it."""
    meta, ref = image
    instance = nova_objects.instance()
    name = labels.container_name(instance)
    client.create_container(
        container.create_body(instance, meta, ref, 1024, image_id=meta.id,
                              host=host, node=host,
                              ulimits=facts(client).ulimits),
        name=name)
    client.start_container(name)
    return instance


def facts(client):
    """What the driver knows of the engine (its dialect)."""
    from nova_docker import host as host_mod
    return host_mod.Host(client).facts


def running(client, instance):
    state = client.inspect_container(labels.container_name(instance))
    return state['State']['Running']


@pytest.fixture
def watch():
    """watch(engine, backoff=None) -> (watcher, Events), following."""
    made = []

    def make(engine, backoff=None):
        got = Events()
        watcher = events.EventWatcher(
            DockerClient(engine.url), got, stop_delay=STOP_DELAY,
            backoff=backoff or events.Backoff(first=0.2, cap=1.0))
        made.append((watcher, backoff))
        watcher.start()
        assert watcher.wait_following(30)
        return watcher, got

    yield make
    for watcher, backoff in made:
        if isinstance(backoff, GatedBackoff):
            backoff.gate.set()
        watcher.stop()
        assert not watcher.alive


@pytest.mark.parametrize('how', ['stop', 'kill'])
def test_restart_without_live_restore_is_heard_as_stopped(
        private_engine, watch, how):
    engine = private_engine()
    client = DockerClient(engine.url)
    instance = run_instance(client, load_busybox(engine))
    watcher, got = watch(engine)
    assert got.none_for(instance.uuid, STOP_DELAY)

    # SIGTERM: the engine stops the container and says so before it
    # exits; SIGKILL: it says nothing, and stops the container when it
    # starts again. Either way the watcher reconnects by itself.
    # Podman's containers outlive its service (they are conmon's).
    kept = facts(client).keeps_running
    getattr(engine, how)()
    engine.start()
    assert watcher.wait_following(30)
    if not kept:
        assert got.next_for(instance.uuid) == STOPPED
    assert running(client, instance) is kept
    assert got.none_for(instance.uuid, STOP_DELAY + 1)


def test_live_restore_keeps_running_and_resync_finds_new_starts(
        private_engine, watch):
    engine = private_engine(live_restore=True)
    client = DockerClient(engine.url)
    image = load_busybox(engine)
    kept = run_instance(client, image)
    backoff = GatedBackoff()
    watcher, got = watch(engine, backoff)

    engine.stop()
    assert backoff.held.wait(30)  # the stream is down, the watcher waits
    engine.start()
    started = run_instance(client, image)  # while the stream was down
    backoff.gate.set()
    assert watcher.wait_following(30)

    assert got.next_for(started.uuid) == STARTED
    assert running(client, kept)
    assert got.none_for(kept.uuid, STOP_DELAY + 2)


@pytest.mark.parametrize('how', ['stop', 'kill'])
def test_driver_calls_fail_fast_while_the_engine_is_down(private_engine,
                                                         how):
    from nova_docker import driver as driver_mod
    from nova_docker import host as host_mod

    engine = private_engine()
    driver_mod.CONF.set_override('host_url', engine.url, 'docker')
    try:
        client = host_mod.client_from_conf()
        drv = driver_mod.DockerDriver(virtapi=None,
                                      host=host_mod.Host(client))
        drv.init_host('test-node')
        instance = run_instance(client, load_busybox(engine))
        assert drv.list_instances() == [instance.name]

        getattr(engine, how)()
        calls = {
            'get_info': lambda: drv.get_info(instance),
            'list_instances': drv.list_instances,
            'power_on': lambda: drv.power_on(None, instance, None),
        }
        for name, call in calls.items():
            began = time.monotonic()
            with pytest.raises(exception.HypervisorUnavailable,
                               match=engine.url):
                call()
            assert time.monotonic() - began < FAIL_FAST, name
    finally:
        driver_mod.CONF.clear_override('host_url', 'docker')
