"""The config drive of a container: nova's metadata tree as plain files.

A VM gets its config drive as an ISO (or vfat) disk labelled
``config-2``; a container takes a directory. The tree nova's
``InstanceMetadata`` yields (``openstack/latest/meta_data.json``,
``user_data``, ``network_data.json``, ``vendor_data2.json``, the ``ec2``
tree, ``openstack/content/NNNN``) is written under
``<[DEFAULT] instances_path>/<uuid>/config_drive@<host>`` and bound
read-only into the workload at ``/var/lib/cloud/seed/config_drive``: the seed
directory cloud-init's ConfigDrive data source reads before it looks for
a ``config-2`` device, so an image with cloud-init sets itself up as on a
VM (hostname, keys, user data).

Three parts, one job each: :func:`tree` (pure: the entries checked,
bounded and encoded), :class:`ConfigDrives` (the files: written
atomically, removed), :func:`mount` (pure: the create body's bind).

Who can read it: the directory and its sub-directories are 0700 and the
files 0600, owned by nova-compute's user (root on a usual compute host).
User data and the admin password can hold secrets, and the workload may
run programs as any user of the image: on a VM the drive is a root-only
block device that cloud-init mounts, reads and unmounts, so only root
inside reads it there too. Here root inside the workload (cloud-init's
user) reads it; other users of the image do not.
"""

import posixpath

from nova.api.metadata import base as instance_metadata
from nova import exception
from nova.network import model as network_model
from oslo_log import log as logging

from nova_docker import instance_files

LOG = logging.getLogger(__name__)

# Where cloud-init's ConfigDrive data source looks first
# (<seed dir>/config_drive, seed dir /var/lib/cloud/seed).
TARGET = '/var/lib/cloud/seed/config_drive'
# The directory's name under the instance's directory.
DIR_NAME = 'config_drive'
# The most a tree may hold: nova's own size of a vfat config drive
# (nova.virt.configdrive.CONFIGDRIVESIZE_BYTES), so a server that would
# not fit a libvirt host's drive does not fit here either. User data is
# bounded by nova's API (65535 bytes), metadata and injected files only
# by quotas an operator may lift (-1): this is the bound that stays.
MAX_BYTES = 64 * 1024 * 1024
DIR_MODE = 0o700
FILE_MODE = 0o600


def metadata(instance, injected_files=None, admin_password=None,
             network_info=None):
    """nova's ``InstanceMetadata`` of ``instance``, as libvirt builds it
    for its config drive. Not pure: it reads the instance's lazy fields
    (through the conductor) and its security groups (from Neutron)."""
    extra_md = {'admin_pass': admin_password} if admin_password else {}
    return instance_metadata.InstanceMetadata(
        instance, content=injected_files or [], extra_md=extra_md,
        network_info=network_model.NetworkInfo(network_info or []))


def tree(entries, max_bytes: int = MAX_BYTES) -> dict[str, bytes]:
    """``(path, data)`` pairs (``metadata_for_config_drive()``) as
    ``{relative path: bytes}``.

    InstanceDeployFailure if a path would leave the drive or the whole
    is over ``max_bytes``: nothing has been written by then.
    """
    files: dict[str, bytes] = {}
    total = 0
    for path, data in entries:
        path = _checked_path(path)
        data = data.encode('utf-8') if isinstance(data, str) else bytes(data)
        total += len(data)
        if total > max_bytes:
            raise exception.InstanceDeployFailure(
                reason='its config drive is over %d bytes: make its user '
                       'data, metadata or injected files smaller'
                       % max_bytes)
        files[path] = data
    return files


def _checked_path(path: str) -> str:
    # nova names every path itself (injected files go to content/NNNN);
    # checked all the same, since each is joined to a host directory.
    normal = posixpath.normpath(path)
    if (not path or posixpath.isabs(normal) or normal == '.'
            or normal.split('/')[0] == '..'):
        raise exception.InstanceDeployFailure(
            reason='its config drive names the path %r, outside the drive'
                   % path)
    return normal


def mount(source: str) -> dict:
    """The workload's ``HostConfig.Mounts`` entry of its config drive:
    read-only, so the workload cannot change what it was given."""
    return {'Type': 'bind', 'Source': source, 'Target': TARGET,
            'ReadOnly': True}


class ConfigDrives(instance_files.InstanceFiles):
    """The config drives of this host's instances, under
    ``<instances_path>/<uuid>/config_drive@<host>``
    (:mod:`nova_docker.instance_files`)."""

    def __init__(self, instances_path: str):
        super().__init__(instances_path, DIR_NAME, 'its config drive',
                         dir_mode=DIR_MODE, file_mode=FILE_MODE)
