"""The resolution files the driver binds into a workload in place of the
engine's (nova_docker.resolution): what they hold, where they go, their
binds."""

import os

from nova_docker import resolution


def test_the_files_say_what_docker_would_write():
    tree = resolution.files(['10.0.0.53', 'fd00::53'],
                            [('web-a', '10.0.0.11'), ('web-a', 'fd00::11')],
                            'web-a')
    assert tree['resolv.conf'] == (b'nameserver 10.0.0.53\n'
                                   b'nameserver fd00::53\n')
    hosts = tree['hosts'].decode()
    # Docker's own first lines, then the instance's.
    assert hosts.startswith('127.0.0.1\tlocalhost\n'
                            '::1\tlocalhost ip6-localhost ip6-loopback\n'
                            'fe00::0\tip6-localnet\n')
    assert hosts.endswith('ff02::2\tip6-allrouters\n'
                          '10.0.0.11\tweb-a\nfd00::11\tweb-a\n')
    assert tree['hostname'] == b'web-a\n'


def test_without_name_servers_resolv_conf_names_none():
    # Never left out: the engine's own, writable copy would take its
    # place (Docker's names the host's resolvers).
    tree = resolution.files([], [], 'web-a')
    assert sorted(tree) == ['hostname', 'hosts', 'resolv.conf']
    assert b'nameserver' not in tree['resolv.conf']


def test_written_files_are_readable_by_any_user_and_bound_read_only(
        tmp_path):
    files = resolution.Resolutions(str(tmp_path))
    files.serve('compute-1')
    os.umask(0o077)
    try:
        binds = files.write_for('uuid-1', ['10.0.0.53'], [('a', '10.0.0.1')],
                                'a')
    finally:
        os.umask(0o022)
    top = tmp_path / 'uuid-1' / 'resolution@compute-1'
    assert binds == [
        {'Type': 'bind', 'Source': str(top / name),
         'Target': '/etc/' + name, 'ReadOnly': True}
        for name in ('hostname', 'hosts', 'resolv.conf')]
    for name in ('hostname', 'hosts', 'resolv.conf'):
        assert (top / name).stat().st_mode & 0o777 == 0o644
    files.remove('uuid-1')
    assert not (tmp_path / 'uuid-1').exists()
