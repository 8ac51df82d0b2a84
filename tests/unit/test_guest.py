"""A Guest: one instance's workload and sandbox, through the client, on a
fake engine."""

import re

import pytest
from nova import exception

from nova_docker import guest as guest_mod
from tests.fixtures import nova_objects


@pytest.fixture
def guest(client):
    return guest_mod.Guest(client, nova_objects.instance())


def inspected(running, pid=4242, mode='none', paused=False):
    return {'State': {'Status': 'running' if running else 'exited',
                      'Running': running, 'Paused': paused, 'Pid': pid},
            'HostConfig': {'NetworkMode': mode}}


def calls(fake_engine):
    """(method, path) of every container call, in order."""
    return [(r.method, re.sub(r'^/v[\d.]+', '', r.path))
            for r in fake_engine.requests if '/containers/' in r.path]


def test_start_runs_the_sandbox_then_wires_then_starts_the_workload(
        fake_engine, guest):
    sandbox, workload = guest.sandbox, guest.name
    fake_engine.route('GET', '/containers/%s/json' % workload,
                      json=inspected(False, mode='container:' + sandbox))
    fake_engine.route('GET', '/containers/%s/json' % sandbox,
                      json=inspected(False))
    fake_engine.route('POST', '/containers/%s/start' % sandbox, status=204)
    fake_engine.route('POST', '/containers/%s/start' % workload, status=204)
    wired = []

    def wire(netns):
        # Once wired, the sandbox the engine shows runs.
        wired.append((netns, len(fake_engine.requests_to(
            'POST', '/containers/%s/start' % sandbox))))
        fake_engine.route('GET', '/containers/%s/json' % sandbox,
                          json=inspected(True))

    guest.start(wire)
    assert wired == [('/proc/4242/ns/net', 1)]
    assert calls(fake_engine)[-1] == (
        'POST', '/containers/%s/start' % workload)


def test_start_readies_the_volumes_after_the_wiring_before_the_workload(
        fake_engine, guest):
    sandbox, workload = guest.sandbox, guest.name
    fake_engine.route('GET', '/containers/%s/json' % workload,
                      json=inspected(False, mode='container:' + sandbox))
    fake_engine.route('GET', '/containers/%s/json' % sandbox,
                      json=inspected(True))
    fake_engine.route('POST', '/containers/%s/start' % workload, status=204)
    order = []

    def before():
        order.append(('before', len(fake_engine.requests_to(
            'POST', '/containers/%s/start' % workload))))

    guest.start(lambda netns: order.append(('wire', netns)), before=before)
    assert order == [('wire', '/proc/4242/ns/net'), ('before', 0)]
    assert calls(fake_engine)[-1] == (
        'POST', '/containers/%s/start' % workload)


def test_a_start_whose_volumes_fail_never_starts_the_workload(fake_engine,
                                                              guest):
    fake_engine.route('GET', '/containers/%s/json' % guest.name,
                      json=inspected(False))

    def before():
        raise exception.VolumeAttachFailed(volume_id='v', reason='refused')

    with pytest.raises(exception.VolumeAttachFailed):
        guest.start(lambda netns: None, before=before)
    assert not fake_engine.requests_to(
        'POST', '/containers/%s/start' % guest.name)


def test_a_workload_without_a_sandbox_starts_as_it_is(fake_engine, guest):
    fake_engine.route('GET', '/containers/%s/json' % guest.name,
                      json=inspected(False))
    fake_engine.route('POST', '/containers/%s/start' % guest.name,
                      status=204)
    guest.start(lambda netns: pytest.fail('nothing to wire'))
    assert not fake_engine.requests_to(
        'GET', '/containers/%s/json' % guest.sandbox)


def test_a_workload_the_engine_cannot_start_is_a_deploy_failure(
        fake_engine, guest):
    fake_engine.route('GET', '/containers/%s/json' % guest.name,
                      json=inspected(False))
    fake_engine.route('POST', '/containers/%s/start' % guest.name,
                      status=500, json={'message': 'exec format error'})
    with pytest.raises(exception.InstanceDeployFailure,
                       match='did not start: exec format error'):
        guest.start(lambda netns: None)


def test_a_refused_create_names_the_container(fake_engine, guest):
    fake_engine.route('POST', '/containers/create', status=409,
                      json={'message': 'name already in use'})
    with pytest.raises(exception.InstanceDeployFailure,
                       match='refused the container %s: name already'
                             % guest.sandbox):
        guest.create({'Image': 'pause'}, {'Image': 'app'})


def test_a_missing_workload_is_instance_not_found(fake_engine, guest):
    fake_engine.route('GET', '/containers/.*', status=404,
                      json={'message': 'No such container'})
    with pytest.raises(exception.InstanceNotFound,
                       match=guest.instance.uuid):
        guest.get_power_state()
    assert guest.sandbox_netns() is None


def test_killing_a_stopped_workload_is_done(fake_engine, guest):
    fake_engine.route('POST', '/containers/%s/kill' % guest.name,
                      status=409, json={'message': 'is not running'})
    guest.kill()
    assert fake_engine.requests_to('POST',
                                   '/containers/%s/kill' % guest.name)


def test_remove_takes_both_and_gone_is_fine(fake_engine, guest):
    fake_engine.route('DELETE', '/containers/%s' % guest.name, status=204)
    fake_engine.route('DELETE', '/containers/%s' % guest.sandbox,
                      status=404, json={'message': 'No such container'})
    guest.remove()
    assert [path for method, path in calls(fake_engine)
            if method == 'DELETE'] == [
        '/containers/%s' % guest.name, '/containers/%s' % guest.sandbox]


def test_thaw_unpauses_only_a_frozen_workload(fake_engine, guest):
    fake_engine.route('GET', '/containers/%s/json' % guest.name,
                      json=inspected(True))
    fake_engine.route('POST', '/containers/%s/unpause' % guest.name,
                      status=204)
    guest.thaw()
    assert not fake_engine.requests_to(
        'POST', '/containers/%s/unpause' % guest.name)
    fake_engine.route('GET', '/containers/%s/json' % guest.name,
                      json=inspected(True, paused=True))
    guest.thaw()
    assert fake_engine.requests_to(
        'POST', '/containers/%s/unpause' % guest.name)
