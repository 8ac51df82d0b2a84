"""The pure parts of resize and cold migration (nova_docker.migration)."""

import json
import types

import pytest
from nova import exception
from nova import objects

from nova_docker.archive import partial
from nova_docker import container
from nova_docker import exception as docker_exception
from nova_docker import migration
from tests.fixtures import nova_objects

GI = 1024 ** 3


def a_migration(source='compute1', dest='compute2'):
    return objects.Migration(uuid='3c1b2f8e-0a5d-4e0b-9d8b-6f1e2a3c4d5e',
                             source_compute=source, dest_compute=dest)


def test_same_host_is_the_migration_hosts():
    assert migration.same_host(a_migration('c1', 'c1'))
    assert not migration.same_host(a_migration('c1', 'c2'))


def test_transfer_image_id_is_found_again_from_the_migration():
    # Confirm and revert on the source derive it; no record is kept.
    first = migration.transfer_image_id(a_migration())
    assert first == migration.transfer_image_id(a_migration())
    other = objects.Migration(uuid='5f0c7a6e-1b2d-4c3e-8f9a-0b1c2d3e4f50')
    assert migration.transfer_image_id(other) != first


def test_disk_info_carries_the_transfer_image_or_nothing():
    assert migration.transfer_from(migration.disk_info('img-1')) == 'img-1'
    assert migration.transfer_from(migration.disk_info(None)) is None
    assert migration.transfer_from(json.loads(
        migration.disk_info('img-2'))) == 'img-2'
    assert migration.transfer_from(None) is None


@pytest.mark.parametrize('project, owner', [
    ('project-a', None),  # the user's own resize: Glance makes it theirs
    ('admin', 'project-a'),  # an admin's migration: still the project's
])
def test_transfer_image_is_hidden_private_and_says_what_it_is(project,
                                                              owner):
    inst = nova_objects.instance(project_id='project-a')
    # Only who asks matters here.
    ctx = types.SimpleNamespace(project_id=project)
    record = migration.transfer_image(ctx, inst, a_migration())
    assert record['os_hidden'] is True
    assert record['visibility'] == 'private'
    assert record.get('owner') == owner
    assert (record['container_format'], record['disk_format']) == (
        'docker', 'raw')
    assert record['id'] == migration.transfer_image_id(a_migration())
    assert record['properties'] == {
        'image_type': 'migration', 'instance_uuid': inst.uuid,
        'migration_uuid': a_migration().uuid}
    assert inst.uuid in record['name']


def test_a_root_disk_smaller_than_the_file_system_is_refused():
    inst = nova_objects.instance()
    small = nova_objects.flavor()  # root_gb 1
    migration.check_disk(inst, small, GI)
    with pytest.raises(exception.FlavorDiskSmallerThanImage):
        migration.check_disk(inst, small, GI + 1)


def test_a_flavor_without_root_disk_is_bounded_as_a_boot_is():
    flavor = nova_objects.flavor()
    flavor.root_gb = 0
    migration.check_disk(nova_objects.instance(), flavor, 10 * GI)
    with pytest.raises(exception.FlavorDiskSmallerThanImage):
        migration.check_disk(nova_objects.instance(), flavor, 10000 * GI)


def limits_of(**kwargs):
    return container.resource_limits(nova_objects.flavor(**kwargs), 100,
                                     host_cpus=8)


def test_limits_are_those_a_new_container_gets():
    inst = nova_objects.instance(nova_objects.flavor(memory_mb=256,
                                                     vcpus=2))
    body = container.create_body(inst, nova_objects.image_meta(), 'x', 100,
                                 host_cpus=8)
    limits = container.resource_limits(inst.flavor, 100, host_cpus=8)
    assert limits == {key: body['HostConfig'][key] for key in limits}
    assert limits == {'Memory': 256 * 2 ** 20, 'MemorySwap': 256 * 2 ** 20,
                      'CpuShares': 2048, 'NanoCpus': 2 * 10 ** 9,
                      'PidsLimit': 100}


def test_update_sends_the_new_limits():
    current = limits_of(memory_mb=512)
    new = limits_of(memory_mb=1024, vcpus=2)
    assert migration.update_body(current, new, nova_objects.instance(),
                                 nova_objects.flavor()) == new


def test_update_clears_a_cfs_limit_the_new_flavor_lacks():
    quota = {'quota:cpu_quota': '50000', 'quota:cpu_period': '100000'}
    current = container.resource_limits(
        nova_objects.flavor(extra_specs=quota), 0, container.Hardening(
            cpu_hard_cap=False))
    new = container.resource_limits(nova_objects.flavor(), 0,
                                    container.Hardening(cpu_hard_cap=False))
    body = migration.update_body(current, new, nova_objects.instance(),
                                 nova_objects.flavor())
    # 0 would mean "unchanged" to the engine.
    assert body['CpuQuota'] == -1 and body['CpuPeriod'] == 100000


@pytest.mark.parametrize('old_specs, new_specs', [
    ({}, {'quota:cpu_quota': '50000'}),
    ({'quota:cpu_quota': '50000'}, {}),
])
def test_switching_the_kind_of_cpu_cap_is_refused(old_specs, new_specs):
    current = limits_of(extra_specs=old_specs)
    new = limits_of(extra_specs=new_specs)
    with pytest.raises(exception.ResizeError, match='kind of CPU limit'):
        migration.update_body(current, new, nova_objects.instance(),
                              nova_objects.flavor(name='m1.quota'))


def test_update_lifts_a_pids_limit_the_options_dropped():
    current = limits_of()
    new = container.resource_limits(nova_objects.flavor(), 0, host_cpus=8)
    assert migration.update_body(current, new, nova_objects.instance(),
                                 nova_objects.flavor())['PidsLimit'] == -1


@pytest.mark.parametrize('stats, partial', [
    ({'docker_loads_partial_archives': 'true'}, True),
    ({'docker_loads_partial_archives': 'false'}, False),
    ({'docker_loads_partial_archives': 'True'}, False),
    ({}, False), (None, False)])
def test_only_a_target_that_says_so_gets_a_partial_transfer(stats, partial):
    assert migration.loads_partial(stats) is partial


def test_a_transfer_names_the_base_it_lacks_which_must_be_the_servers():
    inst = nova_objects.instance(image_ref='base-1')
    assert migration.partial_base_of({'id': 't'}, inst) is None
    assert migration.partial_base_of(
        {'id': 't', 'properties': {}}, inst) is None
    base = migration.PartialBase('base-1', ('sha256:' + 'a' * 64,))
    assert migration.partial_base_of(
        {'id': 't', 'properties': base.properties}, inst) == 'base-1'
    # A tenant may edit its image's properties: another image is refused.
    with pytest.raises(exception.ImageUnacceptable, match='base-2'):
        migration.partial_base_of(
            {'id': 't', 'properties': {
                migration.PARTIAL_BASE_PROPERTY: 'base-2'}}, inst)


class Snapshots:
    """A Snapshotter stand-in whose first upload with held layers fails
    as a save that did not match does."""

    def __init__(self, mismatch):
        self.mismatch = mismatch
        self.calls = []

    def snapshot(self, context, instance, image_id, update_task_state,
                 held=None):
        self.calls.append(held)
        if held is not None and self.mismatch:
            try:
                raise partial.Mismatch('not the held layers')
            except partial.Mismatch as exc:
                raise docker_exception.SnapshotFailed(
                    image_id=image_id, reason=str(exc)) from exc


class Images:
    """Glance's rule too: a deleted image's id is never given again."""

    def __init__(self):
        self.created, self.deleted = [], []

    def create(self, context, record):
        if record['id'] in self.created:
            raise RuntimeError('409 Conflict: image id %s already exists'
                               % record['id'])
        self.created.append(record['id'])

    def delete(self, context, image_id):
        self.deleted.append(image_id)


class Local:
    def layers(self, image_id):
        return ('sha256:' + 'a' * 64,) if image_id == 'base-1' else None


@pytest.mark.parametrize('mismatch', [False, True])
def test_a_save_that_does_not_match_is_sent_whole(mismatch):
    snapshots, images = Snapshots(mismatch), Images()
    transfers = migration.Transfers(snapshots, None, Local(), images)
    inst = nova_objects.instance(image_ref='base-1')
    ctx = types.SimpleNamespace(project_id=inst.project_id)
    sent = transfers.send(ctx, inst, a_migration(),
                          {'docker_loads_partial_archives': 'true'})
    first, whole = migration.transfer_image_ids(a_migration())
    assert sent == (whole if mismatch else first)
    held = migration.PartialBase('base-1', ('sha256:' + 'a' * 64,))
    assert snapshots.calls == ([held, None] if mismatch else [held])
    # The failed partial image went before the whole one was made, under
    # an id of its own.
    assert images.created == ([first, whole] if mismatch else [first])
    assert images.deleted == ([first] if mismatch else [])
    transfers.delete_all(ctx, a_migration(), inst)
    assert images.deleted[-2:] == [first, whole]


def test_no_word_from_the_target_or_no_local_base_sends_all():
    snapshots = Snapshots(False)
    ctx = types.SimpleNamespace(project_id='p')
    for stats, image_ref in (({}, 'base-1'),
                             ({'docker_loads_partial_archives': 'true'},
                              'not-here')):
        transfers = migration.Transfers(snapshots, None, Local(), Images())
        inst = nova_objects.instance(image_ref=image_ref, project_id='p')
        transfers.send(ctx, inst, a_migration(), stats)
    assert snapshots.calls == [None, None]
