"""The sandbox image on the real engine: made once, runs, owns a network
namespace another container can join, and stops at once with
STOP_SIGNAL.

The image goes under a repository of this run's own
(``nova-docker-test/sandbox-<hex>``), never the shared
``nova-docker/sandbox`` the driver uses, so removing it at the end cannot
pull an image from under the driver. Containers carry a label of the
run and are removed by the test that made them.
"""

import os
import time
import uuid

import pytest

from nova_docker import sandbox_image
from nova_docker.docker import DockerClient
from tests.fixtures import engine as engine_fixtures

RUN = uuid.uuid4().hex[:12]
REPO = 'nova-docker-test/sandbox-' + RUN
LABEL = 'nova-docker-test.sandbox-run'


@pytest.fixture(scope='module')
def client():
    engine_fixtures.require_engine()
    docker = DockerClient('unix://' + engine_fixtures.engine_socket(),
                          read_timeout=30)
    yield docker
    docker.close()


@pytest.fixture(scope='module')
def arch(client):
    return client.info()['Architecture']


def _ours(engine):
    containers = [c['Id'] for c in engine.containers()
                  if (c.get('Labels') or {}).get(LABEL) == RUN]
    images = [i['Id'] for i in engine.images()
              if any(t.startswith(REPO + ':')
                     for t in i.get('RepoTags') or [])]
    return containers, images


@pytest.fixture(scope='module')
def image(engine, client, arch):
    """The sandbox image under this run's repository; removed (with a
    check that nothing of the run is left) at the end of the module."""
    assert _ours(engine) == ([], [])
    name = sandbox_image.ensure_image(client, arch, repo=REPO)
    yield name
    engine.remove_image(name)
    assert _ours(engine) == ([], []), 'left on the engine'


@pytest.fixture
def containers(engine):
    """Factory of started containers, force-removed after the test."""
    made = []

    def run(image, network_mode, **config):
        body = dict(config, Image=image, Labels={LABEL: RUN},
                    HostConfig={'NetworkMode': network_mode})
        resp = engine._ok(engine.post(
            '/containers/create',
            params={'name': 'nova-docker-test-sandbox-' + uuid.uuid4().hex},
            json=body), 201)
        cid = resp.json()['Id']
        made.append(cid)
        engine._ok(engine.post('/containers/%s/start' % cid), 204)
        return cid

    yield run
    for cid in reversed(made):  # joiners before the sandbox they join
        engine.remove_container(cid)


def state(engine, cid):
    return engine._ok(engine.get('/containers/%s/json' % cid)).json()[
        'State']


def netns(pid):
    """Inode of a process's network namespace."""
    return os.stat('/proc/%d/ns/net' % pid).st_ino


def test_image_is_made_once(engine, client, arch, image):
    assert image == sandbox_image.image_name(arch, repo=REPO)
    first = engine.inspect_image(image)
    again = sandbox_image.ensure_image(client, arch, repo=REPO)
    assert again == image
    assert engine.inspect_image(image)['Id'] == first['Id']
    assert len(_ours(engine)[1]) == 1
    assert first['Config']['Cmd'] == ['/pause']
    assert first['Size'] == len(sandbox_image.pause_program(arch))
    # The tag is the content hash of the layer: its DiffID.
    (layer,) = first['RootFS']['Layers']
    assert layer.startswith('sha256:' + image.rsplit(':', 1)[1])


def test_sandbox_owns_a_netns_another_container_joins(engine, image,
                                                      containers):
    sandbox = containers(image, 'none',
                         StopSignal=sandbox_image.STOP_SIGNAL)
    sandbox_state = state(engine, sandbox)
    assert sandbox_state['Running'], sandbox_state
    pid = sandbox_state['Pid']
    assert os.path.exists('/proc/%d/ns/net' % pid)
    assert netns(pid) != netns(os.getpid())

    member = containers(image, 'container:' + sandbox,
                        StopSignal=sandbox_image.STOP_SIGNAL)
    member_state = state(engine, member)
    assert member_state['Running'], member_state
    assert member_state['Pid'] != pid
    assert netns(member_state['Pid']) == netns(pid)

    # STOP_SIGNAL makes a stop immediate although the program ignores
    # SIGTERM; the times are printed (-s), not asserted.
    for cid in (member, sandbox):
        start = time.monotonic()
        engine._ok(engine.post('/containers/%s/stop' % cid,
                               params={'t': 10}), 204)
        took = time.monotonic() - start
        print('stop of %s took %.3f s' % (cid[:12], took))
        after = state(engine, cid)
        assert after['Status'] == 'exited', after
        assert not after['Running']
