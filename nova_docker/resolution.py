"""A workload's ``/etc/resolv.conf`` and ``/etc/hosts``, written by the
driver where the engine gives a joined workload none.

Docker writes both files for the sandbox from its create body (``Dns``,
``ExtraHosts``) and a workload that joins the sandbox's namespace shares
them. Podman 4 writes neither for a container whose network is ``none``
(the sandbox) nor for one that joins it, and refuses extra hosts on a
joined container: Neutron's name servers and the instance's own name
would not reach the instance. On such an engine
(:attr:`nova_docker.engine_facts.EngineFacts.workload_resolution`) the driver
writes the two files as Docker would under
``<instances_path>/<uuid>/resolution`` and binds them read-only into the
workload: the workload cannot grow a file on the host's disk through
them, and what the subnets say stays what it reads.

:func:`files` and :func:`mounts` are pure; :class:`Resolutions` writes.
"""

from nova_docker import instance_files

DIR_NAME = 'resolution'
RESOLV_CONF = 'resolv.conf'
HOSTS = 'hosts'
# Nothing in them is secret, and any user of the image resolves names.
FILE_MODE = 0o644
_LOCALHOST = ('127.0.0.1\tlocalhost\n'
              '::1\tlocalhost ip6-localhost ip6-loopback\n')


def resolv_conf(dns_servers) -> bytes:
    return ''.join('nameserver %s\n' % s for s in dns_servers).encode()


def hosts(lines) -> bytes:
    """``/etc/hosts`` of (name, address) pairs (already checked by
    :func:`nova_docker.container.check_resolution`), after localhost."""
    own = ''.join('%s\t%s\n' % (address, name) for name, address in lines)
    return (_LOCALHOST + own).encode()


def files(dns_servers, lines) -> dict[str, bytes]:
    """The tree to write: ``hosts`` always (localhost at least), and
    ``resolv.conf`` when the subnets name servers (without any, the
    workload keeps what its image has)."""
    tree = {HOSTS: hosts(lines)}
    if dns_servers:
        tree[RESOLV_CONF] = resolv_conf(dns_servers)
    return tree


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
                         'its /etc/resolv.conf and /etc/hosts',
                         file_mode=FILE_MODE)

    def write_for(self, instance_uuid: str, dns_servers, lines
                  ) -> list[dict]:
        """Write the instance's files; the workload's binds of them."""
        tree = files(dns_servers, lines)
        return mounts(self.write(instance_uuid, tree), tree)
