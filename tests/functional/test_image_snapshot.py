"""DockerDriver.snapshot against a real glance-api and the real engine:
the snapshot boots again with its data and command, and a failure leaves
no committed image and no half-uploaded Glance image."""

import os
import uuid
import time

import pytest
from nova.compute import task_states
from nova.compute import utils as compute_utils
from nova import conf as nova_conf
from nova import exception
from nova.image import glance as nova_glance
from nova import utils as nova_utils

from nova_docker.docker import errors as docker_errors
from nova_docker import driver as driver_mod
from nova_docker import exception as docker_exception
from nova_docker import host as host_mod
from nova_docker import labels
from tests.fixtures import engine as engine_fx
from tests.fixtures import engines as engines_fx
from tests.fixtures import glance as glance_fx
from tests.fixtures import nova_objects
from tests.fixtures.glance_boot import boot
from tests.fixtures.glance_boot import engine_has
from tests.fixtures.glance_boot import local_ref
from tests.fixtures.glance_boot import wait_output
from tests.fixtures.images import save_tar

pytestmark = pytest.mark.every_engine

WRITER = ("/bin/sh -c 'echo snapshot-data > /root/state; "
          "dd if=/dev/urandom of=/root/blob bs=1024 count=512 2>/dev/null;"
          " md5sum /root/blob > /root/blob.md5; echo ready; "
          "while true; do sleep 1; done'")


class TaskStates:
    def __init__(self):
        self.calls = []

    def __call__(self, task_state, expected_state=None):
        self.calls.append((task_state, expected_state))


def spawn_writer(drv, ctx, engine, glance, instances, local_images):
    base = glance.create_image('base', save_tar(['/bin/sh']))
    local_images.append(local_ref(base['id']))
    inst = instances(image_ref=base['id'])
    inst.system_metadata = {'image_os_command_line': WRITER,
                            'image_hypervisor_type': 'docker',
                            'image_img_signature': 'not-inherited'}
    boot(drv, ctx, inst, base['id'], os_command_line=WRITER)
    for _ in range(100):
        logs = engine.logs('nova-' + inst.uuid)[0]
        if b'ready' in logs:
            break
        time.sleep(0.05)
    return inst


@pytest.fixture
def commits(gdriver, monkeypatch, engine_client):
    """Ids of the images the driver commits."""
    made = []
    real = engine_client.commit_container

    def commit(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(engine_client, 'commit_container', commit)
    return made


def new_snapshot_image(glance):
    return glance.create_queued_image('snap', container_format='bare',
                                      disk_format='qcow2')


def assert_no_glance_data(glance, image_id):
    images = {i['id']: i for i in glance.list_images()}
    assert image_id not in images or images[image_id]['status'] != 'active'
    assert not os.path.exists(os.path.join(glance.data_dir, image_id))


@pytest.mark.parametrize('state', ['running', 'stopped', 'paused'])
def test_snapshot_boots_again_with_data_and_command(
        gdriver, glance, ctx, engine, instances,
        local_images, commits, state):
    inst = spawn_writer(gdriver, ctx, engine, glance, instances,
                        local_images)
    if state == 'stopped':
        gdriver.power_off(inst, timeout=0)
    elif state == 'paused':
        gdriver.pause(inst)
    snap = new_snapshot_image(glance)
    states = TaskStates()

    gdriver.snapshot(ctx, inst, snap['id'], states)

    assert states.calls == [
        (task_states.IMAGE_PENDING_UPLOAD, None),
        (task_states.IMAGE_UPLOADING, task_states.IMAGE_PENDING_UPLOAD)]
    image = glance.get_image(snap['id'])
    assert image['status'] == 'active'
    assert (image['container_format'], image['disk_format']) == (
        'docker', 'raw')
    assert image['os_command_line'] == WRITER
    assert image['hypervisor_type'] == 'docker'
    assert image['image_location'] == 'snapshot'
    assert 'img_signature' not in image
    # The committed image is gone; the instance's container is as it was.
    assert commits and not engine_has(engine, commits[0])
    running = engine.get('/containers/nova-%s/json' % inst.uuid).json()
    assert running['State']['Paused'] is (state == 'paused')
    assert running['State']['Running'] is (state != 'stopped')

    # Boot it: the data is there, and the command is the image's own.
    local_images.append(local_ref(snap['id']))
    clone = instances()
    boot(gdriver, ctx, clone, snap['id'])
    config = engine.inspect_image(local_ref(snap['id']))['Config']
    assert config['Cmd'][:2] == ['/bin/sh', '-c']
    assert config['Labels'].get('org.openstack.nova.instance-uuid') == ''
    code, out, _ = engine.run(local_ref(snap['id']), [
        '/bin/sh', '-c', 'cat /root/state; md5sum -c /root/blob.md5'])
    assert (code, out) == (0, b'snapshot-data\n/root/blob: OK\n')
    engine.post('/containers/nova-%s/kill' % clone.uuid)


def test_snapshot_of_a_missing_container_is_instance_not_running(
        gdriver, glance, ctx, engine, instances):
    # What nova's driver suite (and libvirt) says of a missing guest.
    inst = instances()
    snap = new_snapshot_image(glance)
    with pytest.raises(exception.InstanceNotRunning, match=inst.uuid):
        gdriver.snapshot(ctx, inst, snap['id'], TaskStates())
    assert_no_glance_data(glance, snap['id'])


class BreakingSave:
    """Wraps save_image: the stream breaks after ``after`` chunks with
    ``exc``, or ends with ``tail`` (what the engine writes when a save
    fails after it started streaming)."""

    def __init__(self, monkeypatch, client, after=1, exc=None, tail=None):
        real = client.save_image

        def save(names, **kwargs):
            stream = real(names, **kwargs)
            return _Broken(stream, after, exc, tail)

        monkeypatch.setattr(client, 'save_image', save)


class _Broken:
    def __init__(self, stream, after, exc, tail):
        self._stream = stream
        self._chunks = self._generate(iter(stream), after, exc, tail)

    @staticmethod
    def _generate(chunks, after, exc, tail):
        for _ in range(after):
            yield next(chunks)
        if exc is not None:
            raise exc
        yield tail

    def __iter__(self):
        return self._chunks

    def __next__(self):
        return next(self._chunks)

    def close(self):
        self._stream.close()


@pytest.mark.parametrize('exc, tail, match', [
    (docker_errors.EngineUnreachable('Cannot talk to the Docker Engine'),
     None, 'not reachable: Cannot talk'),
    (None, b'{"errorDetail":{"message":"write: no space left on device"}}',
     'tar'),
], ids=['engine-gone', 'error-in-stream'])
def test_save_failing_midway_leaves_no_glance_image_and_no_commit(
        gdriver, glance, ctx, engine, instances, local_images,
        commits, monkeypatch, exc, tail, match, engine_client):
    inst = spawn_writer(gdriver, ctx, engine, glance, instances,
                        local_images)
    snap = new_snapshot_image(glance)
    BreakingSave(monkeypatch, engine_client, exc=exc, tail=tail)
    with pytest.raises((docker_exception.SnapshotFailed,
                        exception.HypervisorUnavailable), match=match):
        gdriver.snapshot(ctx, inst, snap['id'], TaskStates())
    assert_no_glance_data(glance, snap['id'])
    assert snap['id'] not in {i['id'] for i in glance.list_images()}
    assert commits and not engine_has(engine, commits[0])


def test_glance_unreachable_during_upload_removes_the_commit(
        gdriver, glance, ctx, engine, instances, local_images,
        commits):
    inst = spawn_writer(gdriver, ctx, engine, glance, instances,
                        local_images)
    snap = new_snapshot_image(glance)
    glance_fx.point_nova_at('http://127.0.0.1:9')
    with pytest.raises(exception.GlanceConnectionFailed):
        gdriver.snapshot(ctx, inst, snap['id'], TaskStates())
    assert commits and not engine_has(engine, commits[0])
    assert_no_glance_data(glance, snap['id'])


def test_glance_image_deleted_before_upload_is_image_not_found(
        gdriver, glance, ctx, engine, instances, local_images,
        commits):
    inst = spawn_writer(gdriver, ctx, engine, glance, instances,
                        local_images)
    snap = new_snapshot_image(glance)
    glance.delete_image(snap['id'])
    with pytest.raises(exception.ImageNotFound):
        gdriver.snapshot(ctx, inst, snap['id'], TaskStates())
    assert commits and not engine_has(engine, commits[0])


def test_snapshot_output_survives_a_round_trip(
        gdriver, glance, ctx, engine, instances, local_images):
    """A snapshot of a snapshot still boots (the saved archive of a
    committed image loads through the same checks)."""
    inst = spawn_writer(gdriver, ctx, engine, glance, instances,
                        local_images)
    first = new_snapshot_image(glance)
    gdriver.snapshot(ctx, inst, first['id'], TaskStates())
    local_images.append(local_ref(first['id']))
    second_inst = instances(image_ref=first['id'])
    second_inst.system_metadata = {'image_os_command_line': WRITER}
    boot(gdriver, ctx, second_inst, first['id'], os_command_line=WRITER)
    second = new_snapshot_image(glance)
    gdriver.snapshot(ctx, second_inst, second['id'], TaskStates())
    local_images.append(local_ref(second['id']))
    probe = instances()
    boot(gdriver, ctx, probe, second['id'],
         os_command_line='/bin/cat /root/state')
    # (wait_output reads the terminal's CR LF as LF.)
    assert wait_output(engine, probe) == b'snapshot-data\n'


@pytest.fixture
def non_inheritable():
    """``[DEFAULT] non_inheritable_image_properties`` naming one more."""
    conf = nova_conf.CONF
    conf.set_override('non_inheritable_image_properties',
                      ['cache_in_nova', 'bittorrent', 'base_only_note'])
    yield
    conf.clear_override('non_inheritable_image_properties')


REGISTRY_RECORDS = {'nova_docker_manifest': 'sha256:' + '1' * 64,
                    'nova_docker_repository': 'someone/app',
                    'nova_docker_tag': '1'}


def test_a_snapshot_carries_no_registry_record_and_no_host(
        gdriver, glance, ctx, engine, instances, local_images,
        non_inheritable):
    # An image the registry pushed, booted and snapshotted as Nova does:
    # the API makes the snapshot's image from the instance's image
    # metadata, the driver uploads into it.
    base = glance.create_image(
        'pushed', save_tar(['/bin/sh']), os_command_line=WRITER,
        hypervisor_type='docker', cache_in_nova='True',
        base_only_note='private', **REGISTRY_RECORDS)
    local_images.append(local_ref(base['id']))
    image_api = nova_glance.API()
    inst = instances(image_ref=base['id'], project_id=ctx.project_id)
    inst.system_metadata = nova_utils.get_system_metadata_from_image(
        image_api.get(ctx, base['id']))
    boot(gdriver, ctx, inst, base['id'], os_command_line=WRITER)
    snap = compute_utils.create_image(ctx, inst, 'snap', 'snapshot',
                                      image_api)

    gdriver.snapshot(ctx, inst, snap['id'], TaskStates())

    image = glance.get_image(snap['id'])
    assert image['status'] == 'active'
    assert image['os_command_line'] == WRITER
    assert image['hypervisor_type'] == 'docker'
    for key in list(REGISTRY_RECORDS) + ['cache_in_nova', 'base_only_note']:
        assert key not in image, key
    # Nor does its config say where (or whose) it was made.
    local_images.append(local_ref(snap['id']))
    clone = instances()
    boot(gdriver, ctx, clone, snap['id'])
    applied = engine.inspect_image(local_ref(snap['id']))['Config']['Labels']
    for label in labels.KNOWN_LABELS:
        assert applied.get(label, '') == '', label


# The store a snapshot made on an engine of a kind boots on: the other
# kind of image store (classic overlay2 <-> containerd snapshotter).
CONTAINERD = 'docker26-containerd'


def other_store(kind):
    return engines_fx.HOST if kind == CONTAINERD else CONTAINERD


@pytest.fixture
def other_engine(engine, engine_kind, private_engines):
    """(raw view, product client) of an engine whose image store is of
    the other kind than ``engine``'s."""
    kind = other_store(engine_kind)
    if kind == engines_fx.HOST:
        engine_fx.require_engine()
        api, url = engine_fx.EngineAPI(), None
    else:
        engines_fx.require(kind)
        private = private_engines.get(kind)
        api, url = private.api(), private.url
    conf = host_mod.CONF
    if url:
        conf.set_override('host_url', url, 'docker')
    else:  # the host's, as configured
        conf.clear_override('host_url', 'docker')
    client = host_mod.client_from_conf()
    # Back to what ``engine_client`` set for ``engine``.
    if engine.url:
        conf.set_override('host_url', engine.url, 'docker')
    else:
        conf.clear_override('host_url', 'docker')
    yield api, client
    client.close()
    api.close()


def test_a_snapshot_boots_on_the_other_kind_of_image_store(
        gdriver, glance, ctx, engine, instances, local_images,
        other_engine, glance_image_api):
    """A snapshot made on the classic store (plain layers, classic save)
    boots on the containerd store, and one made there (gzip layers, OCI
    layout beside manifest.json) boots on the classic store."""
    inst = spawn_writer(gdriver, ctx, engine, glance, instances,
                        local_images)
    snap = new_snapshot_image(glance)
    gdriver.snapshot(ctx, inst, snap['id'], TaskStates())
    api, client = other_engine
    other = driver_mod.DockerDriver(virtapi=None,
                                    host=host_mod.Host(client),
                                    image_api=glance_image_api)
    other.init_host('test-node')
    probe = nova_objects.instance()
    try:
        boot(other, ctx, probe, snap['id'], os_command_line=(
            "/bin/sh -c 'cat /root/state; md5sum -c /root/blob.md5'"))
        assert wait_output(api, probe) == (
            b'snapshot-data\n/root/blob: OK\n')
        assert api.inspect_image(local_ref(snap['id']))['Config'][
            'Labels'].get('org.openstack.nova.instance-uuid') == ''
    finally:
        other.destroy(ctx, probe, None)
        api.remove_image(local_ref(snap['id']))
    assert not engine_has(api, local_ref(snap['id']))


def test_a_snapshot_removes_the_commits_failed_snapshots_left(
        gdriver, glance, ctx, engine, instances, local_images):
    """The leftover is found by its name through the engine's reference
    filter, which each kind of store must apply alike."""
    left = 'nova-docker-snapshot/%s' % uuid.uuid4()
    loaded = engine.load(save_tar(['/bin/sh'])).rsplit(' ', 1)[1].strip()
    engine.post('/images/%s/tag' % loaded,
                params={'repo': left, 'tag': 'uploading'})
    try:
        inst = spawn_writer(gdriver, ctx, engine, glance, instances,
                            local_images)
        snap = new_snapshot_image(glance)
        gdriver.snapshot(ctx, inst, snap['id'], TaskStates())
        local_images.append(local_ref(snap['id']))
        assert not engine_has(engine, left + ':uploading')
    finally:
        engine.remove_image(left + ':uploading')
