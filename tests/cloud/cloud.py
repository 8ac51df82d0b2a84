"""The cloud of tools/cloud.sh, as a test sees it: through the real
``openstack`` CLI of the cloud's venv (``-f json``), and, for the engines'
side, each compute host's Docker Engine API on its own socket (raw
requests, never the product's client).

Nothing here imports nova: these tests are clients of a running cloud.
"""

import json
import os
import socket
import subprocess
import time

import pytest

from tests.fixtures import engine as engine_fixtures

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CLOUD_SH = os.path.join(REPO, 'tools', 'cloud.sh')
BUSYBOX_TAR = os.path.join(REPO, 'tools', 'cloud', 'busybox_tar.py')
STATE = os.environ.get('NOVA_DOCKER_CLOUD_STATE', '/var/lib/nova-docker-cloud')
HOME = os.environ.get('NOVA_DOCKER_CLOUD_HOME', '/opt/nova-docker-cloud')
VENV = os.path.join(HOME, 'venv')
COMPUTES = ('compute1', 'compute2')
EXEC_ROOT_PREFIX = '/run/ndc-'
BRIDGE_PREFIX = 'ndc-'
HELLO = 'hello from busybox'
INSTANCE_LABEL = engine_fixtures.INSTANCE_LABEL
SANDBOX_LABEL = 'org.openstack.nova.sandbox-of'
TENANT_PREFIX = '10.78.0.'
# The external network's range, whose .1 is the host's own address.
PUBLIC_CIDR = os.environ.get('NOVA_DOCKER_CLOUD_PUBLIC_CIDR', '172.24.4.0/24')
# A cloud already up is used and left up: for iterating on one test.
REUSE = (os.environ.get('NOVA_DOCKER_CLOUD_REUSE') == '1' and
         not os.environ.get('CI'))


class CloudError(Exception):
    pass


def cloud_sh(*args, check=True, timeout=900):
    """Run tools/cloud.sh; its output goes to the test's captured
    output."""
    proc = subprocess.run([CLOUD_SH] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, text=True)
    print(proc.stdout)
    if check and proc.returncode != 0:
        raise CloudError('tools/cloud.sh %s exited %s:\n%s' % (
            ' '.join(args), proc.returncode, proc.stdout[-4000:]))
    return proc


def require_root():
    if os.geteuid() == 0:
        return
    msg = ('the cloud tier needs root (tools/cloud.sh installs packages and '
           'runs dockerd)')
    if os.environ.get('CI'):
        pytest.fail(msg)
    pytest.skip(msg)


def host_network():
    """What the host's network holds that the cloud could leave behind."""
    links = subprocess.run(['ip', '-o', 'link', 'show'], capture_output=True,
                           text=True, check=True).stdout
    names = {line.split(': ')[1].split('@')[0] for line in links.splitlines()}
    netns = set(subprocess.run(['ip', 'netns', 'list'], capture_output=True,
                               text=True, check=True).stdout.split())
    bridges = set(subprocess.run(['ovs-vsctl', '--timeout=10', 'list-br'],
                                 capture_output=True, text=True,
                                 check=True).stdout.split())
    return {'links': names, 'netns': netns, 'bridges': bridges}


def engine_socket(host):
    return os.path.join(STATE, 'data', host, 'docker', 'docker.sock')


def engine(host):
    return engine_fixtures.EngineAPI(engine_socket(host))


class OpenStack:
    """``openstack --os-cloud CLOUD ...`` with ``-f json`` parsed."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.env = dict(os.environ,
                        OS_CLIENT_CONFIG_FILE=os.path.join(STATE,
                                                           'clouds.yaml'),
                        PYTHONWARNINGS='ignore')

    def run(self, *args, check=True, timeout=300, cwd=None):
        cmd = [os.path.join(VENV, 'bin', 'openstack'), '--os-cloud',
               self.cloud] + [str(a) for a in args]
        proc = subprocess.run(cmd, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)
        if check and proc.returncode != 0:
            raise CloudError('%s exited %s: %s%s' % (
                ' '.join(cmd[1:]), proc.returncode, proc.stderr[-3000:],
                proc.stdout[-1000:]))
        return proc

    def json(self, *args, **kwargs):
        out = self.run(*(list(args) + ['-f', 'json']), **kwargs).stdout
        return json.loads(out) if out.strip() else None


class Cloud:
    """The demo user's and the admin's view, and the two engines."""

    def __init__(self):
        self.demo = OpenStack('nova-docker')
        # The second tenant project, with a network of its own.
        self.alt = OpenStack('nova-docker-alt')
        self.admin = OpenStack('nova-docker-admin')

    # -- servers --------------------------------------------------------------

    def server(self, name_or_id):
        """The admin's ``server show`` (it names the host)."""
        return self.admin.json('server', 'show', name_or_id)

    def wait_status(self, server_id, want, timeout=300):
        deadline = time.monotonic() + timeout
        while True:
            server = self.server(server_id)
            if server['status'] == want and not server.get(
                    'OS-EXT-STS:task_state'):
                return server
            if server['status'] == 'ERROR' and want != 'ERROR':
                raise CloudError('server %s is ERROR: %s' % (
                    server_id, server.get('fault')))
            if time.monotonic() > deadline:
                raise CloudError('server %s is %s/%s after %d s, not %s' % (
                    server_id, server['status'],
                    server.get('OS-EXT-STS:task_state'), timeout, want))
            time.sleep(2)

    def wait_gone(self, server_id, timeout=180):
        deadline = time.monotonic() + timeout
        while self.admin.run('server', 'show', server_id,
                             check=False).returncode == 0:
            if time.monotonic() > deadline:
                raise CloudError('server %s not gone after %d s' % (
                    server_id, timeout))
            time.sleep(2)

    def delete_servers(self, server_ids):
        """Delete the demo user's servers, all at once, and wait until
        every one is gone."""
        for server_id in server_ids:
            self.demo.run('server', 'delete', server_id, check=False)
        for server_id in server_ids:
            self.wait_gone(server_id)

    def console(self, server_id):
        return self.demo.run('console', 'log', 'show', server_id).stdout

    def wait_console(self, server_id, text=HELLO, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            out = self.console(server_id)
            if text in out:
                return out
            if time.monotonic() > deadline:
                raise CloudError('%r not in the console log of %s: %r' % (
                    text, server_id, out[-2000:]))
            time.sleep(2)

    @staticmethod
    def host_of(server):
        return server['OS-EXT-SRV-ATTR:host']

    # -- engines -------------------------------------------------------------

    @staticmethod
    def containers(host, server_id=None):
        """The containers of ``host``'s engine (all, stopped too) that
        belong to an instance (its workload or its sandbox), or to
        ``server_id`` only."""
        api = engine(host)
        try:
            found = []
            for c in api.get('/containers/json',
                             params={'all': 1}).json():
                labels = c.get('Labels') or {}
                owner = labels.get(INSTANCE_LABEL) or labels.get(
                    SANDBOX_LABEL)
                if owner and (server_id is None or owner == server_id):
                    found.append(c)
            return found
        finally:
            api.close()

    def hosts_holding(self, server_id):
        return [h for h in COMPUTES if self.containers(h, server_id)]

    @staticmethod
    def workload(host, server_id):
        """The one workload container of ``server_id`` on ``host``."""
        found = [c for c in Cloud.containers(host, server_id)
                 if (c.get('Labels') or {}).get(INSTANCE_LABEL) == server_id]
        if len(found) != 1:
            raise CloudError('%d workload containers of %s on %s' % (
                len(found), server_id, host))
        return found[0]

    @staticmethod
    def inspect(host, container_id):
        api = engine(host)
        try:
            return api.get('/containers/%s/json' % container_id).json()
        finally:
            api.close()

    @staticmethod
    def events(host, since, until):
        """The engine's container and image events between two times."""
        api = engine(host)
        try:
            reply = api.get('/events', params={
                'since': str(since), 'until': str(until)}, timeout=30)
            return [e for e in engine_fixtures.json_lines(reply.text)
                    if e.get('Type') in ('container', 'image')]
        finally:
            api.close()

    @staticmethod
    def exec(host, container_id, cmd):
        api = engine(host)
        try:
            return api.exec(container_id, cmd)
        finally:
            api.close()


# -- the cloud's processes, as the kernel sees them -------------------------

def _stat(pid):
    """(ppid, pgrp, session, starttime) of ``pid``, or None when it is
    gone or a zombie. The command may hold spaces and parentheses: the
    fields start after the last ')'."""
    try:
        with open('/proc/%s/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == 'Z':
        return None
    return int(fields[1]), int(fields[2]), int(fields[3]), fields[19]


def _all_stats():
    stats = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            stat = _stat(name)
            if stat:
                stats[int(name)] = stat
    return stats


def recorded_pids():
    """{name: pid} of the processes ``up`` started and still run: the
    pid files "PID STARTTIME" in $STATE/run whose process lives with
    that start time."""
    run = os.path.join(STATE, 'run')
    found = {}
    for name in sorted(os.listdir(run)):
        if not name.endswith('.pid'):
            continue
        with open(os.path.join(run, name)) as f:
            pid, _, started = f.read().strip().partition(' ')
        stat = _stat(pid)
        if stat and stat[3] == started:
            found[name[:-len('.pid')]] = int(pid)
    return found


def cloud_pids():
    """Every process of the cloud: the process groups and sessions of
    the recorded processes, and all their descendants."""
    stats = _all_stats()
    leaders = set(recorded_pids().values())
    pids = {pid for pid, (_, pgrp, sid, _) in stats.items()
            if pgrp in leaders or sid in leaders}
    grown = True
    while grown:
        more = {pid for pid, (ppid, _, _, _) in stats.items()
                if ppid in pids} - pids
        pids |= more
        grown = bool(more)
    return pids


def _hex_address(text, family):
    """'0100007F:0CEA' of /proc/net/tcp as ('127.0.0.1', 3306)."""
    addr, port = text.split(':')
    raw = bytes.fromhex(addr)
    # The kernel prints each 32-bit word in host (little-endian) order.
    raw = b''.join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, raw), int(port, 16)


def tcp_listeners(pids):
    """[(pid, address, port)] of every listening TCP socket the processes
    ``pids`` hold in the host's network namespace (an instance's own
    namespace is the tenant's)."""
    host_netns = os.readlink('/proc/self/ns/net')
    found = []
    for pid in sorted(pids):
        try:
            if os.readlink('/proc/%d/ns/net' % pid) != host_netns:
                continue
            inodes = set()
            for fd in os.listdir('/proc/%d/fd' % pid):
                target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
                if target.startswith('socket:['):
                    inodes.add(target[len('socket:['):-1])
        except OSError:
            continue  # gone meanwhile
        for table, family in (('tcp', socket.AF_INET),
                              ('tcp6', socket.AF_INET6)):
            with open('/proc/%d/net/%s' % (pid, table)) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == '0A' and fields[9] in inodes:
                        found.append((pid,) + _hex_address(fields[1],
                                                           family))
    return found
