"""Decisions of the snapshotter, with fake engine and image API objects
(the real ones are in tests/functional)."""

import json

import pytest
from nova.compute import task_states
from nova import conf as nova_conf
from nova import exception

from nova_docker.docker import errors as docker_errors
from nova_docker.image import snapshot
from nova_docker import labels
from tests.fixtures import nova_objects


# -- snapshot metadata ------------------------------------------------------

def test_snapshot_metadata_keeps_boot_properties_only():
    inst = nova_objects.instance(project_id='proj-1', os_type='linux')
    inst.system_metadata = {
        'image_os_command_line': '/bin/sh -c x',
        'image_hypervisor_type': 'docker',
        'image_img_signature': 'sig',
        'image_os_hash_value': 'abc',
        'image_min_ram': '0',
        'image_base_image_ref': 'old',
        'other': 'not an image key',
    }
    meta = snapshot.snapshot_metadata(inst)
    assert meta['container_format'] == 'docker'
    assert meta['disk_format'] == 'raw'
    props = meta['properties']
    assert props['os_command_line'] == '/bin/sh -c x'
    assert props['hypervisor_type'] == 'docker'
    assert props['owner_id'] == 'proj-1'
    assert props['image_location'] == 'snapshot'
    assert props['os_type'] == 'linux'
    for gone in ('img_signature', 'os_hash_value', 'min_ram',
                 'base_image_ref'):
        assert gone not in props


def test_snapshot_metadata_without_system_metadata():
    meta = snapshot.snapshot_metadata(nova_objects.instance())
    assert meta['properties']['owner_id'] == 'project-a'


def test_commit_blanks_the_instance_labels():
    assert 'LABEL "org.openstack.nova.instance-uuid"=""' in (
        snapshot.COMMIT_CHANGES)
    assert 'LABEL "org.openstack.nova.project-id"=""' in (
        snapshot.COMMIT_CHANGES)


def test_commit_blanks_every_label_of_ours_one_instruction_each():
    # Podman reads a LABEL line with several pairs as one label whose
    # value is the rest of the line (the others kept their values).
    assert snapshot.COMMIT_CHANGES == [
        'LABEL "%s"=""' % label for label in labels.KNOWN_LABELS]
    assert 'LABEL "org.openstack.nova.host"=""' in snapshot.COMMIT_CHANGES


@pytest.fixture
def non_inheritable():
    nova_conf.CONF.set_override('non_inheritable_image_properties',
                                ['cache_in_nova', 'base_only_note'])
    yield
    nova_conf.CONF.clear_override('non_inheritable_image_properties')


def test_snapshot_metadata_drops_registry_records_and_non_inheritable(
        non_inheritable):
    inst = nova_objects.instance()
    inst.system_metadata = {
        'image_os_command_line': '/bin/sh',
        'image_nova_docker_manifest': 'sha256:' + '1' * 64,
        'image_cache_in_nova': 'True',
        'image_base_only_note': 'x',
        'image_os_glance_import_task': 'y',
        'image_cinder_encryption_key_id': 'k',
    }
    # As nova's API made the snapshot's image (it copies the registry's
    # records); what the driver leaves out, the upload purges.
    current = {'nova_docker_manifest': 'sha256:' + '1' * 64,
               'nova_docker_tag': '1', 'image_type': 'snapshot',
               'instance_uuid': inst.uuid, 'base_image_ref': 'b-1',
               'os_command_line': '/bin/sh -c "asked for"',
               'cache_in_nova': 'True'}
    props = snapshot.snapshot_metadata(inst, current)['properties']
    for gone in ('nova_docker_manifest', 'nova_docker_tag', 'cache_in_nova',
                 'base_only_note', 'os_glance_import_task',
                 'cinder_encryption_key_id'):
        assert gone not in props, gone
    # nova's own properties of the snapshot stay; the request's win.
    assert props['image_type'] == 'snapshot'
    assert props['instance_uuid'] == inst.uuid
    assert props['base_image_ref'] == 'b-1'
    assert props['os_command_line'] == '/bin/sh -c "asked for"'


def test_snapshot_task_states_and_missing_container():
    class Client:
        def commit_container(self, *args, **kwargs):
            raise docker_errors.NotFound('no such container', 404)

    states = []
    inst = nova_objects.instance()
    with pytest.raises(exception.InstanceNotRunning):
        snapshot.Snapshotter(Client(), image_api=object()).snapshot(
            None, inst, 'img', lambda **kw: states.append(kw))
    assert states == [{'task_state': task_states.IMAGE_PENDING_UPLOAD}]
# -- snapshot upload reader -------------------------------------------------

def test_iter_reader_reads_like_a_file():
    reader = snapshot.IterReader(iter([b'abc', b'', b'defgh', b'i']))
    assert reader.read(2) == b'ab'
    assert reader.read(4) == b'c'
    assert reader.read(100) == b'defgh'
    assert reader.read() == b'i'
    assert reader.read(10) == b''
    with pytest.raises(TypeError):
        json.dumps(reader)  # glanceclient then chunks it as a file


def test_iter_reader_hands_on_the_chunks_themselves():
    # glanceclient's HTTP library copies what it is given anyway: a copy
    # here would be a second one.
    chunks = [b'a' * 1000, b'b' * 65536]
    reader = snapshot.IterReader(iter(chunks))
    assert reader.read(1 << 20) is chunks[0]
    assert reader.read(1 << 20) is chunks[1]


def test_iter_reader_cuts_big_chunks_into_upload_pieces():
    data = bytes(range(256)) * 1024
    reader = snapshot.IterReader(iter([data]), piece=100000)
    pieces = list(iter(lambda: reader.read(1 << 20), b''))
    assert [len(p) for p in pieces] == [100000, 100000, 62144]
    assert b''.join(pieces) == data
    buffer = bytearray(10)
    assert snapshot.IterReader(iter([b'abc'])).readinto(buffer) == 3
    assert buffer[:3] == b'abc'

