"""Cinder volumes in real containers, on loop devices.

As root, on the real engine: each volume is a loop device handed over
the way Cinder's ``local`` connection type hands one (os-brick's
LocalConnector), attached through the driver's own entry points. What
the workload sees is read from inside it (``docker exec``), what the
host sees from its mount table and the devices themselves. Every loop
device, mount and file is gone after each test.
"""

import os
import sys
import tarfile
import io
import uuid

import pytest
from nova import exception

from nova_docker import conf as docker_conf
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from nova_docker.volume import privileged
from tests.fixtures import private_engine as private_fixtures
from tests.fixtures import volumes as vol_fx
from tests.fixtures import nova_objects

CONF = docker_conf.CONF
# Runs until SIGTERM (PID 1 ignores it unless it says otherwise).
IDLE = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
# What the workload's first command saw of /mnt/vdb.
SHOW_VDB_AT_START = ("grep -q ' /mnt/vdb ' /proc/self/mountinfo && "
                     "echo VDB-AT-START || echo NO-VDB-AT-START; " + IDLE)


# A dockerd of the test's own (see tests/fixtures/private_engine.py).
private_engine = private_fixtures.private_engine


def using(fixture):
    fixture.setUp()
    try:
        yield fixture
    finally:
        fixture.cleanUp()


@pytest.fixture
def loops():
    yield from using(vol_fx.LoopDevices())


@pytest.fixture
def volume_dir():
    yield from using(vol_fx.VolumeDir())


@pytest.fixture
def vdriver(engine_client, image_api, volume_dir):
    """A driver with volumes on ([docker] volume_mount_dir set)."""
    privsep = vol_fx.PrivsepInProcess()
    privsep.setUp()
    CONF.set_override('volume_mount_dir', volume_dir.path, 'docker')
    CONF.set_override('shutdown_timeout', 5)
    try:
        drv = driver_mod.DockerDriver(virtapi=None,
                                      host=host_mod.Host(engine_client),
                                      image_api=image_api)
        drv.init_host('test-node')
        yield drv
    finally:
        CONF.clear_override('volume_mount_dir', 'docker')
        CONF.clear_override('shutdown_timeout')
        privsep.cleanUp()


class Server:
    """An instance, its block_device_info as Nova would keep it, and the
    view from inside its workload."""

    def __init__(self, drv, engine, instance):
        self.drv, self.engine, self.instance = drv, engine, instance
        self.mappings = []

    @property
    def bdi(self):
        return vol_fx.block_device_info(*self.mappings)

    @property
    def name(self):
        return 'nova-' + self.instance.uuid

    def attach(self, info, mount_device='/dev/vdb'):
        self.drv.attach_volume(None, info, self.instance, mount_device)
        self.mappings.append((info, mount_device))

    def detach(self, info, mount_device='/dev/vdb'):
        self.drv.detach_volume(None, info, self.instance, mount_device)
        self.mappings.remove((info, mount_device))

    def sh(self, script):
        code, out, err = self.engine.exec(self.name, ['sh', '-c', script])
        return code, out.decode(), err.decode()

    def state(self):
        return self.engine.get('/containers/%s/json' % self.name).json()[
            'State']

    def logs(self, lines):
        """The workload's output once it holds ``lines`` lines."""
        return vol_fx.output_of(
            lambda: self.engine.logs(self.name)[0].decode(), lines)


@pytest.fixture
def servers(vdriver, engine, busybox_image, loops):
    """Factory of running servers (optionally with boot-time volumes),
    destroyed after the test with the volumes they hold then."""
    made = []

    def make(script=IDLE, mappings=(), image=None, **properties):
        meta = nova_objects.image_meta(
            image_id=(image or busybox_image).id,
            os_command_line='/bin/sh -c "%s"' % script)
        # Nova keeps every image property in the instance's system
        # metadata, prefixed.
        server = Server(vdriver, engine, nova_objects.instance(
            system_metadata={'image_' + k: v
                             for k, v in properties.items()}))
        server.mappings = list(mappings)
        made.append(server)
        vdriver.spawn(None, server.instance, meta, [], None, {},
                      network_info=None, block_device_info=server.bdi)
        return server

    yield make
    for server in made:
        vdriver.destroy(None, server.instance, None, server.bdi)


def outside(base, mounts):
    return [m for m in mounts if not m.startswith(base + '/')]


# -- the connector ----------------------------------------------------------

def test_volume_connector_is_built_as_libvirt_builds_it(vdriver):
    CONF.set_override('my_block_storage_ip', '192.0.2.7')
    try:
        props = vdriver.get_volume_connector(nova_objects.instance())
    finally:
        CONF.clear_override('my_block_storage_ip')
    assert props['ip'] == '192.0.2.7'
    assert props['host'] == CONF.host
    assert props['multipath'] is False
    assert props['platform'] == os.uname().machine
    assert props['os_type'] == 'linux'


# -- attach to a running server ---------------------------------------------

def test_blank_volume_is_formatted_and_appears_in_the_running_workload(
        servers, loops, volume_dir):
    server = servers()
    before = server.state()
    host_before = vol_fx.host_mounts()
    device = loops.make()
    server.attach(vol_fx.connection_info(device))
    assert vol_fx.probe(device) == 'ext4'
    code, out, _err = server.sh(
        "grep ' /mnt/vdb ' /proc/self/mountinfo && "
        "echo written > /mnt/vdb/data && cat /mnt/vdb/data")
    assert code == 0, out
    assert ' rw,' in out and 'nodev' in out and 'nosuid' in out
    assert out.endswith('written\n')
    # The same workload: not restarted.
    after = server.state()
    assert (after['Pid'], after['StartedAt']) == (before['Pid'],
                                                  before['StartedAt'])
    # On the host: the one mount in the server's volume directory.
    assert sorted(set(vol_fx.host_mounts()) - set(host_before)) == [
        os.path.join(volume_dir.path, server.instance.uuid, 'vdb')]


@pytest.mark.parametrize('mkfs', [('mkfs.ext4', '-q'), ('mkfs.xfs', '-q')],
                         ids=['ext4', 'xfs'])
def test_volume_with_a_file_system_is_mounted_as_it_is(servers, loops,
                                                       mkfs):
    server = servers()
    device = loops.make(size_mb=320, mkfs=mkfs)
    vol_fx.run('sh', '-c', 'm=$(mktemp -d) && mount %s $m && '
               'echo kept > $m/old && umount $m && rmdir $m' % device)
    server.attach(vol_fx.connection_info(device))
    code, out, _err = server.sh('cat /mnt/vdb/old && touch /mnt/vdb/new')
    assert (code, out) == (0, 'kept\n')


def _partition_table(device):
    mbr = bytearray(512)
    mbr[446 + 4] = 0x83  # one Linux partition
    mbr[446 + 8:446 + 16] = (2048).to_bytes(4, 'little') + (
        4096).to_bytes(4, 'little')
    mbr[510:512] = b'\x55\xaa'
    with open(device, 'r+b') as f:
        f.write(bytes(mbr))


def _luks(device):
    with open(device, 'r+b') as f:
        f.write(b'LUKS\xba\xbe\x00\x01aes\x00')


@pytest.mark.parametrize('make_it', [
    _partition_table, _luks,
    lambda d: vol_fx.run('mkswap', d),
    lambda d: vol_fx.run('mkfs.btrfs', '-q', d),
], ids=['partition-table', 'luks', 'swap', 'btrfs'])
def test_volume_with_anything_else_is_refused_and_left_alone(
        servers, loops, volume_dir, make_it):
    server = servers()
    device = loops.make(size_mb=128)
    make_it(device)
    data = vol_fx.head(device)
    host_before = vol_fx.host_mounts()
    with pytest.raises(exception.VolumeAttachFailed) as caught:
        server.attach(vol_fx.connection_info(device))
    assert 'The volume was not mounted and is unchanged' in str(
        caught.value)
    assert vol_fx.head(device) == data
    assert vol_fx.host_mounts() == host_before
    assert os.listdir(os.path.join(volume_dir.path,
                                   server.instance.uuid)) == []
    assert server.sh('ls -A /mnt')[1] == ''


def test_failed_mount_never_formats(servers, loops):
    """An ext4 the kernel can't mount (64 KiB blocks on 4 KiB pages) stays
    as it was: a failed mount is not a blank volume."""
    server = servers()
    device = loops.make(mkfs=('mkfs.ext4', '-q', '-F', '-b', '65536'))
    data = vol_fx.head(device)
    with pytest.raises(exception.VolumeAttachFailed):
        server.attach(vol_fx.connection_info(device))
    assert vol_fx.head(device) == data
    assert server.sh('ls -A /mnt')[1] == ''


def test_blank_volumes_refused_when_told(servers, loops):
    server = servers()
    device = loops.make()
    CONF.set_override('blank_volume_filesystem', 'none', 'docker')
    try:
        with pytest.raises(exception.VolumeAttachFailed):
            server.attach(vol_fx.connection_info(device))
    finally:
        CONF.clear_override('blank_volume_filesystem', 'docker')
    assert vol_fx.probe(device) == ''


def test_failed_format_leaves_the_volume_blank(servers, loops,
                                               monkeypatch):
    """mkfs dying half-way (here: of a size it refuses) must not leave a
    partial signature that the next attach would refuse or trust."""
    server = servers()
    device = loops.make(size_mb=1)
    monkeypatch.setitem(privileged.MKFS, 'ext4',
                        ('mkfs.ext4', '-q', '-b', '4096', '-N', '99999999'))
    with pytest.raises(exception.VolumeAttachFailed):
        server.attach(vol_fx.connection_info(device))
    assert vol_fx.probe(device) == ''


# -- the workload's own tree ------------------------------------------------

def test_workload_cannot_redirect_its_mnt(servers, loops, volume_dir):
    """/mnt is the server's read-only volume directory: it can't be made
    a symlink (to / or to the host through /proc), nor hold one."""
    server = servers()
    host_before = vol_fx.host_mounts()
    for attempt in ('rm -rf /mnt && ln -s / /mnt',
                    'mv /mnt /mnt.x && ln -s /proc/1/root/etc /mnt',
                    'ln -s /proc/1/root/etc /mnt/vdb',
                    'mkdir /mnt/vdb'):
        code, _out, _err = server.sh(attempt)
        assert code != 0, attempt
    device = loops.make()
    server.attach(vol_fx.connection_info(device))
    code, out, _err = server.sh("grep ' /mnt/vdb ' /proc/self/mountinfo")
    assert code == 0
    assert outside(volume_dir.path, vol_fx.host_mounts()) == outside(
        volume_dir.path, host_before)


def _image_with_symlink(engine, path, target):
    """An image whose ``path`` is a symlink to ``target``; its meta."""
    from tests.fixtures import images as image_fixtures
    rootfs = image_fixtures.busybox_rootfs_tar()
    buf = io.BytesIO(rootfs)
    with tarfile.open(fileobj=buf, mode='a', format=tarfile.USTAR_FORMAT) as t:
        link = tarfile.TarInfo(path)
        link.type, link.linkname, link.mode = tarfile.SYMTYPE, target, 0o777
        t.addfile(link)
    image_id = str(uuid.uuid4())
    tar = image_fixtures.docker_save_tar(None, ['/bin/sh'],
                                         rootfs=buf.getvalue())
    loaded = engine.load(tar).split('Loaded image ID: ')[1]
    engine.post('/images/%s/tag' % loaded,
                params={'repo': 'glance/' + image_id, 'tag': 'latest'})
    return nova_objects.image_meta(image_id=image_id)


@pytest.mark.parametrize('target', ['/proc/1/root/tmp', '../../../tmp'])
def test_image_whose_mnt_is_a_symlink_gets_its_volumes_inside(
        local_images, servers, loops, engine, volume_dir, target):
    """The bind's target is resolved inside the container's root: a /mnt
    pointing at the host through /proc, or above the root, lands in the
    container's own /tmp, never on the host."""
    image = _image_with_symlink(engine, 'mnt', target)
    local_images.append('glance/%s:latest' % image.id)
    host_tmp = set(os.listdir('/tmp'))
    host_before = vol_fx.host_mounts()
    server = servers(image=image)
    device = loops.make()
    server.attach(vol_fx.connection_info(device))
    code, out, _err = server.sh(
        "grep ' /tmp/vdb ' /proc/self/mountinfo && echo inside > /tmp/vdb/f")
    assert code == 0, out
    assert outside(volume_dir.path, vol_fx.host_mounts()) == outside(
        volume_dir.path, host_before)
    assert not {'vdb', 'f'} & (set(os.listdir('/tmp')) - host_tmp)


def test_two_servers_see_only_their_own_volumes(servers, loops):
    first, second = servers(), servers()
    for server, word in ((first, 'first'), (second, 'second')):
        server.attach(vol_fx.connection_info(loops.make()))
        assert server.sh('echo %s > /mnt/vdb/who' % word)[0] == 0
    assert first.sh('cat /mnt/vdb/who')[1] == 'first\n'
    assert second.sh('cat /mnt/vdb/who')[1] == 'second\n'
    assert second.sh('ls /mnt')[1] == 'vdb\n'


# -- detach and destroy -----------------------------------------------------

def test_detach_unmounts_inside_and_on_the_host_and_keeps_the_data(
        servers, loops, volume_dir):
    server = servers()
    host_before = vol_fx.host_mounts()
    device = loops.make()
    info = vol_fx.connection_info(device)
    server.attach(info)
    assert server.sh('echo kept > /mnt/vdb/data && sync')[0] == 0
    server.detach(info)
    assert server.sh('ls -A /mnt')[1] == ''
    assert vol_fx.host_mounts() == host_before
    assert vol_fx.ext4_file(device, '/data') == 'kept\n'
    # Attached again: the same file system, not a new one.
    server.attach(info, '/dev/vdc')
    assert server.sh('cat /mnt/vdc/data')[1] == 'kept\n'


def test_detach_is_refused_while_the_workload_uses_the_volume(servers,
                                                              loops):
    server = servers()
    info = vol_fx.connection_info(loops.make())
    server.attach(info)
    code, _out, _err = server.sh(
        'cd /mnt/vdb && (sleep 30 >/dev/null 2>&1 &) && sleep 0.3')
    assert code == 0
    with pytest.raises(exception.DeviceDetachFailed) as caught:
        server.detach(info)
    assert 'stop it' in str(caught.value)
    # Still attached and usable.
    assert server.sh('touch /mnt/vdb/still')[0] == 0
    server.sh('pkill sleep || killall sleep')


def test_destroy_unmounts_every_volume_and_keeps_their_data(
        vdriver, servers, loops, volume_dir):
    host_before = vol_fx.host_mounts()
    server = servers()
    devices = [loops.make(), loops.make()]
    for device, name in zip(devices, ('/dev/vdb', '/dev/vdc'), strict=True):
        server.attach(vol_fx.connection_info(device), name)
        assert server.sh('echo %s > /mnt/%s/name' % (name, name[5:]))[0] == 0
    vdriver.destroy(None, server.instance, None, server.bdi)
    assert vol_fx.host_mounts() == host_before
    assert not os.path.exists(os.path.join(volume_dir.path,
                                           server.instance.uuid))
    assert vol_fx.ext4_file(devices[0], '/name') == '/dev/vdb\n'
    assert vol_fx.ext4_file(devices[1], '/name') == '/dev/vdc\n'


# -- volumes at every start -------------------------------------------------

def test_boot_time_volume_is_there_before_the_first_command(servers, loops):
    device = loops.make(mkfs=('mkfs.ext4', '-q'))
    server = servers(SHOW_VDB_AT_START,
                     mappings=[(vol_fx.connection_info(device), '/dev/vdb')])
    # (Its terminal ends the line with CR LF.)
    assert server.logs(1) == 'VDB-AT-START\r\n'


def test_every_start_mounts_the_volumes_again(vdriver, servers, loops,
                                              volume_dir):
    """Reboot (soft, hard), power off and on, and a start after the host
    came back (its mounts gone): the first command sees /mnt/vdb each
    time."""
    server = servers(SHOW_VDB_AT_START)
    server.attach(vol_fx.connection_info(loops.make()))
    inst = server.instance
    vdriver.reboot(None, inst, None, 'SOFT', server.bdi)
    vdriver.reboot(None, inst, None, 'HARD', server.bdi)
    vdriver.power_off(inst, timeout=5)
    vdriver.power_on(None, inst, None, server.bdi)
    # The host went down: the workload stopped and the mounts went.
    vdriver.power_off(inst, timeout=5)
    vol_fx.run('umount', os.path.join(volume_dir.path, inst.uuid, 'vdb'))
    vdriver.resume_state_on_host_boot(None, inst, None, None, server.bdi)
    assert server.logs(5).split() == ['NO-VDB-AT-START'] + [
        'VDB-AT-START'] * 4


def test_attach_to_a_stopped_server_shows_at_start(vdriver, servers, loops):
    server = servers(SHOW_VDB_AT_START)
    vdriver.power_off(server.instance, timeout=5)
    server.attach(vol_fx.connection_info(loops.make()))
    vdriver.power_on(None, server.instance, None, server.bdi)
    assert server.logs(2).split() == ['NO-VDB-AT-START', 'VDB-AT-START']


# -- extend -----------------------------------------------------------------

def test_extend_grows_a_mounted_xfs_online(vdriver, servers, loops):
    server = servers()
    device = loops.make(size_mb=320, mkfs=('mkfs.xfs', '-q'))
    info = vol_fx.connection_info(device)
    server.attach(info)
    before = server.state()

    def size_kb():
        return int(server.sh("df -k /mnt/vdb | tail -1")[1].split()[1])

    small = size_kb()
    loops.grow(device, 640)
    vdriver.extend_volume(None, info, server.instance, 640 * 1024 ** 2)
    assert size_kb() > small + 250 * 1024
    assert server.state()['StartedAt'] == before['StartedAt']


def test_spawn_with_a_refused_volume_leaves_nothing(vdriver, engine, loops,
                                                   busybox_image,
                                                   volume_dir):
    """The first volume mounts, the second is refused: the spawn fails
    and takes the containers, the first mount and the directory with
    it."""
    good, bad = loops.make(), loops.make()
    vol_fx.run('mkswap', bad)
    host_before = vol_fx.host_mounts()
    inst = nova_objects.instance(system_metadata={})
    bdi = vol_fx.block_device_info(
        (vol_fx.connection_info(good), '/dev/vdb'),
        (vol_fx.connection_info(bad), '/dev/vdc'))
    with pytest.raises(exception.VolumeAttachFailed):
        vdriver.spawn(None, inst, busybox_image, [], None, {},
                      network_info=None, block_device_info=bdi)
    assert vol_fx.host_mounts() == host_before
    assert vol_fx.mounts_of(good) == []
    assert os.listdir(volume_dir.path) == []
    names = {n for c in engine.containers() for n in c.get('Names') or []}
    assert not {n for n in names if inst.uuid in n}


def test_attach_is_refused_with_volumes_off(driver, instances,
                                            busybox_image, loops):
    """Without [docker] volume_mount_dir nothing is mounted, and the
    operator is told what to set."""
    inst = instances()
    driver.spawn(None, inst, busybox_image, [], None, {})
    device = loops.make()
    with pytest.raises(exception.VolumeAttachFailed) as caught:
        driver.attach_volume(None, vol_fx.connection_info(device), inst,
                             '/dev/vdb')
    assert 'volume_mount_dir' in str(caught.value)
    assert vol_fx.probe(device) == ''


def _status_of_helper(context: str) -> dict:
    """/proc/<pid>/status of the privsep daemon of ``context``."""
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
            with open('/proc/%s/status' % pid) as f:
                status = f.read()
        except OSError:
            continue
        if b'--privsep_context' in argv and context.encode() in argv:
            return dict(line.split(':\t', 1) for line in status.splitlines()
                        if ':\t' in line)
    raise AssertionError('no privsep daemon of %s' % context)


def test_the_helper_mounts_with_no_more_than_its_capabilities(
        loops, volume_dir, monkeypatch):
    """The volume helper as nova-compute runs it: a privsep daemon of its
    own, holding CAP_SYS_ADMIN and CAP_DAC_OVERRIDE only, probes, formats,
    mounts and unmounts."""
    monkeypatch.setenv('PYTHONPATH', os.getcwd())
    CONF.set_override(
        'helper_command',
        os.path.join(os.path.dirname(sys.executable), 'privsep-helper'),
        docker_conf.VOLUME_PRIVSEP_GROUP)
    device = loops.make()
    target = os.path.join(volume_dir.path, 'vdb')
    try:
        assert privileged.probe(device).strip() == ''
        privileged.make_filesystem(device, 'ext4')
        assert 'TYPE=ext4' in privileged.probe(device)
        assert privileged.mount_volume(device, 'ext4', target)
        assert vol_fx.mounts_of(device) == [target]
        status = _status_of_helper('nova_docker.volume.privileged.'
                                   'mount_admin')
        assert privileged.unmount_volume(target)
    finally:
        privileged.mount_admin.stop()
        CONF.clear_override('helper_command',
                            docker_conf.VOLUME_PRIVSEP_GROUP)
    assert vol_fx.mounts_of(device) == []
    effective = int(status['CapEff'], 16)
    # CAP_DAC_OVERRIDE (1) and CAP_SYS_ADMIN (21), nothing else.
    assert effective == (1 << 1) | (1 << 21)


# -- paths an image names ---------------------------------------------------

def test_image_can_name_the_path_of_a_device(vdriver, servers, loops):
    """nova_docker_mounts=vdb:/var/lib/data: the volume is there (and at
    /mnt/vdb); without it the path is read-only, so nothing meant for the
    volume lands in the container's layer."""
    server = servers(SHOW_VDB_AT_START, nova_docker_mounts='vdb:/var/lib/data')
    assert server.sh('touch /var/lib/data/f')[0] != 0
    info = vol_fx.connection_info(loops.make())
    server.attach(info)
    assert server.sh('echo kept > /var/lib/data/f')[0] == 0
    assert server.sh('cat /mnt/vdb/f')[1] == 'kept\n'
    vdriver.reboot(None, server.instance, None, 'HARD', server.bdi)
    assert server.sh('cat /var/lib/data/f')[1] == 'kept\n'
    server.detach(info)
    assert server.sh('ls -A /var/lib/data; touch /var/lib/data/g')[0] != 0
    # The bind's source stays: the server still starts.
    vdriver.reboot(None, server.instance, None, 'HARD', server.bdi)
    assert server.logs(3).split() == ['NO-VDB-AT-START', 'VDB-AT-START',
                                      'NO-VDB-AT-START']


@pytest.mark.parametrize('value', ['vdb:/proc/x', 'vdb:/mnt/data',
                                   'vdb:relative', 'vdb:/a/../etc',
                                   'vdb:/a,vdc:/a/b', 'vdb', 'VDB:/a'])
def test_image_naming_a_path_it_may_not_is_refused(vdriver, engine, loops,
                                                   busybox_image,
                                                   volume_dir, value):
    inst = nova_objects.instance(
        image_ref=busybox_image.id,
        system_metadata={'image_nova_docker_mounts': value})
    with pytest.raises(exception.ImageUnacceptable) as caught:
        vdriver.spawn(None, inst, busybox_image, [], None, {})
    assert 'nova_docker_mounts' in str(caught.value)
    assert os.listdir(volume_dir.path) == []
    names = {n for c in engine.containers() for n in c.get('Names') or []}
    assert not {n for n in names if inst.uuid in n}


def test_encrypted_volume_is_refused(vdriver, servers, loops):
    server = servers()
    device = loops.make()
    with pytest.raises(exception.VolumeEncryptionNotSupported):
        vdriver.attach_volume(None, vol_fx.connection_info(device),
                              server.instance, '/dev/vdb',
                              encryption={'provider': 'luks'})
    assert vol_fx.mounts_of(device) == []
    assert vol_fx.probe(device) == ''


# -- engine restarts --------------------------------------------------------

@pytest.mark.parametrize('live_restore', [False, True],
                         ids=['stopped-by-restart', 'live-restore'])
def test_volumes_across_an_engine_restart(private_engine, loops, volume_dir,
                                          live_restore):
    """Without live-restore the restart stops the workload, and the start
    Nova makes (resume_state_on_host_boot) has the volume there before
    its first command; with it, the workload and its mount just stay."""
    engine = private_engine(live_restore=live_restore)
    api = engine.api()
    privsep = vol_fx.PrivsepInProcess()
    privsep.setUp()
    CONF.set_override('host_url', engine.url, 'docker')
    CONF.set_override('volume_mount_dir', volume_dir.path, 'docker')
    try:
        drv = driver_mod.DockerDriver(virtapi=None, host=host_mod.Host())
        drv.init_host('test-node')
        meta, _ref = private_fixtures.load_busybox(
            engine, '/bin/sh -c "%s"' % SHOW_VDB_AT_START)
        inst = nova_objects.instance(system_metadata={})
        device = loops.make()
        bdi = vol_fx.block_device_info(
            (vol_fx.connection_info(device), '/dev/vdb'))
        drv.spawn(None, inst, meta, [], None, {}, None, bdi)
        name = 'nova-' + inst.uuid
        assert api.exec(name, ['sh', '-c', 'echo kept > /mnt/vdb/f'])[0] == 0
        engine.stop()
        engine.start()
        if not live_restore:
            drv.resume_state_on_host_boot(None, inst, None, None, bdi)
        assert api.exec(name, ['cat', '/mnt/vdb/f'])[1] == b'kept\n'
        expected = 1 if live_restore else 2
        out = vol_fx.output_of(lambda: api.logs(name)[0].decode(), expected)
        assert out.split() == ['VDB-AT-START'] * expected
        drv.destroy(None, inst, None, bdi)
        assert vol_fx.mounts_of(device) == []
        assert vol_fx.ext4_file(device, '/f') == 'kept\n'
    finally:
        api.close()
        CONF.clear_override('host_url', 'docker')
        CONF.clear_override('volume_mount_dir', 'docker')
        privsep.cleanUp()


def test_a_spawn_shares_the_volume_directory_again(servers, loops,
                                                   volume_dir):
    """An operator (or a clean-up script) undid the shared mount after
    nova-compute started: the next spawn makes it again instead of
    failing in the engine ("not a shared or slave mount")."""
    vol_fx.run('umount', volume_dir.path)
    server = servers()
    server.attach(vol_fx.connection_info(loops.make()))
    assert server.sh('touch /mnt/vdb/f')[0] == 0
