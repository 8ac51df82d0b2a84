"""A workload's ``/etc/resolv.conf``, ``/etc/hosts`` and
``/etc/hostname``, written by the driver and bound read-only into the
workload on every engine on this host.

The engines write these files themselves, on the host, outside the
container's layers, and bind them writable into the workload: Docker
writes the sandbox's (from its create body's ``Dns`` and ``ExtraHosts``)
and a workload that joins the sandbox's namespace shares them; Podman 4
writes only ``/etc/hostname``, for a container whose network is ``none``
or that joins one. A workload that could write them would grow a file on
the host's disk that no flavor bounds (the ``size`` storage option counts
the writable layer only: tests/functional/test_hostile_images.py wrote 20
MB into Docker's ``hosts``), and on Podman Neutron's name servers and
the instance's own name would not reach it at all. So on a local engine
(:attr:`nova_docker.host.Host.engine_is_local`) the driver writes all
three as Docker would under ``<instances_path>/<uuid>/resolution@<host>``
and binds them read-only; the engine keeps its own copies out of a container
that has a mount there. A remote engine's files cannot be replaced: they
stay the engine's (doc/source/support-matrix.rst).

:func:`files` and :func:`mounts` are pure; :class:`Resolutions` writes.
"""

from nova_docker import instance_files

DIR_NAME = 'resolution'
RESOLV_CONF = 'resolv.conf'
HOSTS = 'hosts'
HOSTNAME = 'hostname'
# Nothing in them is secret, and any user of the image resolves names.
FILE_MODE = 0o644
# Docker's own first lines, so that an image finds what it found there.
_LOCALHOST = ('127.0.0.1\tlocalhost\n'
              '::1\tlocalhost ip6-localhost ip6-loopback\n'
              'fe00::0\tip6-localnet\n'
              'ff00::0\tip6-mcastprefix\n'
              'ff02::1\tip6-allnodes\n'
              'ff02::2\tip6-allrouters\n')
# Where the subnets name no server: the host's resolvers, which Docker
# would copy in, are not on the instance's network.
_NO_SERVERS = b'# The subnets of the instance name no DNS server.\n'


def resolv_conf(dns_servers) -> bytes:
    if not dns_servers:
        return _NO_SERVERS
    return ''.join('nameserver %s\n' % s for s in dns_servers).encode()


def hosts(lines) -> bytes:
    """``/etc/hosts`` of (name, address) pairs (already checked by
    :func:`nova_docker.container.check_resolution`), after localhost."""
    own = ''.join('%s\t%s\n' % (address, name) for name, address in lines)
    return (_LOCALHOST + own).encode()


def files(dns_servers, lines, hostname: str) -> dict[str, bytes]:
    """The tree to write: all three files, whatever the subnets say (an
    engine's writable copy must never be the one the workload sees)."""
    return {HOSTS: hosts(lines), RESOLV_CONF: resolv_conf(dns_servers),
            HOSTNAME: ('%s\n' % hostname).encode()}


def mounts(directory: str, written) -> list[dict]:
    """The workload's read-only binds of the ``written`` file names
    under ``directory``."""
    return [{'Type': 'bind', 'Source': '%s/%s' % (directory, name),
             'Target': '/etc/' + name, 'ReadOnly': True}
            for name in sorted(written)]


class Resolutions(instance_files.InstanceFiles):
    """The resolution files of this host's instances."""

    def __init__(self, instances_path: str):
        super().__init__(instances_path, DIR_NAME,
                         'its /etc/resolv.conf, /etc/hosts and /etc/hostname',
                         file_mode=FILE_MODE)

    def write_for(self, instance_uuid: str, dns_servers, lines,
                  hostname: str) -> list[dict]:
        """Write the instance's files; the workload's binds of them."""
        tree = files(dns_servers, lines, hostname)
        return mounts(self.write(instance_uuid, tree), tree)
