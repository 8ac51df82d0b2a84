"""The resolution files of a workload on an engine that gives it none
(nova_docker.resolution): what they hold, where they go, their binds."""

import os

from nova_docker import resolution


def test_the_files_say_what_docker_would_write():
    tree = resolution.files(['10.0.0.53', 'fd00::53'],
                            [('web-a', '10.0.0.11'), ('web-a', 'fd00::11')])
    assert tree['resolv.conf'] == (b'nameserver 10.0.0.53\n'
                                   b'nameserver fd00::53\n')
    hosts = tree['hosts'].decode()
    assert hosts.startswith('127.0.0.1\tlocalhost\n')
    assert hosts.endswith('10.0.0.11\tweb-a\nfd00::11\tweb-a\n')


def test_without_name_servers_the_image_keeps_its_resolv_conf():
    assert sorted(resolution.files([], [])) == ['hosts']


def test_written_files_are_readable_by_any_user_and_bound_read_only(
        tmp_path):
    files = resolution.Resolutions(str(tmp_path))
    os.umask(0o077)
    try:
        binds = files.write_for('uuid-1', ['10.0.0.53'], [('a', '10.0.0.1')])
    finally:
        os.umask(0o022)
    top = tmp_path / 'uuid-1' / 'resolution'
    assert binds == [
        {'Type': 'bind', 'Source': str(top / 'hosts'),
         'Target': '/etc/hosts', 'ReadOnly': True},
        {'Type': 'bind', 'Source': str(top / 'resolv.conf'),
         'Target': '/etc/resolv.conf', 'ReadOnly': True}]
    for name in ('hosts', 'resolv.conf'):
        assert (top / name).stat().st_mode & 0o777 == 0o644
    files.remove('uuid-1')
    assert not (tmp_path / 'uuid-1').exists()
