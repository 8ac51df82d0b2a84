"""The disk bound's decision: engine storage facts + flavor -> StorageOpt,
and where the engine can't bound it, what the operator must do."""

import pytest

from nova_docker import disk
from nova_docker import resources


def info(driver, **status):
    return {'Driver': driver,
            'DriverStatus': [[k.replace('_', ' '), v]
                             for k, v in status.items()]}


OVERLAY2_EXT4 = info('overlay2', Backing_Filesystem='extfs')
OVERLAY2_XFS = info('overlay2', Backing_Filesystem='xfs')
BTRFS = info('btrfs', Btrfs='')
ZFS = info('zfs', Zpool='tank', Zpool_Health='ONLINE')
VFS = info('vfs')


@pytest.mark.parametrize('engine_info, quota, expected', [
    (BTRFS, None, {'size': '1G'}),
    (ZFS, None, {'size': '1G'}),
    (OVERLAY2_XFS, True, {'size': '1G'}),
    # The engine refuses the option (every create fails) here.
    (OVERLAY2_XFS, False, None),
    # A remote engine: how its xfs is mounted is not known.
    (OVERLAY2_XFS, None, None),
    (OVERLAY2_EXT4, None, None),
    (VFS, None, None),
    ({}, None, None),
])
def test_the_bound_is_sent_only_where_the_storage_enforces_it(
        engine_info, quota, expected):
    facts = disk.facts_from_info(engine_info, project_quota=quota)
    assert disk.storage_opt(facts, 1) == expected
    assert (disk.warning(facts) is None) == (expected is not None)


def test_the_size_is_the_flavors_root_disk_in_gib():
    facts = disk.facts_from_info(BTRFS)
    assert disk.storage_opt(facts, 20) == {'size': '20G'}


def test_nothing_known_or_no_size_is_no_bound():
    assert disk.storage_opt(None, 1) is None
    assert disk.storage_opt(disk.facts_from_info(BTRFS), 0) is None


def test_xfs_without_project_quotas_says_to_mount_with_prjquota():
    warning = disk.warning(disk.facts_from_info(OVERLAY2_XFS, False))
    assert 'overlay2 over xfs' in warning
    assert 'prjquota' in warning


def test_other_drivers_name_the_drivers_that_bound():
    warning = disk.warning(disk.facts_from_info(VFS))
    assert '(vfs)' in warning
    assert 'btrfs' in warning and 'zfs' in warning


@pytest.mark.parametrize('options, expected', [
    ('rw,relatime,attr2,inode64,prjquota', True),
    ('rw,pquota', True),
    ('rw,relatime,attr2,inode64,noquota', False),
    # Counted, not enforced: the engine refuses it.
    ('rw,pqnoenforce', False),
])
def test_project_quota_is_read_from_the_mount_options(options, expected):
    assert disk.has_project_quota(options) is expected


MOUNTINFO = (
    '22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n'
    '40 22 7:0 / /var/lib/docker rw,relatime - xfs /dev/loop0 '
    'rw,attr2,inode64,prjquota\n'
    '41 22 7:1 / /var/lib/docker-other rw,relatime - xfs /dev/loop1 '
    'rw,attr2,inode64,noquota\n')


@pytest.mark.parametrize('root, quota', [
    ('/var/lib/docker', True),
    ('/var/lib/docker-other/x', False),
    # Not on an xfs of its own: the root file system's options.
    ('/srv/docker', False),
])
def test_host_reads_the_data_roots_mount(tmp_path, root, quota):
    path = tmp_path / 'mountinfo'
    path.write_text(MOUNTINFO)
    engine_info = dict(OVERLAY2_XFS, DockerRootDir=root)
    facts = resources.storage_facts(engine_info, local=True,
                               mountinfo_path=str(path))
    assert facts.project_quota is quota


def test_host_does_not_guess_for_a_remote_engine(tmp_path):
    path = tmp_path / 'mountinfo'
    path.write_text(MOUNTINFO)
    engine_info = dict(OVERLAY2_XFS, DockerRootDir='/var/lib/docker')
    facts = resources.storage_facts(engine_info, local=False,
                               mountinfo_path=str(path))
    assert facts.project_quota is None
    assert disk.storage_opt(facts, 1) is None
