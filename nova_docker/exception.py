"""nova exceptions that name what the operator should do, and the one
boundary where engine errors become them."""

import contextlib
from collections.abc import Iterator

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
def engine_boundary(instance_uuid: str | None = None) -> Iterator[None]:
    """Engine errors in Nova's terms, for the driver, the image loader, the
    cache and the snapshot alike: an engine that is gone or silent is
    EngineUnavailable (a HypervisorUnavailable); a missing container of
    ``instance_uuid`` is InstanceNotFound; other errors pass through."""
    try:
        yield
    except errors.DockerError as exc:
        translated = translate(exc, instance_uuid)
        if translated is None:
            raise
        raise translated from exc
