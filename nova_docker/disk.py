"""The instance's root disk on the engine's storage: whether (and how) the
flavor's ``root_gb`` bounds what an instance writes.

Pure: the engine's storage facts and a flavor's size in, the
``HostConfig.StorageOpt`` of the workload (or None) and the operator's
warning out. The image is bounded by the flavor when it is loaded
(nova_docker.image.loader); what the instance writes into its layer is
bounded only where the engine's storage driver enforces the ``size``
storage option:

* ``overlay2`` over xfs mounted with project quotas (``prjquota``): the
  writable layer alone (the image's layers are not counted);
* ``btrfs``: a qgroup limit on the container's subvolume, which counts
  the image's data it references too (the engine turns quotas on);
* ``zfs``: the quota of the container's dataset.

Anywhere else the engine refuses the option (overlay2 over ext4, or over
xfs without ``prjquota``, fails every create), so it is not sent and the
driver warns at start.
"""

import dataclasses

SIZE_OPT = 'size'
# overlay2 and vfs enforce ``size`` with xfs project quotas only.
QUOTA_FS = 'xfs'
# Mount options of an xfs with enforced project quotas (/proc mountinfo
# shows ``prjquota``; ``pquota`` is its alias on the mount command line).
# ``pqnoenforce`` only counts, and the engine refuses it.
PROJECT_QUOTA_OPTIONS = frozenset(('prjquota', 'pquota'))
# Storage drivers that enforce ``size`` without further conditions.
ALWAYS_BOUNDED = frozenset(('btrfs', 'zfs'))
# Storage drivers that enforce it over xfs with project quotas.
BOUNDED_OVER_XFS_QUOTA = frozenset(('overlay2',))


@dataclasses.dataclass(frozen=True)
class StorageFacts:
    """What the engine's storage is, from ``GET /info`` and the mount of
    its data root.

    :param driver: ``Driver`` (overlay2, btrfs, zfs, vfs, ...).
    :param backing_fs: the ``Backing Filesystem`` of ``DriverStatus``
        (overlay2 names it; None where the driver does not).
    :param project_quota: whether the data root's xfs enforces project
        quotas; None where that could not be read (a remote engine).
    """

    driver: str
    backing_fs: str | None = None
    project_quota: bool | None = None


def driver_status(info: dict) -> dict[str, str]:
    """``DriverStatus`` (a list of pairs) as a dict."""
    return {str(pair[0]): str(pair[1])
            for pair in info.get('DriverStatus') or [] if len(pair) == 2}


def has_project_quota(mount_options: str) -> bool:
    """Whether a mount's comma-separated options enforce project quotas."""
    return bool(PROJECT_QUOTA_OPTIONS & set(mount_options.split(',')))


def facts_from_info(info: dict,
                    project_quota: bool | None = None) -> StorageFacts:
    """:param project_quota: see :class:`StorageFacts`."""
    return StorageFacts(driver=info.get('Driver') or '',
                        backing_fs=driver_status(info).get(
                            'Backing Filesystem'),
                        project_quota=project_quota)


def can_bound(facts: StorageFacts) -> bool:
    """Whether the engine enforces the ``size`` storage option."""
    if facts.driver in ALWAYS_BOUNDED:
        return True
    return (facts.driver in BOUNDED_OVER_XFS_QUOTA and
            facts.backing_fs == QUOTA_FS and facts.project_quota is True)


def storage_opt(facts: StorageFacts | None,
                disk_gb: int) -> dict[str, str] | None:
    """The workload's ``HostConfig.StorageOpt`` for a disk of ``disk_gb``
    GB, or None where the engine cannot bound it (or nothing is known of
    its storage).

    ``disk_gb`` is the flavor's root_gb; for a flavor without one
    (root_gb 0) the driver passes the bound its images get, [docker]
    max_image_size_gb: nova sizes such a disk by the image, and an
    unbounded layer would let one instance fill the engine's disk.
    """
    if facts is None or disk_gb <= 0 or not can_bound(facts):
        return None
    # The engine reads 'G' as GiB, as nova's root_gb is.
    return {SIZE_OPT: '%dG' % disk_gb}


def _what_to_do(facts: StorageFacts) -> str:
    if facts.driver in BOUNDED_OVER_XFS_QUOTA and facts.backing_fs == QUOTA_FS:
        if facts.project_quota is None:
            return ('nova-compute could not read how the engine\'s data root '
                    'is mounted (a remote engine): it sends no size bound. '
                    'Run nova-compute beside the engine, whose data root '
                    'must be an xfs mounted with prjquota')
        return ('its xfs is mounted without project quotas: mount the '
                'engine\'s data root with -o prjquota (on the root file '
                'system: rootflags=prjquota on the kernel command line) '
                'and restart dockerd')
    return ('use a storage driver that enforces a size per container: '
            'overlay2 over xfs mounted with prjquota, btrfs, or zfs')


def warning(facts: StorageFacts) -> str | None:
    """The operator's warning where instances' disks are unbounded."""
    if can_bound(facts):
        return None
    backing = ' over %s' % facts.backing_fs if facts.backing_fs else ''
    return ('The Docker Engine\'s storage (%s%s) cannot bound what an '
            'instance writes: a flavor\'s root disk bounds its image only, '
            'and one instance can fill the engine\'s disk for every other. '
            'To bound it, %s.' % (facts.driver or 'unknown driver', backing,
                                  _what_to_do(facts)))
