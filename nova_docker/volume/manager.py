"""An instance's Cinder volumes: connected by os-brick, checked by the
file-system policy, mounted where its workload's ``/mnt`` shows them (see
:mod:`nova_docker.volume.layout`). Every method leaves a volume either
attached (connected and mounted) or neither."""

import errno
import os

from nova import conf as nova_conf
from nova import exception
from nova.virt import driver as virt_driver
from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import excutils

from nova_docker import conf as docker_conf
from nova_docker import exception as docker_exception
from nova_docker.volume import connection
from nova_docker.volume import filesystem
from nova_docker.volume import layout
from nova_docker.volume import privileged

CONF = nova_conf.CONF
docker_conf.register_opts(CONF)
LOG = logging.getLogger(__name__)

# What the privileged helper raises when a device or mount misbehaves.
HOST_ERRORS = (OSError, processutils.ProcessExecutionError)


def _volume_id(connection_info: dict) -> str:
    return (connection_info.get('serial') or
            (connection_info.get('data') or {}).get('volume_id') or
            'unknown')


def _mapping(block_device_info) -> list[dict]:
    return virt_driver.block_device_info_get_mapping(block_device_info)


class Volumes:
    """Mounts and unmounts the volumes of this host's instances.

    :param base: the host directory of the instances' volume directories;
        by default ``[docker] volume_mount_dir``.
    """

    def __init__(self, base: str | None = None):
        self.base = base or CONF.docker.volume_mount_dir
        # Volumes are mounted on this host, which must be the engine's.
        self.enabled = bool(self.base) and CONF.docker.host_url.startswith(
            'unix://')

    def init_host(self) -> None:
        """Make the base directory a shared mount (once per boot of the
        host; again is harmless), so mounts under it reach workloads."""
        if self.base and not os.path.isabs(self.base):
            raise docker_exception.InvalidEngineConfig(
                reason='volume_mount_dir %r is not an absolute path'
                       % self.base)
        if self.enabled:
            privileged.share_dir(self.base)

    def binds(self, instance) -> list[dict]:
        """What a workload's create body gets (``HostConfig.Mounts``): the
        bind of its volume directory at ``/mnt``, and of each device the
        image maps to a path of its own (made now: the engine refuses a
        missing source). None when volumes are off."""
        if not self.enabled:
            return []
        mapped = layout.mapped_devices(instance)
        top = layout.instance_dir(self.base, instance.uuid)
        # Again, in case it was undone since nova-compute started: the
        # engine refuses to start a workload whose rslave bind's source
        # is on a private mount.
        privileged.share_dir(self.base)
        privileged.make_dir(top)
        for name in mapped:
            # Bind sources: kept while the instance lives.
            privileged.make_dir(os.path.join(top, name))
        return layout.binds(self.base, instance.uuid, mapped)

    def check_mountable(self, instance, container_info: dict,
                        volume_id: str) -> None:
        """Refuse an attach the workload could never see."""
        if not self.base:
            raise exception.VolumeAttachFailed(
                volume_id=volume_id,
                reason='volumes are off on this compute host: set [docker] '
                       'volume_mount_dir, restart nova-compute and rebuild '
                       'the server')
        if not self.enabled:
            raise exception.VolumeAttachFailed(
                volume_id=volume_id,
                reason='[docker] host_url %s is not a unix socket: volumes '
                       'are mounted on this host, which must be the '
                       "engine's" % CONF.docker.host_url)
        if not layout.has_bind(container_info, self.base, instance.uuid):
            raise exception.VolumeAttachFailed(
                volume_id=volume_id,
                reason='the container was made without the volume '
                       'directory at /mnt (before nova-docker mounted '
                       'volumes, or with another [docker] '
                       'volume_mount_dir): rebuild the server, then attach')

    # -- attach -----------------------------------------------------------

    def attach(self, instance, connection_info: dict,
               mountpoint: str) -> None:
        """Connect the volume and mount it at ``/mnt/<device name>``;
        nothing is left connected or mounted if that fails."""
        volume_id = _volume_id(connection_info)
        target = layout.volume_dir(self.base, instance.uuid, mountpoint)
        try:
            device = connection.connect(connection_info)
        except connection.BRICK_ERRORS as exc:
            raise exception.VolumeAttachFailed(
                volume_id=volume_id,
                reason='os-brick could not connect it: %s' % exc) from exc
        try:
            self._mount(instance, device, target, volume_id)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._disconnect_quietly(instance, connection_info)
        LOG.info('Volume %s (%s) mounted at %s/%s', volume_id, device,
                 layout.TARGET, layout.device_name(mountpoint),
                 instance=instance)

    def _mount(self, instance, device: str, target: str,
               volume_id: str) -> None:
        try:
            decision = filesystem.decide(
                filesystem.parse_probe(privileged.probe(device)),
                self._blank_fstype())
            if decision.refusal:
                raise exception.VolumeAttachFailed(
                    volume_id=volume_id,
                    reason='%s. The volume was not mounted and is '
                           'unchanged: put ext4 or xfs on it, or wipe '
                           'it (wipefs -a) to have it formatted'
                           % decision.refusal)
            if decision.mkfs:
                LOG.info('Volume %s is blank: making %s on it', volume_id,
                         decision.fstype, instance=instance)
                privileged.make_filesystem(device, decision.fstype)
            privileged.mount_volume(device, decision.fstype, target)
        except HOST_ERRORS as exc:
            raise exception.VolumeAttachFailed(
                volume_id=volume_id, reason=str(exc)) from exc

    @staticmethod
    def _blank_fstype() -> str | None:
        chosen = CONF.docker.blank_volume_filesystem
        return None if chosen == 'none' else chosen

    def mount_all(self, instance, block_device_info, inspect) -> None:
        """Every volume of ``block_device_info`` connected and mounted (the
        ones that are already stay): before each start of the workload.

        :param inspect: returns the workload's inspect, read only when
            there are volumes (to check that it can see them).
        """
        mapping = _mapping(block_device_info)
        if mapping:
            self.check_mountable(instance, inspect(), ', '.join(
                _volume_id(bdm['connection_info']) for bdm in mapping))
        for bdm in mapping:
            self.attach(instance, bdm['connection_info'],
                        bdm['mount_device'])

    # -- extend -----------------------------------------------------------

    def extend(self, instance, connection_info: dict,
               requested_size: int) -> int:
        """os-brick sees the volume's new size, then its mounted file
        system grows to it (xfs_growfs, resize2fs) while the workload
        uses it; the new size in bytes."""
        volume_id = _volume_id(connection_info)
        try:
            size = connection.extend(connection_info)
        except connection.BRICK_ERRORS as exc:
            raise exception.VolumeExtendFailed(
                volume_id=volume_id,
                reason='os-brick could not extend it: %s' % exc) from exc
        if size is None:
            raise exception.VolumeExtendFailed(
                volume_id=volume_id,
                reason='os-brick could not read its new size')
        device = connection_info['data']['device_path']
        try:
            target = privileged.mount_of(
                device, layout.instance_dir(self.base, instance.uuid))
            if target is None:
                raise exception.VolumeExtendFailed(
                    volume_id=volume_id,
                    reason='it is not mounted here: attach it again')
            fstype = filesystem.parse_probe(
                privileged.probe(device)).get('TYPE')
            privileged.grow(device, fstype, target)
        except HOST_ERRORS as exc:
            raise exception.VolumeExtendFailed(
                volume_id=volume_id,
                reason='its file system could not grow: %s' % exc) from exc
        LOG.info('Volume %s grown to %d bytes', volume_id, size,
                 instance=instance)
        return size

    # -- detach -----------------------------------------------------------

    def detach(self, instance, connection_info: dict,
               mountpoint: str) -> None:
        """Unmount (refused while the workload uses the volume), then
        disconnect."""
        target = layout.volume_dir(self.base, instance.uuid, mountpoint)
        # A device the image maps to a path of its own keeps its
        # directory: the workload's bind of it stays.
        keep = layout.device_name(mountpoint) in layout.mapped_devices(
            instance)
        try:
            privileged.unmount_volume(target, keep_dir=keep)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise exception.DeviceDetachFailed(device=mountpoint,
                                                   reason=exc) from exc
            raise exception.DeviceDetachFailed(
                device=mountpoint,
                reason='the instance still uses %s/%s (a process has a '
                       'file open or its working directory there): stop '
                       'it, or stop the server, and detach again'
                       % (layout.TARGET, layout.device_name(mountpoint))
            ) from exc
        try:
            connection.disconnect(connection_info)
        except connection.BRICK_ERRORS as exc:
            raise exception.DeviceDetachFailed(
                device=mountpoint,
                reason='unmounted, but os-brick could not disconnect it: '
                       '%s' % exc) from exc
        LOG.info('Volume %s detached from %s', _volume_id(connection_info),
                 mountpoint, instance=instance)

    def detach_all(self, instance, block_device_info) -> None:
        """Unmount and disconnect every volume of ``block_device_info``
        while the instance stays (it stopped to move or resize: nova ends
        the volumes' attachments to this host next); its volume
        directory stays for the workload's bind."""
        if not self.enabled:
            return
        for bdm in _mapping(block_device_info):
            target = layout.volume_dir(self.base, instance.uuid,
                                       bdm['mount_device'])
            # The workload is stopped: only the host could still hold
            # the mount (lazily, then). A device the image maps to a
            # path of its own keeps its directory, the bind's source.
            privileged.unmount_volume(
                target, lazy=True, keep_dir=layout.device_name(
                    bdm['mount_device']) in layout.mapped_devices(instance))
            self._disconnect_quietly(instance, bdm['connection_info'])

    def remove_all(self, instance, block_device_info) -> None:
        """After the instance's containers are gone: unmount and
        disconnect every volume, then remove its volume directory. The
        volumes' data stays on them."""
        if not self.enabled:
            return
        for bdm in _mapping(block_device_info):
            target = layout.volume_dir(self.base, instance.uuid,
                                       bdm['mount_device'])
            self._unmount_for_good(instance, target)
            self._disconnect_quietly(instance, bdm['connection_info'])
        top = layout.instance_dir(self.base, instance.uuid)
        for target in privileged.mounted_under(top):
            # Mounted, but not in the mapping Nova handed over.
            self._unmount_for_good(instance, target)
        privileged.remove_dir(top)

    @staticmethod
    def _unmount_for_good(instance, target: str) -> None:
        try:
            privileged.unmount_volume(target)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            # The workload is gone: what holds it is on the host.
            LOG.warning('%s is busy on the host; unmounting it lazily',
                        target, instance=instance)
            privileged.unmount_volume(target, lazy=True)

    @staticmethod
    def _disconnect_quietly(instance, connection_info: dict) -> None:
        try:
            connection.disconnect(connection_info, force=True)
        except connection.BRICK_ERRORS as exc:
            LOG.warning('Could not disconnect volume %s: %s',
                        _volume_id(connection_info), exc, instance=instance)
