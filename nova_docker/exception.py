"""nova exceptions that name what the operator should do."""

from nova import exception


class EngineUnavailable(exception.HypervisorUnavailable):
    msg_fmt = ('Docker Engine at %(url)s is not reachable: %(reason)s. '
               'Start dockerd, or point [docker] host_url at a running '
               'engine.')


class EngineUnsupported(exception.HypervisorUnavailable):
    msg_fmt = ('Docker Engine at %(url)s cannot be used: %(reason)s')


class InvalidEngineConfig(exception.InvalidConfiguration):
    msg_fmt = ('[docker] options are invalid: %(reason)s')
