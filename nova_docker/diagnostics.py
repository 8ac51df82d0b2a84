"""Engine stats -> Nova's free-form server diagnostics (pure).

``GET /servers/{id}/diagnostics`` before microversion 2.48 returns what
the driver's ``get_diagnostics`` says, in its own terms; the keys here
name the container's counters as the engine reads them from its
cgroups. The 2.48 form (``get_instance_diagnostics``) needs a
``driver`` value from Nova's fixed list, which has none for a container
engine, so it is not offered.
"""

# Block I/O operations as the engine names them (cgroup v1 and v2).
_READ, _WRITE = 'read', 'write'


def _io_bytes(stats: dict, op: str) -> int:
    entries = ((stats.get('blkio_stats') or {}).get(
        'io_service_bytes_recursive') or [])
    return sum(int(e.get('value') or 0) for e in entries
               if str(e.get('op', '')).lower() == op)


def from_stats(stats: dict, container_info: dict) -> dict:
    """The diagnostics of a workload from its stats and its inspect."""
    cpu = (stats.get('cpu_stats') or {}).get('cpu_usage') or {}
    memory = stats.get('memory_stats') or {}
    host_config = container_info.get('HostConfig') or {}
    state = container_info.get('State') or {}
    return {
        'state': state.get('Status', 'unknown'),
        # Nanoseconds of CPU time, all CPUs together.
        'cpu_time': int(cpu.get('total_usage') or 0),
        # Bytes: the flavor's limit, and what the workload uses of it.
        'memory': int(host_config.get('Memory') or 0),
        'memory_used': int(memory.get('usage') or 0),
        'pids': int((stats.get('pids_stats') or {}).get('current') or 0),
        'pids_limit': int(host_config.get('PidsLimit') or 0),
        'disk_read_bytes': _io_bytes(stats, _READ),
        'disk_write_bytes': _io_bytes(stats, _WRITE),
    }
