"""Where volumes go on the host and in the workload, and the paths an
image may name. Pure."""

from nova import exception
import pytest

from nova_docker.volume import layout


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
