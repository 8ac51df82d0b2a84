"""nova exceptions that name what the operator should do (the driver's and
the image pipeline's), and the one boundary where engine errors become
them."""

from collections.abc import Callable
from collections.abc import Iterator
import contextlib

from cursive import exception as cursive_exception
from nova import exception

from nova_docker import conf as docker_conf
from nova_docker.docker import errors

CONF = docker_conf.CONF


class EngineUnavailable(exception.HypervisorUnavailable):
    msg_fmt = ('Docker Engine at %(url)s is not reachable: %(reason)s. '
               'Start dockerd, or point [docker] host_url at a running '
               'engine.')


class EngineUnsupported(exception.HypervisorUnavailable):
    msg_fmt = ('Docker Engine at %(url)s cannot be used: %(reason)s')


class EngineOfAnotherHost(exception.NovaException):
    msg_fmt = ('The Docker Engine at %(url)s holds containers of the compute '
               'host(s) %(hosts)s, not only of this one (%(host)s): two '
               'nova-compute services must not share an engine by mistake. '
               'Point [docker] host_url at this host\'s own engine, or set '
               '[docker] shared_engine = true if sharing it is meant.')


class InvalidEngineConfig(exception.InvalidConfiguration):
    msg_fmt = ('[docker] options are invalid: %(reason)s')


class UnsupportedPort(exception.InvalidInput):
    msg_fmt = ('Neutron port %(port)s cannot be wired into a container: '
               '%(reason)s. Boot the server with a port of vnic type '
               'normal on an ML2/OVS network.')


class PortsNeedLocalEngine(exception.InvalidInput):
    msg_fmt = ('The server has Neutron ports, but [docker] host_url '
               '%(url)s is not a unix socket: a port is wired into the '
               'container\'s network namespace, which must be on this '
               'host. Run nova-compute beside its engine '
               '(host_url = unix:///var/run/docker.sock).')


class ConfigDriveNeedsLocalEngine(exception.InvalidInput):
    msg_fmt = ('The server asks for a config drive, but [docker] host_url '
               '%(url)s is not a unix socket: the drive is a directory of '
               'this host bound into the container, which must run here. '
               'Run nova-compute beside its engine (host_url = '
               'unix:///var/run/docker.sock), or boot without a config '
               'drive.')


class PortWiringFailed(exception.VirtualInterfacePlugException):
    msg_fmt = ('Neutron port %(port)s could not be wired into the '
               'container of instance %(instance)s: %(reason)s')


class ConsoleNeedsRunningInstance(exception.InstanceNotReady):
    msg_fmt = ('Instance %(instance_id)s is not running: its serial console '
               'is the terminal of its running workload. Start the server, '
               'then ask for its console again.')


class NoSerialPort(exception.ConsoleTypeUnavailable):
    msg_fmt = ('Instance %(instance_id)s has no serial console: it was '
               'created while [serial_console] enabled was false on its '
               'compute host. Rebuild the server to give it one.')


# The engine is down, or up but not answering: either way the hypervisor
# is unavailable to Nova, which must not see the client's own errors.
ENGINE_DOWN = (errors.EngineUnreachable, errors.EngineTimeout)


def engine_unavailable(exc: errors.DockerError) -> EngineUnavailable:
    return EngineUnavailable(url=CONF.docker.host_url, reason=exc)


def translate(exc: Exception, instance_uuid: str | None = None
              ) -> Exception | None:
    """The nova exception for an engine error, or None if the caller
    must decide (an API error whose meaning depends on the call)."""
    if isinstance(exc, ENGINE_DOWN):
        return engine_unavailable(exc)
    if isinstance(exc, errors.NotFound) and instance_uuid:
        return exception.InstanceNotFound(instance_id=instance_uuid)
    return None


@contextlib.contextmanager
def engine_boundary(instance_uuid: str | None = None,
                    api_error: Callable[[errors.DockerError],
                                        Exception | None] | None = None
                    ) -> Iterator[None]:
    """Engine errors in Nova's terms, for the driver, the guest, the image
    loader, the cache and the snapshot alike: an engine that is gone or
    silent is EngineUnavailable (a HypervisorUnavailable); a missing
    container of ``instance_uuid`` is InstanceNotFound; any other error
    of the engine is what ``api_error`` makes of it (the meaning of a
    refusal depends on the call), or passes through if it makes none."""
    try:
        yield
    except errors.DockerError as exc:
        translated = translate(exc, instance_uuid)
        if translated is None and api_error is not None:
            translated = api_error(exc)
        if translated is None:
            raise
        raise translated from exc


def reason(exc: errors.DockerError) -> str:
    """The engine's own words when it answered, else what went wrong."""
    return exc.explanation or str(exc)


# -- the image pipeline ------------------------------------------------------

class ImageDownloadFailed(exception.NovaException):
    msg_fmt = ('Downloading image %(image_id)s from Glance stopped after '
               '%(received)d of %(size)s bytes: %(reason)s. Check that '
               'Glance is up and reachable from this host, then retry.')


class ImageDownloadStalled(exception.NovaException):
    msg_fmt = ('Glance sent nothing of image %(image_id)s for %(seconds)d '
               'seconds ([docker] image_timeout): check that Glance and the '
               'network between it and this host are well, then retry.')


class SpoolFailed(exception.NovaException):
    msg_fmt = ('Could not keep a temporary copy of image %(image_id)s in '
               '[docker] image_download_dir %(directory)s: %(reason)s. Free '
               'space there, or point the option at a larger disk, or unset '
               'it to stream images without a copy.')


class ImageLoadFailed(exception.NovaException):
    msg_fmt = ('The Docker Engine could not store image %(image_id)s: '
               '%(reason)s')


class SnapshotFailed(exception.NovaException):
    msg_fmt = ('Snapshot of the container into image %(image_id)s failed: '
               '%(reason)s')


class ImageLargerThanFlavorDisk(exception.FlavorDiskSmallerThanImage):
    msg_fmt = ('Image %(image_id)s unpacks to more than the %(flavor_gb)d GB '
               'root disk of the flavor: boot it with a flavor with a larger '
               'root disk.')


class ImageLargerThanLimit(exception.ImageUnacceptable):
    msg_fmt = ('Image %(image_id)s is unacceptable: it unpacks to more than '
               '%(limit_gb)d GB, the limit of [docker] max_image_size_gb for '
               'flavors without a root disk size. Boot it with a flavor whose '
               'root_gb fits it, or raise the option.')


def unloadable(image_id: str, detail) -> exception.ImageUnacceptable:
    """ImageUnacceptable for data that is no Docker image."""
    return exception.ImageUnacceptable(
        image_id=image_id,
        reason='its data is not a loadable Docker image: %s. Upload a '
               '`docker save` archive or a root file system tar '
               '(`docker export`), plain or gzip-compressed' % detail)


def signature_mismatch(image_id: str
                       ) -> cursive_exception.SignatureVerificationError:
    """The error for data that does not match its Glance signature.

    cursive's type, as nova's own verification raises it: nova's compute
    manager aborts such a build without rescheduling it.
    """
    return cursive_exception.SignatureVerificationError(
        reason='the data of image %s does not match its signature '
               '(img_signature): it was changed after it was signed, or '
               'signed with another key than the one of its certificate '
               '(img_signature_certificate_uuid). Sign the image data '
               'again, or upload the signed data again' % image_id)


NO_SPACE = 'no space left on device'


def engine_failed(image_id: str, explanation: str) -> ImageLoadFailed:
    """ImageLoadFailed, with a hint when the engine ran out of space."""
    reason = explanation
    if NO_SPACE in (explanation or '').lower():
        reason = ('%s. Free space where the engine keeps images (`docker '
                  'info`: Docker Root Dir), e.g. remove unused images, '
                  'then retry' % explanation)
    return ImageLoadFailed(image_id=image_id, reason=reason)
