"""The config drive on the real engine: what the workload reads at
/var/lib/cloud/seed/config_drive, that it can't change it, and that
nothing of it stays in instances_path."""

import base64
import json
import os

import pytest
from nova import exception

from nova_docker import config_drive
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from tests.fixtures import config_drive as config_drive_fx
from tests.fixtures import nova_objects

# Runs once per engine (tests/fixtures/engines.py).
pytestmark = pytest.mark.every_engine

SEED = config_drive.TARGET
META = SEED + '/openstack/latest/meta_data.json'
USER_DATA = SEED + '/openstack/latest/user_data'
# A user of the image other than root (busybox's image has no passwd).
NOBODY = '65534:65534'


@pytest.fixture
def instances_path(tmp_path):
    path = tmp_path / 'instances'
    path.mkdir()
    return str(path)


@pytest.fixture
def driver(engine_client, image_api, instances_path):
    """A DockerDriver whose config drives go under ``instances_path``,
    their metadata from a stand-in for nova's (no nova database here)."""
    drv = driver_mod.DockerDriver(
        virtapi=None, host=host_mod.Host(engine_client),
        image_api=image_api,
        config_drives=config_drive.ConfigDrives(instances_path),
        instance_metadata=config_drive_fx.metadata)
    drv.init_host('test-node')
    return drv


def with_drive(instances, user_data=b'#!/bin/sh\necho hello\n', **kwargs):
    kwargs.setdefault('config_drive', 'True')
    return instances(
        user_data=base64.b64encode(user_data).decode(),
        metadata={'role': 'web'}, **kwargs)


def spawn(driver, inst, image_meta, injected_files=()):
    driver.spawn(None, inst, image_meta, list(injected_files), None, {})


def read(engine, inst, path, user=None):
    return engine.exec('nova-%s' % inst.uuid, ['cat', path], user=user)


def test_the_workload_reads_its_config_drive(driver, engine, instances,
                                             busybox_image):
    inst = with_drive(instances)
    spawn(driver, inst, busybox_image,
          [('/etc/motd', b'welcome\n')])

    code, out, _err = read(engine, inst, META)
    assert code == 0
    meta = json.loads(out)
    assert (meta['uuid'], meta['hostname'], meta['meta']) == (
        inst.uuid, 'test-host', {'role': 'web'})
    assert read(engine, inst, USER_DATA)[:2] == (
        0, b'#!/bin/sh\necho hello\n')
    assert read(engine, inst, SEED + '/openstack/content/0000')[:2] == (
        0, b'welcome\n')
    assert read(engine, inst, SEED + '/ec2/latest/meta-data.json')[0] == 0


def test_the_config_drive_is_read_only_and_root_only(
        driver, engine, instances, busybox_image, instances_path):
    inst = with_drive(instances)
    spawn(driver, inst, busybox_image)
    name = 'nova-%s' % inst.uuid

    code, _out, err = engine.exec(
        name, ['sh', '-c', 'echo evil > %s' % USER_DATA])
    assert code != 0 and b'Read-only file system' in err
    assert engine.exec(name, ['mkdir', SEED + '/x'])[0] != 0
    # User data can hold secrets: other users of the image don't read it
    # (though they run and read the rest of the image).
    assert engine.exec(name, ['cat', '/bin/busybox'],
                       user=NOBODY)[0] == 0
    code, _out, err = read(engine, inst, USER_DATA, user=NOBODY)
    assert code != 0 and b'Permission denied' in err
    drive = os.path.join(instances_path, inst.uuid,
                         'config_drive@test-node')
    assert os.stat(drive).st_mode & 0o777 == 0o700
    assert os.stat(os.path.join(
        drive, 'openstack/latest/user_data')).st_mode & 0o777 == 0o600


def test_destroy_removes_it_from_instances_path(
        driver, engine, instances, busybox_image, instances_path):
    inst = with_drive(instances)
    spawn(driver, inst, busybox_image)
    assert os.listdir(instances_path) == [inst.uuid]
    driver.destroy(None, inst, None)
    assert os.listdir(instances_path) == []


def test_a_server_that_asks_for_none_gets_none(
        driver, engine, instances, busybox_image, instances_path):
    inst = instances()
    spawn(driver, inst, busybox_image)
    assert engine.exec('nova-%s' % inst.uuid,
                       ['test', '-e', SEED])[0] != 0
    # (The instance's directory holds its resolution files.)
    assert [name for name in os.listdir(os.path.join(instances_path,
                                                     inst.uuid))
            if name.startswith(config_drive.DIR_NAME)] == []


def test_force_config_drive_gives_every_new_server_one(
        driver, engine, instances, busybox_image):
    driver_mod.CONF.set_override('force_config_drive', True)
    try:
        inst = with_drive(instances, config_drive='')
        spawn(driver, inst, busybox_image)
    finally:
        driver_mod.CONF.clear_override('force_config_drive')
    assert json.loads(read(engine, inst, META)[1])['uuid'] == inst.uuid


def test_a_rebuild_writes_it_anew(driver, engine, instances,
                                  busybox_image):
    # Nova's rebuild of a driver without its own: destroy, then spawn.
    inst = with_drive(instances)
    spawn(driver, inst, busybox_image)
    driver.destroy(None, inst, None)
    inst.user_data = base64.b64encode(b'#!/bin/sh\necho again\n').decode()
    inst.metadata = {'role': 'db'}
    spawn(driver, inst, busybox_image)
    assert read(engine, inst, USER_DATA)[1] == b'#!/bin/sh\necho again\n'
    assert json.loads(read(engine, inst, META)[1])['meta'] == {'role': 'db'}


def test_a_server_made_again_keeps_its_injected_files(
        driver, engine_client, engine, instances, busybox_image):
    # Its containers were removed behind Nova's back: the next start makes
    # them again (as libvirt's hard reboot defines the domain anew) with
    # the drive its spawn wrote, the only copy of the files injected then.
    inst = with_drive(instances, image_ref=busybox_image.id,
                      system_metadata={'image_container_format': 'docker',
                                       'image_disk_format': 'raw'})
    spawn(driver, inst, busybox_image, [('/etc/motd', b'welcome\n')])
    for name in ('nova-%s' % inst.uuid, 'nova-%s-sandbox' % inst.uuid):
        engine_client.remove_container(name, force=True)
    driver.power_on(None, inst, None)
    assert read(engine, inst, SEED + '/openstack/content/0000')[:2] == (
        0, b'welcome\n')
    assert read(engine, inst, USER_DATA)[:2] == (
        0, b'#!/bin/sh\necho hello\n')


def test_a_failed_spawn_leaves_nothing_in_instances_path(
        driver, engine, instances, busybox_image, instances_path):
    # Refused after the drive is written: the workload's body.
    inst = with_drive(instances,
                      flavor_obj=nova_objects.flavor(memory_mb=4))
    with pytest.raises(exception.InstanceDeployFailure):
        spawn(driver, inst, busybox_image)
    assert os.listdir(instances_path) == []


def test_an_unwritable_instances_path_is_a_clear_error(
        engine_client, image_api, instances, busybox_image, tmp_path):
    not_a_dir = tmp_path / 'not-a-dir'
    not_a_dir.write_text('')
    drv = driver_mod.DockerDriver(
        virtapi=None, host=host_mod.Host(engine_client),
        image_api=image_api,
        config_drives=config_drive.ConfigDrives(str(not_a_dir)),
        instance_metadata=config_drive_fx.metadata)
    drv.init_host('test-node')
    inst = with_drive(instances)
    with pytest.raises(exception.InstanceDeployFailure,
                       match='instances_path is a writable directory'):
        spawn(drv, inst, busybox_image)
    assert not drv.instance_exists(inst)
    assert not_a_dir.read_text() == ''
    assert sorted(os.listdir(tmp_path)) == ['instances', 'not-a-dir']


def test_a_remote_engine_is_refused_before_anything_is_made(
        driver, engine, instances, busybox_image, instances_path):
    # The drive is a directory of this host: an engine elsewhere could
    # not bind it.
    conf = driver_mod.CONF
    before = conf.docker.host_url
    conf.set_override('host_url', 'tcp://192.0.2.1:2376', 'docker')
    try:
        inst = with_drive(instances)
        with pytest.raises(exception.InvalidInput, match='config drive'):
            spawn(driver, inst, busybox_image)
    finally:
        if engine.url:
            conf.set_override('host_url', before, 'docker')
        else:
            conf.clear_override('host_url', 'docker')
    assert not driver.instance_exists(inst)
    assert os.listdir(instances_path) == []
