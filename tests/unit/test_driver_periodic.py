"""The engine calls behind nova-compute's periodic tasks, counted on a
fake engine: a pass over every instance of the host must not cost an
engine call per instance (benchmarks/density.py times them for real)."""

import concurrent.futures
import json
import re
import uuid

from nova.compute import power_state
import pytest

from nova_docker import driver as driver_mod
from nova_docker.docker import DockerClient
from nova_docker import host as host_mod
from nova_docker.image import names
from nova_docker import labels
from tests.fixtures import nova_objects

NODE = 'node-1'


@pytest.fixture
def client(fake_engine):
    driver_mod.CONF.set_override('host_url', fake_engine.url, 'docker')
    yield DockerClient(fake_engine.url, connect_timeout=2, read_timeout=5)
    driver_mod.CONF.clear_override('host_url', 'docker')


@pytest.fixture
def drv(client):
    drv = driver_mod.DockerDriver(virtapi=None, host=host_mod.Host(client))
    drv.init_host(NODE)
    return drv


def workload(inst, state):
    """An instance's workload as ``GET /containers/json`` lists it."""
    return {'Id': inst.uuid, 'Names': ['/' + labels.container_name(inst)],
            'State': state, 'Labels': {
                labels.LABEL_INSTANCE_UUID: inst.uuid,
                labels.LABEL_HOST: NODE, labels.LABEL_SANDBOX_OF: ''}}


def sandbox(inst):
    return {'Id': inst.uuid + '-s',
            'Names': ['/' + labels.sandbox_name(inst)], 'State': 'running',
            'Labels': {labels.LABEL_INSTANCE_UUID: '',
                       labels.LABEL_HOST: NODE,
                       labels.LABEL_SANDBOX_OF: inst.uuid}}


def inspected(state):
    return {'State': {'Status': state, 'Running': state == 'running',
                      'Paused': state == 'paused'}}


def listing(fake_engine, instances_and_states):
    listed = []
    for inst, state in instances_and_states:
        listed += [sandbox(inst), workload(inst, state)]
    fake_engine.route('GET', '/containers/json', json=listed)


def engine_calls(fake_engine):
    """(method, path) of every container call since the driver started."""
    return [(r.method, re.sub(r'^/v[\d.]+', '', r.path))
            for r in fake_engine.requests if '/containers/' in r.path]


def count(fake_engine, method, path):
    return engine_calls(fake_engine).count((method, path))


def sync_power_states(drv, instances):
    """As nova's _sync_power_states: the count, then get_info of each
    instance from a pool of [DEFAULT] sync_power_state_pool_size."""
    drv.get_num_instances()
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        return list(pool.map(lambda i: drv.get_info(i).state, instances))


def test_a_power_state_sync_lists_once_and_inspects_nothing(
        fake_engine, drv):
    instances = [nova_objects.instance() for _ in range(20)]
    states = ['running', 'exited', 'paused', 'created'] * 5
    listing(fake_engine, list(zip(instances, states, strict=True)))
    fake_engine.requests.clear()
    found = sync_power_states(drv, instances)
    assert found == [power_state.RUNNING, power_state.SHUTDOWN,
                     power_state.PAUSED, power_state.SHUTDOWN] * 5
    assert engine_calls(fake_engine) == [('GET', '/containers/json')]


def test_a_suspended_instance_is_suspended_from_the_listing(
        fake_engine, drv):
    inst = nova_objects.instance(vm_state='suspended')
    listing(fake_engine, [(inst, 'paused')])
    assert drv.get_info(inst).state == power_state.SUSPENDED


def test_get_info_without_the_cache_inspects(fake_engine, drv):
    inst = nova_objects.instance()
    listing(fake_engine, [(inst, 'running')])
    name = labels.container_name(inst)
    fake_engine.route('GET', '/containers/%s/json' % name,
                      json=inspected('exited'))
    # nova's _get_power_state after an action: the engine's word now.
    assert drv.get_info(inst, use_cache=False).state == power_state.SHUTDOWN
    assert count(fake_engine, 'GET', '/containers/%s/json' % name) == 1


def test_an_instance_the_listing_lacks_is_inspected(fake_engine, drv):
    listed, fresh = nova_objects.instance(), nova_objects.instance()
    listing(fake_engine, [(listed, 'running')])
    drv.get_info(listed)
    name = labels.container_name(fresh)
    fake_engine.route('GET', '/containers/%s/json' % name,
                      json=inspected('running'))
    # Made after the listing: its own inspect, not "not found".
    assert drv.get_info(fresh).state == power_state.RUNNING
    assert count(fake_engine, 'GET', '/containers/%s/json' % name) == 1


def test_a_change_made_here_is_seen_at_the_next_get_info(fake_engine, drv):
    inst = nova_objects.instance()
    listing(fake_engine, [(inst, 'running')])
    assert drv.get_info(inst).state == power_state.RUNNING
    name = labels.container_name(inst)
    fake_engine.route('GET', '/containers/%s/json' % name,
                      json=inspected('running'))
    fake_engine.route('POST', '/containers/.*/stop', status=204)
    listing(fake_engine, [(inst, 'exited')])
    drv.power_off(inst)
    assert drv.get_info(inst).state == power_state.SHUTDOWN


def test_a_listing_is_reused_for_a_moment_only(fake_engine, client):
    now = [100.0]
    host = host_mod.Host(client, state_cache_seconds=2,
                         clock=lambda: now[0])
    drv = driver_mod.DockerDriver(virtapi=None, host=host)
    drv.init_host(NODE)
    inst = nova_objects.instance()
    listing(fake_engine, [(inst, 'running')])
    fake_engine.requests.clear()
    drv.get_info(inst)
    now[0] += 1.5
    drv.get_info(inst)
    assert count(fake_engine, 'GET', '/containers/json') == 1
    listing(fake_engine, [(inst, 'exited')])
    now[0] += 1
    # A container that exited by itself: seen once the listing is old.
    assert drv.get_info(inst).state == power_state.SHUTDOWN
    assert count(fake_engine, 'GET', '/containers/json') == 2


def test_an_image_cache_pass_lists_no_container_when_instances_use_all(
        fake_engine, drv):
    booted = nova_objects.instance(image_ref=str(uuid.uuid4()))
    fake_engine.route('GET', '/images/json', json=[
        {'Id': 'sha256:1', 'RepoTags': [names.local_ref(booted.image_ref)]},
        {'Id': 'sha256:2', 'RepoTags': ['busybox:latest']}])
    fake_engine.route('POST', '/images/.*/tag', status=201)
    fake_engine.requests.clear()
    drv.manage_image_cache(None, [booted])
    # Every cached image is an instance's: what containers run cannot
    # change the verdict, and listing them all is the pass's dearest call.
    assert count(fake_engine, 'GET', '/containers/json') == 0
    assert len(fake_engine.requests_to('POST', '/images/.*/tag')) == 1


def test_the_state_listing_asks_the_engine_for_workloads_only(
        fake_engine, drv):
    inst = nova_objects.instance()
    listing(fake_engine, [(inst, 'running')])
    fake_engine.requests.clear()
    drv.get_info(inst)
    listed = fake_engine.requests_to('GET', '/containers/json')
    # Sandboxes carry an empty instance label, workloads an empty
    # sandbox label: half the summaries the engine builds and sends.
    assert json.loads(listed[0].query['filters'][0])['label'] == [
        labels.LABEL_INSTANCE_UUID, '%s=%s' % (labels.LABEL_HOST, NODE),
        labels.LABEL_SANDBOX_OF + '=']
