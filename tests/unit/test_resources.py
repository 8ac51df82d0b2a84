import os

import os_resource_classes as orc

from nova_docker import resources


def test_hypervisor_version_from_debian_engine_version():
    assert resources.hypervisor_version('20.10.24+dfsg1') == 20010024
    assert resources.hypervisor_version('') == 0


def test_available_resource_from_engine_info():
    info = {'NCPU': 4, 'MemTotal': 8 * 1024 ** 3, 'Architecture': 'x86_64',
            'DockerRootDir': '/nonexistent-root-dir',
            'ServerVersion': '20.10.24+dfsg1'}
    res = resources.available_resource(info, 'node1')
    assert res['vcpus'] == 4
    assert res['memory_mb'] == 8192
    assert res['local_gb'] > 0
    assert 0 <= res['disk_available_least'] <= res['local_gb']
    assert res['local_gb_used'] + res['disk_available_least'] <= \
        res['local_gb']
    assert res['hypervisor_type'] == 'docker'
    assert res['hypervisor_version'] == 20010024
    assert res['hypervisor_hostname'] == 'node1'
    assert res['supported_instances'] == [('x86_64', 'docker', 'exe')]


def test_inventory_honours_ratios_and_reserved():
    res = {'vcpus': 4, 'memory_mb': 8192, 'local_gb': 100}
    ratios = {orc.VCPU: 16.0, orc.MEMORY_MB: 1.5, orc.DISK_GB: 1.0}
    reserved = {orc.VCPU: 1, orc.MEMORY_MB: 512, orc.DISK_GB: 10}
    inv = resources.inventory(res, ratios, reserved)
    assert inv[orc.VCPU]['total'] == 4
    assert inv[orc.VCPU]['allocation_ratio'] == 16.0
    assert inv[orc.MEMORY_MB]['reserved'] == 512
    assert inv[orc.DISK_GB]['max_unit'] == 100


def test_cpu_stats_are_nanoseconds_since_boot_and_a_clock():
    stats = resources.cpu_stats()
    assert set(stats) == {'kernel', 'idle', 'user', 'iowait', 'frequency'}
    assert stats['idle'] > 0
    assert stats['frequency'] >= 0
    # /proc/stat counts ticks of 1/SC_CLK_TCK s: whole ticks in ns.
    assert stats['idle'] % (10 ** 9 // os.sysconf('SC_CLK_TCK')) == 0
