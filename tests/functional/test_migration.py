"""Resize and cold migration (nova_docker.migration) with the real engine
and a real glance-api: same-host resize on the host's engine; a move to
another host onto a private engine (a second dockerd: the target's), the
transfer image going through Glance.

Nova's compute manager calls the driver in this order: on the source
migrate_disk_and_power_off (the instance still has the old flavor), on
the target finish_migration (it has the new one); then confirm_migration
on the source, or destroy on the target and finish_revert_migration on
the source (the old flavor back)."""

import io
import json
import os
import pathlib
import tarfile
import typing
import uuid

import pytest
from nova.compute import task_states
from nova import exception
from nova import objects

from nova_docker.archive import partial
from nova_docker import config_drive
from nova_docker import docker
from nova_docker.docker import errors as docker_errors
from nova_docker import driver as driver_mod
from nova_docker import engine_facts
from nova_docker import host as host_mod
from nova_docker import migration
from tests.fixtures import config_drive as config_drive_fx
from tests.fixtures import engines as engines_fx
from tests.fixtures import private_engine as private_fixtures
from tests.fixtures.glance_boot import boot
from tests.fixtures.glance_boot import engine_has
from tests.fixtures.glance_boot import image_meta
from tests.fixtures.glance_boot import local_ref
from tests.fixtures.images import save_tar
from tests.fixtures import nova_objects
from tests.fixtures import volumes as vol_fx

private_engine = private_fixtures.private_engine

WRITER = ("/bin/sh -c 'test -f /root/state || echo written-before > "
          "/root/state; while true; do sleep 1; done'")
MIB = 1024 * 1024


class Moves:
    """The migrations in progress, by instance uuid: what the drivers
    read from Nova's database in a cloud."""

    def __init__(self):
        self.by_instance = {}

    def start(self, instance, source, dest):
        self.by_instance[instance.uuid] = objects.Migration(
            uuid=str(uuid.uuid4()), source_compute=source,
            dest_compute=dest)
        return self.by_instance[instance.uuid]

    def __call__(self, context, instance):
        return self.by_instance[instance.uuid]


@pytest.fixture
def moves():
    return Moves()


class NodeStats(dict):
    """ComputeNode.stats by host, as each host's driver reported them:
    what the source reads from Nova's database in a cloud (a host not
    here has reported nothing)."""

    def __call__(self, context, migration):
        return dict(self.get(migration.dest_compute) or {})


@pytest.fixture
def node_stats():
    return NodeStats()


@pytest.fixture
def source(engine_client, glance_image_api, local_images, moves,
           node_stats):
    drv = driver_mod.DockerDriver(virtapi=None,
                                  host=host_mod.Host(engine_client),
                                  image_api=glance_image_api,
                                  find_migration=moves,
                                  target_stats=node_stats)
    drv.init_host('test-node')
    return drv


def running_writer(drv, ctx, engine, glance, instances, local_images):
    base = glance.create_image('base', save_tar(['/bin/sh']))
    local_images.append(local_ref(base['id']))
    inst = instances(image_ref=base['id'])
    boot(drv, ctx, inst, base['id'], os_command_line=WRITER)
    assert read_state(engine, inst) == b'written-before\n'
    return inst, image_meta(base['id'], os_command_line=WRITER)


def read_state(engine, inst, attempts=100):
    for _ in range(attempts):
        code, out, _ = engine.exec('nova-' + inst.uuid,
                                   ['cat', '/root/state'])
        if code == 0:
            return out
    return None


def host_config(engine, inst):
    return engine.get('/containers/nova-%s/json' % inst.uuid).json()[
        'HostConfig']


def state(engine, inst):
    return engine.get('/containers/nova-%s/json' % inst.uuid).json()[
        'State']


def bigger():
    return nova_objects.flavor(memory_mb=1024, vcpus=2, name='m1.bigger')


def names_on(engine, inst):
    return sorted(n.lstrip('/') for c in engine.containers()
                  for n in c.get('Names') or [] if inst.uuid in n)


def glance_has(glance, image_id):
    return glance.session.get(
        glance.url + '/v2/images/%s' % image_id).status_code == 200


# -- the same host ----------------------------------------------------------

def resize_here(drv, ctx, inst, meta, moves, flavor):
    move = moves.start(inst, 'test-node', 'test-node')
    info = drv.migrate_disk_and_power_off(ctx, inst, '127.0.0.1', flavor,
                                          [], None, 0, 0)
    old = inst.flavor
    inst.flavor = flavor
    drv.finish_migration(ctx, move, inst, info, [], meta, True, {}, None,
                         True)
    return move, old, info


def test_same_host_resize_keeps_the_file_and_takes_the_new_limits(
        source, glance, ctx, engine, instances, local_images, moves):
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    before = host_config(engine, inst)
    assert before['Memory'] == 512 * MIB

    move, _, info = resize_here(source, ctx, inst, meta, moves, bigger())

    assert json.loads(info) == {}  # nothing travels
    config = host_config(engine, inst)
    assert (config['Memory'], config['MemorySwap']) == (1024 * MIB,
                                                        1024 * MIB)
    assert (config['CpuShares'], config['NanoCpus']) == (2048, 2 * 10 ** 9)
    assert config['PidsLimit'] == before['PidsLimit']
    assert state(engine, inst)['Running']
    assert read_state(engine, inst) == b'written-before\n'
    source.confirm_migration(ctx, move, inst, [])
    assert state(engine, inst)['Running']


def test_same_host_revert_keeps_the_container_with_the_old_limits(
        source, glance, ctx, engine, instances, local_images, moves):
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    engine.exec('nova-' + inst.uuid,
                ['sh', '-c', 'echo written-resized > /root/more'])
    move, old, _ = resize_here(source, ctx, inst, meta, moves, bigger())

    # Nova's revert_resize destroys on the "target": this very host.
    inst.task_state = task_states.RESIZE_REVERTING
    source.destroy(ctx, inst, [], None, destroy_disks=True)
    assert not state(engine, inst)['Running']
    inst.flavor = old
    source.finish_revert_migration(ctx, inst, [], move, None, True)
    inst.task_state = None

    config = host_config(engine, inst)
    assert (config['Memory'], config['NanoCpus']) == (512 * MIB, 10 ** 9)
    assert state(engine, inst)['Running']
    code, out, _ = engine.exec('nova-' + inst.uuid, ['cat', '/root/more'])
    assert (code, out) == (0, b'written-resized\n')


@pytest.mark.parametrize('flavor, match', [
    (nova_objects.flavor(memory_mb=4), 'minimum memory'),
    (nova_objects.flavor(extra_specs={'quota:cpu_quota': '50000'}),
     'kind of CPU limit'),
], ids=['too-little-memory', 'cpu-cap-kind'])
def test_a_flavor_that_cannot_be_applied_is_refused_before_it_stops(
        source, glance, ctx, engine, instances, local_images, moves,
        flavor, match):
    inst, _ = running_writer(source, ctx, engine, glance, instances,
                             local_images)
    moves.start(inst, 'test-node', 'test-node')
    with pytest.raises(exception.InstanceFaultRollback) as caught:
        source.migrate_disk_and_power_off(ctx, inst, '127.0.0.1', flavor,
                                          [], None, 0, 0)
    assert match in str(caught.value.inner_exception)
    assert state(engine, inst)['Running']


# -- to another host --------------------------------------------------------

def target_driver(client, glance_image_api, moves, node_stats):
    """compute-dst's driver on the engine of ``client``, its stats
    reported (as nova's resource audit does). It shares the source's
    instances_path, as hosts on NFS do: each host keeps its own files
    there (nova_docker.instance_files)."""
    drv = driver_mod.DockerDriver(virtapi=None, host=host_mod.Host(client),
                                  image_api=glance_image_api,
                                  find_migration=moves)
    drv.init_host('compute-dst')
    node_stats['compute-dst'] = drv.get_available_resource(
        'compute-dst')['stats']
    return drv


@pytest.fixture
def target(private_engine, glance_image_api, moves, node_stats):
    """The target host's driver, on an engine of its own."""
    private = private_engine()
    client = docker.DockerClient(private.url)
    drv = target_driver(client, glance_image_api, moves, node_stats)
    api = private.api()
    # What the test looks at and stages faults on.
    drv.test_engine, drv.test_client = api, client
    yield drv
    api.close()
    client.close()


def move_away(source, target, ctx, inst, meta, moves, flavor):
    move = moves.start(inst, 'test-node', 'compute-dst')
    info = source.migrate_disk_and_power_off(ctx, inst, '127.0.0.1', flavor,
                                             [], None, 0, 0)
    old = inst.flavor
    inst.flavor = flavor
    return move, old, info


class Moved(typing.NamedTuple):
    """A server that wrote a file, stopped on the source and sent to
    compute-dst (migrate_disk_and_power_off done): the flavor it had,
    and the disk_info the target gets."""

    inst: object
    meta: object
    move: object
    old: object
    info: str


@pytest.fixture
def moved(source, target, glance, ctx, engine, instances, local_images,
          moves):
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    move, old, info = move_away(source, target, ctx, inst, meta, moves,
                                bigger())
    return Moved(inst, meta, move, old, info)


def test_migration_moves_the_file_to_the_target_and_confirm_cleans_up(
        source, target, glance, ctx, engine, moved):
    inst, meta, move, _, info = moved
    transfer = migration.transfer_from(info)
    assert transfer == migration.transfer_image_id(move)
    image = glance.get_image(transfer)
    assert (image['status'], image['os_hidden']) == ('active', True)
    assert image['image_type'] == 'migration'
    assert not state(engine, inst)['Running']

    target.finish_migration(ctx, move, inst, info, [], meta, True, {},
                            None, True)

    there = target.test_engine
    assert read_state(there, inst) == b'written-before\n'
    assert host_config(there, inst)['Memory'] == 1024 * MIB
    source.confirm_migration(ctx, move, inst, [])
    assert names_on(engine, inst) == []
    assert names_on(there, inst) == ['nova-' + inst.uuid,
                                     'nova-%s-sandbox' % inst.uuid]
    assert not glance_has(glance, transfer)
    target.destroy(ctx, inst, [])
    assert names_on(there, inst) == []


def test_revert_brings_the_server_back_on_the_source(
        source, target, glance, ctx, engine, moved):
    inst, meta, move, old, info = moved
    target.finish_migration(ctx, move, inst, info, [], meta, True, {},
                            None, True)

    inst.task_state = task_states.RESIZE_REVERTING
    target.destroy(ctx, inst, [], None, destroy_disks=True)
    inst.flavor = old
    source.finish_revert_migration(ctx, inst, [], move, None, True)
    inst.task_state = None

    assert names_on(target.test_engine, inst) == []
    assert state(engine, inst)['Running']
    assert host_config(engine, inst)['Memory'] == 512 * MIB
    assert read_state(engine, inst) == b'written-before\n'
    assert not glance_has(glance, migration.transfer_image_id(move))


class BrokenAfter:
    """The client's ``method`` raises ``exc`` for the workload of
    ``instance`` (a fault the test stages on a real engine)."""

    def __init__(self, monkeypatch, client, method, instance, exc):
        real = getattr(client, method)

        def broken(name, *args, **kwargs):
            if name == 'nova-' + instance.uuid:
                raise exc
            return real(name, *args, **kwargs)

        monkeypatch.setattr(client, method, broken)


def test_a_failed_send_leaves_no_transfer_image_and_reboots_back(
        source, target, glance, ctx, engine, instances, local_images,
        moves, monkeypatch, engine_client):
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    BrokenAfter(monkeypatch, engine_client, 'commit_container', inst,
                docker_errors.APIError('commit: no space left on device',
                                       500))
    move = moves.start(inst, 'test-node', 'compute-dst')
    with pytest.raises(exception.NovaException, match='no space left'):
        source.migrate_disk_and_power_off(ctx, inst, '127.0.0.1', bigger(),
                                          [], None, 0, 0)
    assert not glance_has(glance, migration.transfer_image_id(move))
    # Recoverable: Nova's hard reboot starts it again, with its file.
    source.reboot(ctx, inst, [], 'HARD')
    assert read_state(engine, inst) == b'written-before\n'


def test_a_failed_arrival_leaves_nothing_on_the_target(
        source, target, glance, ctx, engine, monkeypatch, moved):
    inst, meta, move, old, info = moved
    transfer = migration.transfer_from(info)
    BrokenAfter(monkeypatch, target.test_client, 'start_container', inst,
                docker_errors.APIError('OCI runtime create failed', 500))
    with pytest.raises(exception.InstanceDeployFailure, match='OCI'):
        target.finish_migration(ctx, move, inst, info, [], meta, True, {},
                                None, True)

    there = target.test_engine
    assert names_on(there, inst) == []
    assert not engine_has(there, local_ref(transfer))
    assert not glance_has(glance, transfer)
    # The source still holds the stopped server: a hard reboot there (or
    # Nova's revert) brings it back.
    inst.flavor = old
    source.reboot(ctx, inst, [], 'HARD')
    assert read_state(engine, inst) == b'written-before\n'
    # Once the server is deleted, nova's clean-up of the failed migration
    # removes what it left on the source.
    assert source.delete_instance_files(inst) is True
    assert names_on(engine, inst) == []


# -- with a volume ------------------------------------------------------------

@pytest.fixture
def vsource(engine_client, image_api, moves):
    """The source driver with volumes on ([docker] volume_mount_dir),
    on loop devices handed over as Cinder's ``local`` type hands them."""
    privsep = vol_fx.PrivsepInProcess()
    privsep.setUp()
    volume_dir = vol_fx.VolumeDir()
    volume_dir.setUp()
    driver_mod.CONF.set_override('volume_mount_dir', volume_dir.path,
                                 'docker')
    try:
        drv = driver_mod.DockerDriver(virtapi=None,
                                      host=host_mod.Host(engine_client),
                                      image_api=image_api,
                                      find_migration=moves)
        drv.init_host('test-node')
        yield drv
    finally:
        driver_mod.CONF.clear_override('volume_mount_dir', 'docker')
        volume_dir.cleanUp()
        privsep.cleanUp()


@pytest.fixture
def loops():
    devices = vol_fx.LoopDevices()
    devices.setUp()
    yield devices
    devices.cleanUp()


def test_same_host_resize_lets_the_volume_go_and_mounts_it_again(
        vsource, engine, instances, busybox_image, loops, moves):
    inst = instances(system_metadata={})
    meta = nova_objects.image_meta(
        image_id=busybox_image.id,
        os_command_line="/bin/sh -c 'while true; do sleep 1; done'")
    device = loops.make()
    bdi = vol_fx.block_device_info((vol_fx.connection_info(device),
                                    '/dev/vdb'))
    vsource.spawn(None, inst, meta, [], None, {}, network_info=None,
                  block_device_info=bdi)
    try:
        code, _, _ = engine.exec('nova-' + inst.uuid, [
            'sh', '-c', 'echo on-volume > /mnt/vdb/data'])
        assert code == 0
        move = moves.start(inst, 'test-node', 'test-node')
        info = vsource.migrate_disk_and_power_off(
            None, inst, '127.0.0.1', bigger(), [], bdi, 0, 0)
        # Nova ends the volume's attachment to the host next.
        assert vol_fx.mounts_of(device) == []
        inst.flavor = bigger()
        vsource.finish_migration(None, move, inst, info, [], meta, True, {},
                                 bdi, True)
        code, out, _ = engine.exec('nova-' + inst.uuid,
                                   ['cat', '/mnt/vdb/data'])
        assert (code, out) == (0, b'on-volume\n')
    finally:
        vsource.destroy(None, inst, [], bdi)


def test_a_revert_whose_container_is_gone_does_not_fail_its_destroy(
        source, glance, ctx, engine, instances, local_images, moves):
    # An operator removed it meanwhile: finish_revert_migration makes it
    # again (power_on recreates a missing container).
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    moves.start(inst, 'test-node', 'test-node')
    engine.remove_container('nova-' + inst.uuid)
    inst.task_state = task_states.RESIZE_REVERTING
    try:
        source.destroy(ctx, inst, [], None, destroy_disks=True)
    finally:
        inst.task_state = None


def test_a_stopped_server_resizes_and_stays_stopped(
        source, glance, ctx, engine, instances, local_images, moves):
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    source.power_off(inst)
    move = moves.start(inst, 'test-node', 'test-node')
    info = source.migrate_disk_and_power_off(ctx, inst, '127.0.0.1',
                                             bigger(), [], None, 0, 0)
    inst.flavor = bigger()
    # Nova's old_vm_state STOPPED: power_on False.
    source.finish_migration(ctx, move, inst, info, [], meta, True, {}, None,
                            False)
    assert not state(engine, inst)['Running']
    assert host_config(engine, inst)['Memory'] == 1024 * MIB


# -- the config drive -------------------------------------------------------

DRIVE_FILE = '/var/lib/cloud/seed/config_drive/openstack/latest/meta_data.json'


class TwoHosts(typing.NamedTuple):
    """The source (the host engine) and compute-dst (a private engine)
    with config drives, and the instances_path of each."""
    src: driver_mod.DockerDriver
    dst: driver_mod.DockerDriver
    there: typing.Any
    src_path: pathlib.Path
    dst_path: pathlib.Path


@pytest.fixture
def two_hosts(engine_client, private_engine, glance_image_api, moves,
              tmp_path, request):
    """``request.param``: 'own' (each host its instances_path) or
    'shared' (one, as NFS shares it between hosts)."""
    shared = request.param == 'shared'
    paths = [tmp_path / 'shared'] * 2 if shared else [
        tmp_path / 'source', tmp_path / 'target']
    for path in paths:
        path.mkdir(exist_ok=True)

    def driver(client, path, name):
        drv = driver_mod.DockerDriver(
            virtapi=None, host=host_mod.Host(client),
            image_api=glance_image_api, find_migration=moves,
            config_drives=config_drive.ConfigDrives(str(path)),
            instance_metadata=config_drive_fx.metadata)
        drv.init_host(name)
        return drv

    private = private_engine()
    client = docker.DockerClient(private.url)
    there = private.api()
    yield TwoHosts(driver(engine_client, paths[0], 'test-node'),
                   driver(client, paths[1], 'compute-dst'), there, *paths)
    there.close()
    client.close()


def reads_its_drive(api, inst) -> bool:
    code, out, _ = api.exec('nova-' + inst.uuid, ['cat', DRIVE_FILE])
    return code == 0 and json.loads(out)['uuid'] == inst.uuid


def moved_with_drive(hosts, glance, ctx, instances, local_images, moves):
    base = glance.create_image('base', save_tar(['/bin/sh', '/bin/cat']))
    local_images.append(local_ref(base['id']))
    inst = instances(image_ref=base['id'], config_drive='True',
                     user_data=None, metadata={'role': 'moved'})
    boot(hosts.src, ctx, inst, base['id'], os_command_line=WRITER)
    meta = image_meta(base['id'], os_command_line=WRITER)
    move, old, info = move_away(hosts.src, hosts.dst, ctx, inst, meta,
                                moves, bigger())
    hosts.dst.finish_migration(ctx, move, inst, info, [], meta, True, {},
                               None, True)
    return inst, move, old


@pytest.mark.parametrize('two_hosts', ['own', 'shared'], indirect=True)
def test_a_moved_server_has_its_config_drive_on_the_target(
        two_hosts, glance, ctx, engine, instances, local_images, moves):
    # On a shared instances_path the source's confirm must leave the
    # target's files: its containers bind them at every start.
    hosts = two_hosts
    inst, move, _ = moved_with_drive(hosts, glance, ctx, instances,
                                     local_images, moves)
    try:
        assert reads_its_drive(hosts.there, inst)
        assert os.listdir(hosts.dst_path) == [inst.uuid]
        hosts.src.confirm_migration(ctx, move, inst, [])
        hosts.dst.power_off(inst)
        hosts.dst.power_on(ctx, inst, [])
        assert reads_its_drive(hosts.there, inst)
        code, out, _ = hosts.there.exec('nova-' + inst.uuid,
                                        ['cat', '/etc/hostname'])
        assert (code, out.strip()) == (0, inst.hostname.encode())
        if hosts.src_path != hosts.dst_path:
            assert os.listdir(hosts.src_path) == []
    finally:
        hosts.dst.destroy(ctx, inst, [])
    assert os.listdir(hosts.dst_path) == []


@pytest.mark.parametrize('two_hosts', ['own', 'shared'], indirect=True)
def test_a_reverted_server_keeps_its_config_drive_on_the_source(
        two_hosts, glance, ctx, engine, instances, local_images, moves):
    hosts = two_hosts
    inst, move, old = moved_with_drive(hosts, glance, ctx, instances,
                                       local_images, moves)
    try:
        # Nova's revert_resize on the target: its destroy takes the disks
        # (nothing tells it the storage is shared).
        hosts.dst.destroy(ctx, inst, [], None, destroy_disks=True)
        inst.flavor = old
        hosts.src.finish_revert_migration(ctx, inst, [], move, None, True)
        assert state(engine, inst)['Running']
        assert reads_its_drive(engine, inst)
    finally:
        hosts.src.destroy(ctx, inst, [])
    assert os.listdir(hosts.src_path) == []
    assert os.listdir(hosts.dst_path) == []


# -- only what the target lacks ---------------------------------------------

def transfer_members(glance, transfer):
    """{member name: size} of the transfer image's archive in Glance."""
    with tarfile.open(fileobj=io.BytesIO(glance.download(transfer))) as tar:
        return {m.name: m.size for m in tar}


def test_a_classic_store_target_gets_only_the_workloads_layer(
        source, target, glance, ctx, engine, instances, local_images,
        moves, node_stats):
    assert node_stats['compute-dst'] == {
        engine_facts.PARTIAL_LOAD_STAT: 'true'}
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    base_layer = engine.inspect_image(local_ref(inst.image_ref))[
        'RootFS']['Layers'][0]
    move, _, info = move_away(source, target, ctx, inst, meta, moves,
                              bigger())
    transfer = migration.transfer_from(info)
    image = glance.get_image(transfer)
    assert image[migration.PARTIAL_BASE_PROPERTY] == inst.image_ref
    # The base's busybox layer (2 MB) stayed behind; its metadata and the
    # workload's layer went.
    assert image['size'] < 256 * 1024
    members = transfer_members(glance, transfer)
    assert 'manifest.json' in members
    assert max(members.values()) < 64 * 1024
    assert 'blobs/sha256/' + base_layer[7:] not in members

    target.finish_migration(ctx, move, inst, info, [], meta, True, {},
                            None, True)

    there = target.test_engine
    assert read_state(there, inst) == b'written-before\n'
    # The target loaded the base itself, from Glance.
    assert engine_has(there, local_ref(inst.image_ref))
    source.confirm_migration(ctx, move, inst, [])
    assert not glance_has(glance, transfer)
    target.destroy(ctx, inst, [])
    assert names_on(there, inst) == []


def test_a_partial_save_that_fails_its_check_is_sent_whole(
        source, target, glance, ctx, engine, instances, local_images,
        moves, monkeypatch):
    # Should an engine's save ever not hold the base's layers as the
    # filter reads them, the whole image goes instead, under an id of its
    # own: Glance never gives a deleted image's id again.
    def mismatch(layer_filter):
        raise partial.Mismatch('not the held layers')

    monkeypatch.setattr(partial.LayerFilter, 'finish', mismatch)
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    move, _, info = move_away(source, target, ctx, inst, meta, moves,
                              bigger())
    first, whole = migration.transfer_image_ids(move)
    assert migration.transfer_from(info) == whole
    assert not glance_has(glance, first)
    assert migration.PARTIAL_BASE_PROPERTY not in glance.get_image(whole)

    target.finish_migration(ctx, move, inst, info, [], meta, True, {},
                            None, True)
    assert read_state(target.test_engine, inst) == b'written-before\n'
    source.confirm_migration(ctx, move, inst, [])
    assert not glance_has(glance, whole)
    target.destroy(ctx, inst, [])


@pytest.mark.parametrize('stats', [
    None, {}, {engine_facts.PARTIAL_LOAD_STAT: 'false'},
    {engine_facts.PARTIAL_LOAD_STAT: 'maybe'}],
    ids=['not-reported', 'nothing-said', 'another-store', 'unknown-word'])
def test_a_target_that_does_not_say_it_loads_partial_archives_gets_all(
        source, target, glance, ctx, engine, instances, local_images,
        moves, node_stats, stats):
    node_stats['compute-dst'] = stats
    if stats is None:
        del node_stats['compute-dst']
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    move, _, info = move_away(source, target, ctx, inst, meta, moves,
                              bigger())
    transfer = migration.transfer_from(info)
    image = glance.get_image(transfer)
    assert migration.PARTIAL_BASE_PROPERTY not in image
    assert image['size'] > 1024 * 1024  # busybox's layer went too
    target.finish_migration(ctx, move, inst, info, [], meta, True, {},
                            None, True)
    there = target.test_engine
    assert read_state(there, inst) == b'written-before\n'
    assert not engine_has(there, local_ref(inst.image_ref))
    source.confirm_migration(ctx, move, inst, [])
    target.destroy(ctx, inst, [])


def test_a_partial_arrival_without_its_base_fails_and_reverts_cleanly(
        source, target, glance, ctx, engine, moved):
    inst, meta, move, old, info = moved
    transfer = migration.transfer_from(info)
    # The base is gone from Glance, and the target never had it.
    glance.delete_image(inst.image_ref)
    with pytest.raises(exception.MigrationError,
                       match='neither in Glance nor on this host'):
        target.finish_migration(ctx, move, inst, info, [], meta, True, {},
                                None, True)

    there = target.test_engine
    assert names_on(there, inst) == []
    assert not engine_has(there, local_ref(transfer))
    assert not engine_has(there, local_ref(inst.image_ref))
    assert [i for i in there.images() if i.get('RepoTags')] == []
    assert not glance_has(glance, transfer)
    # Nova's revert: the destroy on the target, the server back on the
    # source, as it was (its image is still cached there).
    inst.task_state = task_states.RESIZE_REVERTING
    target.destroy(ctx, inst, [], None, destroy_disks=True)
    inst.flavor = old
    source.finish_revert_migration(ctx, inst, [], move, None, True)
    inst.task_state = None
    assert state(engine, inst)['Running']
    assert read_state(engine, inst) == b'written-before\n'


def test_a_docker26_source_leaves_the_base_blobs_out_of_its_oci_layout(
        private_engines, target, glance, glance_image_api, ctx, moves,
        node_stats):
    # Docker 25+ saves an OCI layout, its layers named by diff id; the
    # target (Docker 20.10) gets the classic form without the base's.
    engines_fx.require('docker26')
    private = private_engines.get('docker26')
    client = docker.DockerClient(private.url)
    src = driver_mod.DockerDriver(
        virtapi=None, host=host_mod.Host(client),
        image_api=glance_image_api, find_migration=moves,
        target_stats=node_stats)
    src.init_host('source-26')
    api = private.api()
    base = glance.create_image('base', save_tar(['/bin/sh']))
    inst = nova_objects.instance(image_ref=base['id'])
    meta = image_meta(base['id'], os_command_line=WRITER)
    try:
        boot(src, ctx, inst, base['id'], os_command_line=WRITER)
        assert read_state(api, inst) == b'written-before\n'
        base_layer = api.inspect_image(local_ref(base['id']))['RootFS'][
            'Layers'][0]
        move = moves.start(inst, 'source-26', 'compute-dst')
        info = src.migrate_disk_and_power_off(ctx, inst, '127.0.0.1',
                                              bigger(), [], None, 0, 0)
        inst.flavor = bigger()
        transfer = migration.transfer_from(info)
        members = transfer_members(glance, transfer)
        assert 'index.json' in members
        assert 'blobs/sha256/' + base_layer[7:] not in members
        assert glance.get_image(transfer)['size'] < 256 * 1024

        target.finish_migration(ctx, move, inst, info, [], meta, True, {},
                                None, True)
        assert read_state(target.test_engine, inst) == b'written-before\n'
        src.confirm_migration(ctx, move, inst, [])
        assert names_on(api, inst) == []
        target.destroy(ctx, inst, [])
    finally:
        src.cleanup(None, inst, None, destroy_vifs=False)
        api.remove_image(local_ref(base['id']))
        api.close()
        client.close()


@pytest.mark.parametrize('kind', ['docker26-containerd', 'podman'])
def test_a_target_on_an_engine_without_partial_loads_gets_the_whole_image(
        source, private_engines, glance, glance_image_api, ctx, engine,
        instances, local_images, moves, node_stats, kind):
    # Podman refuses an archive without the layers it holds; Docker's
    # containerd store loads one only while its content store keeps the
    # blobs: both report so, and get the whole image.
    engines_fx.require(kind)
    private = private_engines.get(kind)
    client = docker.DockerClient(private.url)
    dst = target_driver(client, glance_image_api, moves, node_stats)
    assert node_stats['compute-dst'] == {
        engine_facts.PARTIAL_LOAD_STAT: 'false'}
    there = private.api()
    inst, meta = running_writer(source, ctx, engine, glance, instances,
                                local_images)
    transfer = None
    try:
        move, _, info = move_away(source, dst, ctx, inst, meta, moves,
                                  bigger())
        transfer = migration.transfer_from(info)
        image = glance.get_image(transfer)
        assert migration.PARTIAL_BASE_PROPERTY not in image
        assert image['size'] > 1024 * 1024
        dst.finish_migration(ctx, move, inst, info, [], meta, True, {},
                             None, True)
        assert read_state(there, inst) == b'written-before\n'
        source.confirm_migration(ctx, move, inst, [])
        dst.destroy(ctx, inst, [])
        assert names_on(there, inst) == []
    finally:
        dst.destroy(ctx, inst, [])
        # The engine is the session's: what the target loaded goes.
        for image_id in (inst.image_ref, transfer):
            if image_id:
                there.remove_image(local_ref(image_id))
        there.close()
        client.close()
