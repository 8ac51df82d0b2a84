"""What this host offers to placement, read from the engine and the OS."""

import dataclasses
import os
import re

from nova.objects import fields
from oslo_serialization import jsonutils
from oslo_utils import units
from oslo_utils import versionutils
import os_resource_classes as orc

from nova_docker import disk

# 'Version' of Debian's engine reads '20.10.24+dfsg1': keep the numbers.
_VERSION_RE = re.compile(r'^(\d+(?:\.\d+)*)')


def hypervisor_version(engine_version: str) -> int:
    """Nova wants an int: '20.10.24+dfsg1' -> 20010024."""
    match = _VERSION_RE.match(engine_version or '')
    if not match:
        return 0
    return versionutils.convert_version_to_int(match.group(1))


def architecture(info: dict) -> str:
    return fields.Architecture.canonicalize(info.get('Architecture') or
                                            os.uname().machine)


def _disk_gb(path: str) -> tuple[int, int, int]:
    """(total, used, free) GB of the filesystem holding ``path``."""
    try:
        st = os.statvfs(path)
    except OSError:
        # A remote engine's root dir is not ours to stat; the local root
        # is the best guess nova-compute can make.
        st = os.statvfs('/')
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return total // units.Gi, (total - free) // units.Gi, free // units.Gi


def _mount_options(path: str, mountinfo: str) -> str | None:
    """The options (per mount and of its super block) of the mount that
    holds ``path``, from a /proc/<pid>/mountinfo text; None if none."""
    best, options = '', None
    for line in mountinfo.splitlines():
        fields_, _sep, rest = line.partition(' - ')
        parts, tail = fields_.split(), rest.split()
        if len(parts) < 6 or len(tail) < 3:
            continue
        point = parts[4].encode().decode('unicode_escape')
        inside = path == point or path.startswith(point.rstrip('/') + '/')
        # The deepest mount point wins; a later line mounts over an
        # earlier one on the same point.
        if inside and len(point) >= len(best):
            best, options = point, parts[5] + ',' + tail[2]
    return options


def storage_facts(info: dict, local: bool,
                  mountinfo_path: str = '/proc/self/mountinfo'
                  ) -> disk.StorageFacts:
    """The engine's storage (see nova_docker.disk) from its ``/info``
    and, for a local engine on xfs, how its data root is mounted: the
    engine says nothing of project quotas, and overlay2 refuses the size
    option without them."""
    facts = disk.facts_from_info(info)
    if not local or facts.backing_fs != disk.QUOTA_FS:
        return facts
    try:
        with open(mountinfo_path) as f:
            options = _mount_options(info.get('DockerRootDir') or '/',
                                     f.read())
    except OSError:
        return facts
    if options is None:
        return facts
    return dataclasses.replace(
        facts, project_quota=disk.has_project_quota(options))


def _memory_used_mb(total_mb: int) -> int:
    try:
        with open('/proc/meminfo') as meminfo:
            fields_kb = dict(line.split(':', 1) for line in meminfo)
        available_kb = int(fields_kb['MemAvailable'].split()[0])
    except (OSError, KeyError, ValueError):
        return 0
    return max(total_mb - available_kb // 1024, 0)


def _cpu_mhz() -> int:
    """The first CPU's clock as /proc/cpuinfo says (0 if it does not)."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                key, _sep, value = line.partition(':')
                if key.strip() == 'cpu MHz':
                    return int(float(value))
    except (OSError, ValueError):
        pass
    return 0


def cpu_stats() -> dict:
    """``get_host_cpu_stats``: the host's CPU times since boot in
    nanoseconds, summed over CPUs, and its clock in MHz.

    libvirt's own reading of the first line of /proc/stat
    (virHostCPUGetStatsLinux), which nova's ``cpu.virt_driver`` compute
    monitor turns into percentages. It describes the host nova-compute
    runs on, as the disk figures do for a remote engine.
    """
    with open('/proc/stat') as stat:
        ticks = [int(v) for v in stat.readline().split()[1:8]]
    user, nice, system, idle, iowait, irq, softirq = ticks
    ns_per_tick = 10 ** 9 // os.sysconf('SC_CLK_TCK')
    return {'kernel': (system + irq + softirq) * ns_per_tick,
            'idle': idle * ns_per_tick,
            'user': (user + nice) * ns_per_tick,
            'iowait': iowait * ns_per_tick,
            'frequency': _cpu_mhz()}


def available_resource(info: dict, nodename: str) -> dict:
    """``get_available_resource`` from the engine's ``/info`` (one call:
    it carries the engine version too)."""
    memory_mb = int(info.get('MemTotal', 0)) // units.Mi
    disk_gb, disk_used_gb, disk_free_gb = _disk_gb(
        info.get('DockerRootDir') or '/')
    arch = architecture(info)
    return {
        'vcpus': int(info.get('NCPU', 0)),
        'memory_mb': memory_mb,
        'local_gb': disk_gb,
        'vcpus_used': 0,
        'memory_mb_used': _memory_used_mb(memory_mb),
        'local_gb_used': disk_used_gb,
        # ComputeNode.disk_available_least (os-hypervisors shows it).
        # libvirt subtracts what its sparse disks may yet grow to; a
        # container's layers take room only as they are written: the
        # free space is all there is to say.
        'disk_available_least': disk_free_gb,
        'hypervisor_type': fields.HVType.DOCKER,
        'hypervisor_version': hypervisor_version(
            info.get('ServerVersion', '')),
        'hypervisor_hostname': nodename,
        'cpu_info': jsonutils.dumps({'arch': arch,
                                     'model': info.get('KernelVersion', ''),
                                     'vendor': 'docker',
                                     'features': []}),
        'numa_topology': None,
        'supported_instances': [(arch, fields.HVType.DOCKER,
                                 fields.VMMode.EXE)],
    }


def inventory(resources: dict, ratios: dict, reserved: dict) -> dict:
    """Placement inventory of VCPU, MEMORY_MB and DISK_GB.

    :param ratios: allocation ratio per resource class.
    :param reserved: reserved amount per resource class (nova's
        reserved_host_* options).
    """
    totals = {orc.VCPU: resources['vcpus'],
              orc.MEMORY_MB: resources['memory_mb'],
              orc.DISK_GB: resources['local_gb']}
    return {
        rc: {'total': total,
             'min_unit': 1,
             'max_unit': total,
             'step_size': 1,
             'allocation_ratio': ratios[rc],
             'reserved': reserved[rc]}
        for rc, total in totals.items() if total > 0
    }
