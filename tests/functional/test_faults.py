"""The driver when its engine dies: a fault suite on a private dockerd.

Each test runs a dockerd of its own (tests.fixtures.private_engine) and a
DockerDriver configured for it through ``[docker] host_url``, as
nova-compute builds one. The engine is killed (SIGKILL) or stopped
(SIGTERM) in the middle of a spawn, a destroy, a snapshot and a
cache_image; each case must end

* in a nova exception (HypervisorUnavailable kin where the driver owns
  the mapping, else the documented nova exception of the call),
* within FAULT_BOUND seconds of the fault (no hang),
* with nothing left on the engine once it is back (no container, no
  ``glance/<id>`` image, no committed image, no temp file),
* and with the same driver object booting again, without a restart of
  nova-compute.

It also covers what get_info says after an engine restart with and
without live-restore, and how a new driver (a restarted nova-compute)
finds every container of the old one again, half-created ones too.
"""

import threading
import time

import pytest
from nova.compute import power_state
from nova import exception

from nova_docker import container
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from nova_docker import images
from nova_docker.image import names as image_names
from nova_docker import labels
from tests.fixtures import engine_faults as fault_fixtures
from tests.fixtures.engine_faults import boot
from tests.fixtures.engine_faults import idle_meta
from tests.fixtures.engine_faults import new_instance
from tests.fixtures.engine_faults import what_is_left
from tests.fixtures import private_engine as private_fixtures

# Seconds from the fault to the driver's exception: generous, it only
# has to tell "failed" from "hangs".
FAULT_BOUND = 30
# One chunk per this many seconds: the whole download would take ~2.5 s,
# so the engine is killed well inside it.
SLOW = 0.01


# -- fixtures -------------------------------------------------------------

# The compute host (and node) of the drivers here.
NODE = 'fault-node'

# A dockerd of the test's own (see tests/fixtures/private_engine.py).
private_engine = private_fixtures.private_engine
# A SlowImageAPI (see tests/fixtures/image_api.py).
image_api = fault_fixtures.image_api


@pytest.fixture
def make_driver(image_api):
    """make_driver(engine) -> a DockerDriver built from ``[docker]
    host_url`` pointing at ``engine``, reading images from ``image_api``;
    with ``with_client``, (driver, its engine client) for a test that
    makes the engine fail at one of its calls.
    """
    def make(engine, with_client=False):
        driver_mod.CONF.set_override('host_url', engine.url, 'docker')
        client = host_mod.client_from_conf()
        drv = driver_mod.DockerDriver(virtapi=None,
                                      host=host_mod.Host(client),
                                      image_api=image_api)
        drv.init_host(NODE)
        return (drv, client) if with_client else drv

    yield make
    driver_mod.CONF.clear_override('host_url', 'docker')


@pytest.fixture
def download_dir(tmp_path):
    """``[docker] image_download_dir`` set to an empty temp dir."""
    driver_mod.CONF.set_override('image_download_dir', str(tmp_path),
                                 'docker')
    yield tmp_path
    driver_mod.CONF.clear_override('image_download_dir', 'docker')


# -- helpers --------------------------------------------------------------

def slowly(image_api, call):
    """``call`` with the image service slow (SLOW s a chunk); it is fast
    again when the call ends."""
    def slow_call():
        image_api.delay = SLOW
        try:
            call()
        finally:
            image_api.delay = 0.0
    return slow_call


def fail_during(call, reached, fault):
    """Run ``call`` in a thread; once ``reached`` is set, ``fault()``.

    Returns the exception ``call`` raised and the seconds from the fault
    to its end; fails if it did not end within FAULT_BOUND (no hang).
    """
    outcome = {}

    def run():
        try:
            call()
        except Exception as exc:  # the outcome under test
            outcome['exc'] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert reached.wait(FAULT_BOUND), 'the call never reached the fault'
    began = time.monotonic()
    fault()
    thread.join(FAULT_BOUND)
    took = time.monotonic() - began
    assert not thread.is_alive(), 'still running %d s after the fault' % (
        FAULT_BOUND)
    assert 'exc' in outcome, 'the call succeeded despite the fault'
    return outcome['exc'], took


def before_call(monkeypatch, client, method, fault, when=None):
    """``fault()`` just before the client's ``method`` goes to the engine
    (the first call whose arguments ``when`` accepts), once: the engine
    dies as the driver reaches it."""
    real = getattr(client, method)
    fired = []

    def wrapped(*args, **kwargs):
        if not fired and (when is None or when(*args, **kwargs)):
            fired.append(True)
            fault()
        return real(*args, **kwargs)

    monkeypatch.setattr(client, method, wrapped)


def image_ids(engine):
    api = engine.api()
    try:
        return {i['Id'] for i in api.images()}
    finally:
        api.close()


def assert_boots_again(drv, meta, engine):
    """The same driver object spawns (and removes) an instance."""
    inst = new_instance()
    boot(drv, inst, meta)
    assert drv.get_info(inst).state == power_state.RUNNING
    drv.destroy(None, inst, None)
    assert not drv.instance_exists(inst)


def assert_engine_error(exc, engine):
    """HypervisorUnavailable, naming the engine the operator must fix."""
    assert isinstance(exc, exception.HypervisorUnavailable), repr(exc)
    assert engine.url in str(exc), str(exc)


# -- (a) spawn -----------------------------------------------------------

@pytest.mark.parametrize('how', ['kill', 'stop'])
def test_engine_dies_during_the_image_load_of_a_spawn(
        private_engine, make_driver, image_api, how):
    engine = private_engine()
    drv = make_driver(engine)
    meta = idle_meta(image_api, big=True)

    exc, _took = fail_during(
        slowly(image_api, lambda: boot(drv, new_instance(), meta)),
        image_api.midway, getattr(engine, how))

    # The load broke off: a nova exception naming the engine.
    assert_engine_error(exc, engine)
    engine.start()
    assert what_is_left(engine) == ([], [])
    assert_boots_again(drv, meta, engine)


@pytest.mark.parametrize('call', ['spawn', 'cache_image'])
def test_engine_down_before_the_image_is_looked_up(
        private_engine, make_driver, image_api, call):
    engine = private_engine()
    drv = make_driver(engine)
    meta = idle_meta(image_api)
    engine.kill()
    with pytest.raises(exception.HypervisorUnavailable):
        if call == 'spawn':
            boot(drv, new_instance(), meta)
        else:
            drv.cache_image(None, meta.id)


def is_sandbox(container, *args, **kwargs):
    return container.endswith('-sandbox')


def is_workload(container, *args, **kwargs):
    return not is_sandbox(container)


@pytest.mark.parametrize('started', ['sandbox', 'workload'])
def test_engine_dies_between_create_and_start(
        private_engine, make_driver, image_api, monkeypatch, started):
    # The sandbox is created and started before the driver looks at the
    # ports (while Neutron binds them), the workload after: the engine can
    # die before either start.
    engine = private_engine()
    drv, client = make_driver(engine, with_client=True)
    meta = idle_meta(image_api)
    drv.cache_image(None, meta.id)
    kept = image_ids(engine)
    inst = new_instance()
    before_call(monkeypatch, client, 'start_container', engine.kill,
                when=is_sandbox if started == 'sandbox' else is_workload)

    began = time.monotonic()
    with pytest.raises(exception.HypervisorUnavailable, match=engine.url):
        boot(drv, inst, meta)
    assert time.monotonic() - began < FAULT_BOUND

    # What was created could not be removed with the engine down: nova's
    # clean-up of a failed build (destroy) removes it.
    engine.start()
    assert inst.uuid in drv.list_instance_uuids()
    assert drv.instance_exists(inst) is (started == 'workload')
    drv.destroy(None, inst, None)
    assert what_is_left(engine, kept) == ([], [])
    assert_boots_again(drv, meta, engine)


# -- (b) destroy ---------------------------------------------------------

@pytest.mark.parametrize('how', ['kill', 'stop'])
def test_engine_dies_during_destroy(private_engine, make_driver, image_api,
                                    monkeypatch, how):
    engine = private_engine()
    drv, client = make_driver(engine, with_client=True)
    meta = idle_meta(image_api)
    inst = new_instance()
    boot(drv, inst, meta)
    kept = image_ids(engine)
    before_call(monkeypatch, client, 'remove_container',
                getattr(engine, how))

    began = time.monotonic()
    with pytest.raises(exception.HypervisorUnavailable, match=engine.url):
        drv.destroy(None, inst, None)
    assert time.monotonic() - began < FAULT_BOUND

    # nova keeps the instance in ERROR/deleting; the next delete works.
    engine.start()
    drv.destroy(None, inst, None)
    assert not drv.instance_exists(inst)
    assert what_is_left(engine, kept) == ([], [])
    assert_boots_again(drv, meta, engine)


# -- (c) snapshot --------------------------------------------------------

def snapshot_states(task_state, expected_state=None):
    """update_task_state as nova passes it; nothing to record here."""


@pytest.mark.parametrize('how', ['kill', 'stop'])
def test_engine_dies_during_the_upload_of_a_snapshot(
        private_engine, make_driver, image_api, monkeypatch, how):
    engine = private_engine()
    drv = make_driver(engine)
    meta = idle_meta(image_api, big=True)
    inst = new_instance()
    boot(drv, inst, meta)
    kept = image_ids(engine)
    image_api.midway.clear()
    snap_id = 'snap-' + inst.uuid

    exc, _took = fail_during(
        slowly(image_api,
               lambda: drv.snapshot(None, inst, snap_id, snapshot_states)),
        image_api.midway, getattr(engine, how))

    # The documented failure of a snapshot, naming the engine; the
    # half-uploaded Glance image was deleted.
    assert_engine_error(exc, engine)
    assert image_api.deleted == [snap_id]
    engine.start()
    # The committed image could not be removed with the engine down; its
    # tag names it as a leftover, which nova's periodic image cache pass
    # removes.
    _names, left = what_is_left(engine, kept)
    assert [tags for _id, tags in left] == [
        [image_names.commit_ref(snap_id)]]
    drv.manage_image_cache(None, [])
    # The instance's container stays (stopped: no live-restore).
    drv.destroy(None, inst, None)
    assert what_is_left(engine, kept) == ([], [])
    assert_boots_again(drv, meta, engine)


def test_engine_down_at_the_commit_of_a_snapshot(
        private_engine, make_driver, image_api, monkeypatch):
    engine = private_engine()
    drv, client = make_driver(engine, with_client=True)
    meta = idle_meta(image_api)
    inst = new_instance()
    boot(drv, inst, meta)
    kept = image_ids(engine)
    before_call(monkeypatch, client, 'commit_container', engine.kill)

    began = time.monotonic()
    with pytest.raises(exception.HypervisorUnavailable, match=engine.url):
        drv.snapshot(None, inst, 'snap-' + inst.uuid, snapshot_states)
    assert time.monotonic() - began < FAULT_BOUND

    engine.start()
    drv.destroy(None, inst, None)
    assert what_is_left(engine, kept) == ([], [])


# -- (d) cache_image -----------------------------------------------------

def slow_load(monkeypatch, client, midway):
    """The engine takes the load's pieces slowly (as a busy disk would),
    so the request is in flight when the engine dies."""
    real = client.load_image

    def load_image(data):
        def pieces():
            for number, piece in enumerate(data):
                if number == 1:
                    midway.set()
                time.sleep(0.05)
                yield piece
        return real(pieces())

    monkeypatch.setattr(client, 'load_image', load_image)


@pytest.mark.parametrize('how', ['kill', 'stop'])
def test_engine_dies_during_cache_image(private_engine, make_driver,
                                        image_api, download_dir,
                                        monkeypatch, how):
    engine = private_engine()
    drv, client = make_driver(engine, with_client=True)
    meta = idle_meta(image_api, big=True)
    loading = threading.Event()
    slow_load(monkeypatch, client, loading)

    exc, _took = fail_during(lambda: drv.cache_image(None, meta.id),
                             loading, getattr(engine, how))

    assert_engine_error(exc, engine)
    engine.start()
    assert what_is_left(engine) == ([], [])
    assert list(download_dir.iterdir()) == []
    monkeypatch.undo()  # the engine loads at its own pace again
    assert drv.cache_image(None, meta.id) is True
    assert_boots_again(drv, meta, engine)
    assert list(download_dir.iterdir()) == []


# -- restarts with instances running --------------------------------------

@pytest.mark.parametrize('live_restore, expected', [
    (False, power_state.SHUTDOWN),
    (True, power_state.RUNNING),
], ids=['no-live-restore', 'live-restore'])
@pytest.mark.parametrize('how', ['kill', 'stop'])
def test_get_info_after_an_engine_restart(private_engine, make_driver,
                                          image_api, how, live_restore,
                                          expected):
    engine = private_engine(live_restore=live_restore)
    drv = make_driver(engine)
    meta = idle_meta(image_api)
    running = [new_instance() for _ in range(2)]
    for inst in running:
        boot(drv, inst, meta)

    getattr(engine, how)()
    engine.start()

    assert [drv.get_info(inst).state for inst in running] == [expected] * 2
    assert_boots_again(drv, meta, engine)
    for inst in running:
        drv.destroy(None, inst, None)


# -- compute restart: a new driver finds the old one's containers ---------

def create_unstarted(engine, meta, image_ref):
    """A container as spawn creates it, never started (spawn died after
    the create), made through the engine API with the driver's labels."""
    inst = new_instance()
    body = container.create_body(inst, meta, image_ref, 1024,
                                 image_id=meta.id, host=NODE, node=NODE)
    api = engine.api()
    try:
        reply = api.post('/containers/create',
                         params={'name': labels.container_name(inst)},
                         json=body)
        assert reply.status_code == 201, reply.text
    finally:
        api.close()
    return inst


def test_a_new_driver_finds_and_removes_every_container_of_the_old_one(
        private_engine, make_driver, image_api, monkeypatch):
    engine = private_engine()
    old, client = make_driver(engine, with_client=True)
    meta = idle_meta(image_api)
    running = new_instance()
    boot(old, running, meta)
    stopped = new_instance()
    boot(old, stopped, meta)
    old.power_off(stopped)
    raw_created = create_unstarted(engine, meta, images.local_ref(meta.id))
    # Spawn died after the create: the engine went away before the start.
    half = new_instance()
    before_call(monkeypatch, client, 'start_container', engine.kill,
                when=is_workload)
    with pytest.raises(exception.HypervisorUnavailable):
        boot(old, half, meta)
    monkeypatch.undo()
    engine.start()
    kept = image_ids(engine)

    # nova-compute restarts: a new driver object, nothing carried over.
    new = make_driver(engine)
    everyone = [running, stopped, raw_created, half]
    assert sorted(new.list_instance_uuids()) == sorted(
        i.uuid for i in everyone)
    assert all(new.instance_exists(i) for i in everyone)
    assert new.get_info(half).state == power_state.SHUTDOWN
    for inst in everyone:
        new.destroy(None, inst, None)
    assert new.list_instance_uuids() == []
    assert what_is_left(engine, kept) == ([], [])
