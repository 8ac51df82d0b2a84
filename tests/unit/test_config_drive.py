import os

import pytest
from nova import exception

from nova_docker import config_drive
from nova_docker import container
from tests.fixtures import nova_objects


def test_tree_is_bytes_by_normal_relative_path():
    assert config_drive.tree([
        ('openstack/latest/meta_data.json', '{"uuid": "é"}'),
        ('openstack/./latest/user_data', b'#!/bin/sh\n'),
    ]) == {'openstack/latest/meta_data.json': '{"uuid": "é"}'.encode(),
           'openstack/latest/user_data': b'#!/bin/sh\n'}


@pytest.mark.parametrize('path', ['/etc/passwd', '../x', 'a/../../x', '',
                                  '.'])
def test_tree_refuses_a_path_outside_the_drive(path):
    with pytest.raises(exception.InstanceDeployFailure,
                       match='outside the drive'):
        config_drive.tree([(path, b'x')])


def test_tree_is_bounded_in_total():
    entries = [('a', b'x' * 6), ('b', b'x' * 5)]
    assert len(config_drive.tree(entries, max_bytes=11)) == 2
    with pytest.raises(exception.InstanceDeployFailure,
                       match='over 10 bytes: make its user data'):
        config_drive.tree(entries, max_bytes=10)


def test_the_default_bound_is_novas_vfat_drive_size():
    from nova.virt import configdrive

    assert config_drive.MAX_BYTES == configdrive.CONFIGDRIVESIZE_BYTES


def test_the_workload_body_binds_the_drive_read_only_at_the_seed_dir():
    body = container.create_body(
        nova_objects.instance(), nova_objects.image_meta(), 'glance/x:latest',
        100, mounts=[config_drive.mount('/srv/instances/u/config_drive')])
    assert body['HostConfig']['Mounts'] == [{
        'Type': 'bind', 'Source': '/srv/instances/u/config_drive',
        'Target': '/var/lib/cloud/seed/config_drive', 'ReadOnly': True}]


def test_no_drive_no_mount():
    body = container.create_body(
        nova_objects.instance(), nova_objects.image_meta(), 'glance/x:latest',
        100)
    assert 'Mounts' not in body['HostConfig']


def _drives(tmp_path, host='compute-1'):
    drives = config_drive.ConfigDrives(str(tmp_path))
    drives.serve(host)
    return drives


def _listing(top):
    return sorted(os.path.relpath(os.path.join(d, n), top)
                  for d, dirs, files in os.walk(top) for n in dirs + files)


def test_write_makes_the_tree_root_only_and_replaces_an_old_one(tmp_path):
    drives = _drives(tmp_path)
    drives.write('u', {'openstack/latest/user_data': b'old',
                       'ec2/latest/meta-data.json': b'{}'})
    path = drives.write('u', {'openstack/latest/user_data': b'new'})

    assert path == str(tmp_path / 'u' / 'config_drive@compute-1')
    assert _listing(tmp_path) == [
        'u', 'u/config_drive@compute-1', 'u/config_drive@compute-1/openstack',
        'u/config_drive@compute-1/openstack/latest',
        'u/config_drive@compute-1/openstack/latest/user_data']
    assert (tmp_path / 'u/config_drive@compute-1/openstack/latest/user_data'
            ).read_bytes() == b'new'
    for sub in ('', 'openstack', 'openstack/latest'):
        assert os.stat(os.path.join(path, sub)).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(
        path, 'openstack/latest/user_data')).st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_nothing(tmp_path):
    drives = _drives(tmp_path)
    # A directory where a file must go: the write fails half-way.
    with pytest.raises(exception.InstanceDeployFailure,
                       match='could not be written under'):
        drives.write('u', {'a/b': b'x', 'a/b/c': b'y'})
    assert os.listdir(tmp_path) == []


def test_a_failed_rewrite_keeps_the_old_drive(tmp_path):
    drives = _drives(tmp_path)
    drives.write('u', {'user_data': b'old'})
    with pytest.raises(exception.InstanceDeployFailure):
        drives.write('u', {'a/b': b'x', 'a/b/c': b'y'})
    assert _listing(tmp_path) == ['u', 'u/config_drive@compute-1',
                                  'u/config_drive@compute-1/user_data']


def test_remove_takes_the_drive_and_an_emptied_instance_dir(tmp_path):
    drives = _drives(tmp_path)
    drives.write('u', {'user_data': b'x'})
    drives.write('v', {'user_data': b'x'})
    (tmp_path / 'v' / 'console.log').write_text('')
    drives.remove('u')
    drives.remove('v')
    drives.remove('never-written')
    assert _listing(tmp_path) == ['v', 'v/console.log']
