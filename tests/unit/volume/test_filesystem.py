"""The file-system policy and the layout of volume mounts: pure."""

from nova import exception
import pytest

from nova_docker.volume import filesystem
from nova_docker.volume import layout


@pytest.mark.parametrize('output, fstype', [
    ('DEVNAME=/dev/loop3\nUUID=1-2\nVERSION=1.0\nTYPE=ext4\nUSAGE=filesystem\n',
     'ext4'),
    ('TYPE=xfs\nUSAGE=filesystem\n', 'xfs'),
])
def test_ext4_and_xfs_are_mounted_as_they_are(output, fstype):
    decision = filesystem.decide(filesystem.parse_probe(output), 'ext4')
    assert decision == filesystem.Decision(fstype=fstype)


def test_a_blank_volume_gets_the_configured_file_system():
    assert filesystem.decide({}, 'xfs') == filesystem.Decision(
        fstype='xfs', mkfs=True)
    assert filesystem.decide(filesystem.parse_probe(''), 'ext4').mkfs


def test_a_blank_volume_is_refused_when_told():
    decision = filesystem.decide({}, None)
    assert decision.refusal and 'blank_volume_filesystem' in decision.refusal
    assert not decision.mkfs


@pytest.mark.parametrize('output, words', [
    ('DEVNAME=/dev/loop3\nPTTYPE=dos\n', 'partition table (dos)'),
    ('PTUUID=x\nPTTYPE=gpt\n', 'partition table (gpt)'),
    ('VERSION=1\nTYPE=crypto_LUKS\nUSAGE=crypto\n', 'crypto_LUKS'),
    ('TYPE=btrfs\n', 'btrfs'),
    ('TYPE=swap\n', 'swap'),
    ('AMBIVALENT=1\n', 'more than one signature'),
    ('UUID=abc\n', 'does not name'),
    # A file system inside a partition table: the table wins.
    ('PTTYPE=dos\nTYPE=ext4\n', 'partition table'),
])
def test_anything_else_is_refused_and_never_formatted(output, words):
    decision = filesystem.decide(filesystem.parse_probe(output), 'ext4')
    assert words in decision.refusal
    assert not decision.mkfs and decision.fstype is None


@pytest.mark.parametrize('mountpoint, name', [
    ('/dev/vdb', 'vdb'), ('/dev/sdc', 'sdc'), ('vdd', 'vdd'),
    ('/dev/xvdaa', 'xvdaa')])
def test_device_name(mountpoint, name):
    assert layout.device_name(mountpoint) == name


@pytest.mark.parametrize('mountpoint', [
    '/dev/', '/dev/..', '/dev/vdb/', '', None, '/dev/VDB', '/dev/v db',
    '/dev/' + 'a' * 40])
def test_device_name_refuses_what_is_no_plain_name(mountpoint):
    with pytest.raises(exception.InvalidDevicePath):
        layout.device_name(mountpoint)


def test_bind_is_read_only_and_a_slave_of_the_host():
    bind = layout.bind('/var/lib/v', 'u-1')
    assert bind == {'Type': 'bind', 'Source': '/var/lib/v/u-1',
                    'Target': '/mnt', 'ReadOnly': True,
                    'BindOptions': {'Propagation': 'rslave'}}
    inspect = {'Mounts': [{'Source': '/var/lib/v/u-1',
                           'Destination': '/mnt'}]}
    assert layout.has_bind(inspect, '/var/lib/v', 'u-1')
    assert not layout.has_bind(inspect, '/var/lib/v', 'u-2')
    assert not layout.has_bind({'Mounts': None}, '/var/lib/v', 'u-1')


def test_image_mounts_are_parsed():
    assert layout.parse_mounts('vdb:/var/lib/mysql, vdc:/data') == {
        'vdb': '/var/lib/mysql', 'vdc': '/data'}
    assert layout.parse_mounts(None) == {}
    assert layout.parse_mounts('') == {}


@pytest.mark.parametrize('value, words', [
    ('vdb', 'is not <device name>:<path>'),
    ('vdb:/a,vdb:/b', 'named twice'),
    ('vdb:/', 'not an absolute path'),
    ('vdb:data', 'not an absolute path'),
    ('vdb:/a/../b', 'not an absolute path'),
    ('vdb:/a//b', 'not an absolute path'),
    ('vdb:/a/', 'not an absolute path'),
    ('vdb:/a b', 'not an absolute path'),
    ('vdb:/mnt', 'is, is in or holds /mnt'),
    ('vdb:/mnt/x', '/mnt'),
    ('vdb:/proc/1/root', '/proc'),
    ('vdb:/sys/x', '/sys'),
    ('vdb:/dev/sda', '/dev'),
    ('vdb:/data,vdc:/data/sub', '/data'),
    ('vdb:/data/sub,vdc:/data', '/data/sub'),
    ('vdb:/data,vdc:/data', '/data'),
])
def test_image_mounts_refused(value, words):
    with pytest.raises(ValueError) as caught:
        layout.parse_mounts(value)
    assert words in str(caught.value)


def test_each_mapped_device_is_bound_at_its_path_too():
    binds = layout.binds('/v', 'u', {'vdb': '/var/lib/mysql'})
    assert [(b['Source'], b['Target'], b['ReadOnly']) for b in binds] == [
        ('/v/u', '/mnt', True), ('/v/u/vdb', '/var/lib/mysql', True)]


def test_a_relative_volume_directory_is_refused_at_start():
    from nova_docker import exception as docker_exception
    from nova_docker.volume import manager

    with pytest.raises(docker_exception.InvalidEngineConfig,
                       match='volume_mount_dir'):
        manager.Volumes(base='var/lib/volumes').init_host()
