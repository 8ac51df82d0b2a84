"""Engine stats -> server diagnostics (nova_docker.diagnostics)."""

from nova_docker import diagnostics

STATS = {
    'cpu_stats': {'cpu_usage': {'total_usage': 123456789}},
    'memory_stats': {'usage': 4 * 2 ** 20, 'limit': 512 * 2 ** 20},
    'pids_stats': {'current': 3},
    'blkio_stats': {'io_service_bytes_recursive': [
        {'major': 7, 'minor': 0, 'op': 'Read', 'value': 4096},
        {'major': 7, 'minor': 0, 'op': 'Write', 'value': 8192},
        {'major': 8, 'minor': 0, 'op': 'read', 'value': 100},
        {'major': 8, 'minor': 0, 'op': 'Total', 'value': 12388},
    ]},
}
INSPECT = {'State': {'Status': 'running'},
           'HostConfig': {'Memory': 512 * 2 ** 20, 'PidsLimit': 1024}}


def test_counters_of_a_running_workload():
    assert diagnostics.from_stats(STATS, INSPECT) == {
        'state': 'running', 'cpu_time': 123456789,
        'memory': 512 * 2 ** 20, 'memory_used': 4 * 2 ** 20,
        'pids': 3, 'pids_limit': 1024,
        # Both devices, Total not counted twice; cgroup v2 says 'read'.
        'disk_read_bytes': 4196, 'disk_write_bytes': 8192}


def test_a_stopped_workload_has_zeros_not_errors():
    # What the engine answers for a stopped container.
    stopped = {'pids_stats': {}, 'memory_stats': {},
               'blkio_stats': {'io_service_bytes_recursive': None},
               'cpu_stats': {'cpu_usage': {'total_usage': 0}}}
    found = diagnostics.from_stats(stopped, {'State': {'Status': 'exited'},
                                             'HostConfig': {}})
    assert found['state'] == 'exited'
    assert {k: v for k, v in found.items() if k != 'state'} == dict.fromkeys(
        ['cpu_time', 'memory', 'memory_used', 'pids', 'pids_limit',
         'disk_read_bytes', 'disk_write_bytes'], 0)
