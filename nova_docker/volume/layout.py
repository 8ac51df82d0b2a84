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


def bind(base: str, instance_uuid: str) -> dict:
    """The workload's bind of its volume directory (``HostConfig.Mounts``
    entry)."""
    return {'Type': 'bind', 'Source': instance_dir(base, instance_uuid),
            'Target': TARGET, 'ReadOnly': True,
            'BindOptions': {'Propagation': 'rslave'}}


def has_bind(container_info: dict, base: str, instance_uuid: str) -> bool:
    """Whether a workload (its inspect) was created with the bind."""
    source = instance_dir(base, instance_uuid)
    return any(m.get('Source') == source and m.get('Destination') == TARGET
               for m in container_info.get('Mounts') or [])
