"""os-brick on this host: the connector properties Cinder exports a volume
to, and the connection and disconnection of a volume's block device."""

from nova import conf as nova_conf
from nova import exception
from nova import utils
from os_brick import exception as brick_exception
from os_brick.initiator import connector as brick_connector
from oslo_concurrency import processutils

from nova_docker import conf as docker_conf

CONF = nova_conf.CONF
docker_conf.register_opts(CONF)

# What os-brick raises when a connection cannot be made or undone.
BRICK_ERRORS = (brick_exception.BrickException, OSError, ValueError,
                processutils.ProcessExecutionError)


def connector_properties() -> dict:
    """This host's initiator properties, built as libvirt builds them:
    ``[DEFAULT] my_block_storage_ip``, the compute host's name, and
    multipath from ``[docker] volume_use_multipath`` (enforced: an
    operator who asks for multipath gets an error, not one path)."""
    return brick_connector.get_connector_properties(
        utils.get_root_helper(), CONF.my_block_storage_ip,
        CONF.docker.volume_use_multipath, enforce_multipath=True,
        host=CONF.host)


def _connector(connection_info: dict):
    protocol = connection_info.get('driver_volume_type') or ''
    try:
        return brick_connector.InitiatorConnector.factory(
            protocol.upper(), utils.get_root_helper(),
            use_multipath=CONF.docker.volume_use_multipath,
            device_scan_attempts=CONF.libvirt.num_volume_scan_tries)
    except (ValueError, brick_exception.InvalidConnectorProtocol) as exc:
        raise exception.VolumeDriverNotFound(driver_type=protocol) from exc


def connect(connection_info: dict) -> str:
    """Connect the volume on this host; its block device's path, also
    recorded in ``connection_info['data']['device_path']`` (as libvirt
    records it, for the disconnect)."""
    data = connection_info['data']
    device_info = _connector(connection_info).connect_volume(data)
    data['device_path'] = device_info['path']
    return device_info['path']


def disconnect(connection_info: dict, force: bool = False) -> None:
    data = connection_info.get('data') or {}
    _connector(connection_info).disconnect_volume(
        data, None, force=force, ignore_errors=force)


def extend(connection_info: dict) -> int | None:
    """Have os-brick see the volume's new size; the size in bytes."""
    return _connector(connection_info).extend_volume(
        connection_info['data'])
