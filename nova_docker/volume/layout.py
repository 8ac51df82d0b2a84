"""Where an instance's volumes are mounted, on the host and inside.

How a mount gets into the workload's mount namespace: a propagation path
set up at create. Every workload is created with one bind mount,
``<[docker] volume_mount_dir>/<uuid>`` on the host as ``/mnt`` inside,
read-only and a slave of the host (``rslave``). A volume is mounted on
the host at ``<that dir>/<device name>``, and the kernel's mount
propagation makes it appear at ``/mnt/<device name>`` in the workload,
running or not yet started. Chosen over moving a detached mount
(``open_tree``/``move_mount``) into the running container's namespace
because:

* Volumes must be there before the workload's first command, at spawn
  and at every start. The engine makes the container's mount namespace
  and runs its command in the one ``start`` call: only mounts named at
  create are made in between. A mount injected after the start races the
  command.
* The target is never resolved in a tree the workload can write: the
  host side is a directory of the driver's own, and the workload sees
  it read-only (it can't replace ``/mnt/vdb`` or ``/mnt`` with a symlink,
  nor make a mount point of its own there). The bind's target ``/mnt``
  is resolved by the engine's runtime inside the container's root at
  start, so an image whose ``/mnt`` is a symlink gets the bind inside its
  own tree, never on the host.
* No entering of a foreign mount namespace from the privileged helper,
  and a detach is a plain unmount on the host that the kernel refuses
  while the workload still uses the volume (EBUSY), instead of a lazy
  unmount that would leave the device held after its disconnect.

The cost: an image's own ``/mnt`` is hidden behind that read-only
directory, and each attached volume is also mounted on the host (nodev,
nosuid), in the driver's directory.
"""

import os
import re

from nova import exception

# What a device name may be: nova hands out /dev/vd[b-z]..., /dev/sdX.
_DEVICE_NAME = re.compile(r'^[a-z][a-z0-9]{0,31}$')
# Where the instance's volume directory appears inside the workload.
TARGET = '/mnt'
# The image property naming other paths for some devices, as Nova keeps
# it in the instance's system metadata (every image property, prefixed).
MOUNTS_PROPERTY = 'nova_docker_mounts'
SYSTEM_METADATA_KEY = 'image_' + MOUNTS_PROPERTY
# What a path of it may hold, and where it may not be: the kernel's and
# the engine's own trees, and the volume directory itself.
_PATH = re.compile(r'^(/[A-Za-z0-9._@+-]+)+$')
_NOT_UNDER = ('/mnt', '/proc', '/sys', '/dev')


def device_name(mountpoint: str) -> str:
    """``/dev/vdb`` -> ``vdb``: the name of the volume's directory."""
    name = (mountpoint or '').rsplit('/', 1)[-1]
    if not _DEVICE_NAME.match(name):
        raise exception.InvalidDevicePath(path=mountpoint)
    return name


def instance_dir(base: str, instance_uuid: str) -> str:
    return os.path.join(base, instance_uuid)


def volume_dir(base: str, instance_uuid: str, mountpoint: str) -> str:
    """The host directory a volume is mounted on."""
    return os.path.join(instance_dir(base, instance_uuid),
                        device_name(mountpoint))


def _bind(source: str, target: str) -> dict:
    return {'Type': 'bind', 'Source': source, 'Target': target,
            'ReadOnly': True, 'BindOptions': {'Propagation': 'rslave'}}


def bind(base: str, instance_uuid: str) -> dict:
    """The workload's bind of its volume directory (``HostConfig.Mounts``
    entry)."""
    return _bind(instance_dir(base, instance_uuid), TARGET)


def binds(base: str, instance_uuid: str,
          mapped: dict[str, str]) -> list[dict]:
    """The volume directory at /mnt, and each device of ``mapped`` at its
    own path too: the device's directory, read-only until its volume is
    mounted on it (so nothing meant for the volume lands in the image's
    layer)."""
    top = instance_dir(base, instance_uuid)
    return [bind(base, instance_uuid)] + [
        _bind(os.path.join(top, name), path)
        for name, path in sorted(mapped.items())]


def _check_path(path: str, taken: list[str]) -> None:
    if not _PATH.match(path) or os.path.normpath(path) != path:
        raise ValueError('%r is not an absolute path of plain names '
                         '(letters, digits, . _ @ + -)' % path)
    for other in list(_NOT_UNDER) + taken:
        if path == other or path.startswith(other + '/') or (
                other in taken and other.startswith(path + '/')):
            raise ValueError('%s is, is in or holds %s' % (path, other))


def parse_mounts(value: str | None) -> dict[str, str]:
    """``vdb:/var/lib/mysql,vdc:/data`` -> {'vdb': '/var/lib/mysql',
    'vdc': '/data'}; ValueError, saying what is wrong, if it is not."""
    mapped: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in (value or '').split(','))):
        name, sep, path = entry.partition(':')
        if not sep or not _DEVICE_NAME.match(name):
            raise ValueError('%r is not <device name>:<path>, e.g. '
                             'vdb:/var/lib/mysql' % entry)
        if name in mapped:
            raise ValueError('%s is named twice' % name)
        _check_path(path, list(mapped.values()))
        mapped[name] = path
    return mapped


def mapped_devices(instance) -> dict[str, str]:
    """The image's ``nova_docker_mounts`` of ``instance`` (Nova keeps
    every image property in its system metadata); ImageUnacceptable if it
    is not one."""
    value = (instance.system_metadata or {}).get(SYSTEM_METADATA_KEY)
    try:
        return parse_mounts(value)
    except ValueError as exc:
        raise exception.ImageUnacceptable(
            image_id=instance.image_ref,
            reason='its property %s=%r is refused: %s. Fix the property, '
                   'e.g. vdb:/var/lib/mysql,vdc:/data'
                   % (MOUNTS_PROPERTY, value, exc)) from exc


def has_bind(container_info: dict, base: str, instance_uuid: str) -> bool:
    """Whether a workload (its inspect) was created with the bind."""
    source = instance_dir(base, instance_uuid)
    return any(m.get('Source') == source and m.get('Destination') == TARGET
               for m in container_info.get('Mounts') or [])
