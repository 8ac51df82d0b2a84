"""The cloud's settings that a boot at the API waits on (issue 25;
benchmarks/README.rst has the figures): they are at work in the running
cloud, not only written in its configuration."""

import configparser
import datetime
import http.client
import os
import re
import statistics
import subprocess
import time
import urllib.request

import yaml

from tests.cloud import cloud as cloud_mod

LOG = os.path.join(cloud_mod.STATE, 'log')
# tools/cloud/common.sh
PLACEMENT_PORT = 8778
PASS = re.compile(r'^(\S+ \S+) .*Agent rpc_loop - iteration:\d+ started')


def _agent_passes(host):
    """The times of the OVS agent's loop passes, from its log."""
    with open(os.path.join(LOG, 'neutron-openvswitch-agent@%s.log' %
                           host), errors='replace') as f:
        return [datetime.datetime.fromisoformat(m.group(1)).timestamp()
                for m in map(PASS.match, f) if m]


def test_the_ovs_agents_look_for_new_ports_several_times_a_second(cloud):
    # A boot waits for the agent's next pass after its port is plugged:
    # neutron's least polling_interval (1 s) costs half a second a boot
    # on average.
    for host in cloud_mod.COMPUTES:
        deadline = time.monotonic() + 30
        while len(_agent_passes(host)) < 21 and time.monotonic() < deadline:
            time.sleep(1)
        passes = _agent_passes(host)[-21:]
        gaps = [b - a for a, b in zip(passes, passes[1:], strict=False)]
        assert gaps and statistics.median(gaps) < 0.5, (
            'the OVS agent of %s passes every %.2f s (median of %d): '
            'tools/cloud/ovs_agent.py should make it 0.2 s' % (
                host, statistics.median(gaps) if gaps else -1, len(gaps)))


def _workers(leader):
    """The gunicorn workers under the master ``leader``."""
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                command = f.read()
        except (OSError, IndexError):
            continue
        if ppid == leader and b'worker' in command:
            found.append(int(name))
    return found


def test_nova_api_and_neutron_api_serve_with_two_workers(cloud):
    # Every create goes through both; one Python process holds one core.
    pids = cloud_mod.recorded_pids()
    for name in ('nova-api', 'neutron-api'):
        assert len(_workers(pids[name])) == 2, name


# -- what a boot costs the services in CPU (issue 25, the profile) -----------

def _dhcp_warnings():
    with open(os.path.join(LOG, 'neutron-api.log'), errors='replace') as f:
        return sum('No more DHCP agents' in line or
                   'Unable to schedule network' in line for line in f)


def test_ports_are_not_offered_to_dhcp_agents_the_cloud_has_not(cloud):
    before = _dhcp_warnings()
    port = cloud.demo.json('port', 'create', '--network', 'private',
                           'tuning-dhcp-check')
    try:
        cloud.demo.run('port', 'set', '--name', 'tuning-dhcp-check2',
                       port['id'])
    finally:
        cloud.demo.run('port', 'delete', port['id'])
    assert _dhcp_warnings() == before, (
        'neutron-api tried to schedule the network to a DHCP agent: '
        'dhcp_agent_notification should be off')


def _selects():
    sock = os.path.join(cloud_mod.STATE, 'data', 'mysql-run', 'mysql.sock')
    out = subprocess.run(
        ['mariadb', '--no-defaults', '-S', sock, '-u', 'root', '-N', '-e',
         "SHOW GLOBAL STATUS LIKE 'Com_select'"],
        check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1])


def _keystone_url():
    with open(os.path.join(cloud_mod.STATE, 'clouds.yaml')) as f:
        clouds = yaml.safe_load(f)['clouds']
    return clouds['nova-docker-admin']['auth']['auth_url'].rstrip('/')


def test_keystone_validates_a_token_again_from_its_cache(cloud):
    # Each API worker's keystonemiddleware validates a token once per
    # cached copy (one per concurrent request); keystone answers a token
    # it has validated from its cache, not from MariaDB.
    admin = cloud.admin.json('token', 'issue')['id']
    subject = cloud.demo.json('token', 'issue')['id']
    url = _keystone_url()
    if not url.endswith('/v3'):
        url += '/v3'

    def validate():
        request = urllib.request.Request(
            url + '/auth/tokens',
            headers={'X-Auth-Token': admin, 'X-Subject-Token': subject})
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert reply.status == 200

    validate()
    count = 40
    best = None
    for _ in range(3):  # the other services query MariaDB meanwhile
        before = _selects()
        for _ in range(count):
            validate()
        used = _selects() - before
        best = used if best is None else min(best, used)
        if best < count:
            break
    assert best < count, (
        '%d validations of one token took %d SELECTs in MariaDB: keystone '
        'should answer them from its cache' % (count, best))


# -- connections the services keep (issue 25: a batch lost a server) --------

def test_an_api_keeps_an_idle_connection_open_past_two_seconds(cloud):
    # gunicorn's default keep-alive (2 s) closes a pooled connection
    # between two requests of a client that pauses: each reuse then costs
    # a reset and a retry (or, where nothing retries, a failed request).
    connection = http.client.HTTPConnection('127.0.0.1', PLACEMENT_PORT,
                                            timeout=30)
    try:
        for _ in range(2):
            connection.request('GET', '/')
            reply = connection.getresponse()
            reply.read()
            assert reply.status == 200
            time.sleep(3)
    finally:
        connection.close()


def test_nova_tries_placement_and_neutron_again_on_a_failed_connection(
        cloud):
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read(os.path.join(cloud_mod.STATE, 'etc', 'nova', 'nova.conf'))
    for section in ('placement', 'neutron'):
        assert conf.getint(section, 'connect_retries') >= 3, section


def _established_tcp_inodes():
    inodes = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if fields[3] == '01':  # ESTABLISHED
                    inodes.add(fields[9])
    return inodes


def _process_tree():
    """{pid: (ppid, session)} of every process."""
    tree = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields
        # are what follows its last ')'.
        fields = stat.rsplit(')', 1)[1].split()
        tree[int(name)] = (int(fields[1]), int(fields[3]))
    return tree


def _socket_holders(pids):
    """{socket inode: {pid, ...}} of the sockets ``pids`` hold open."""
    holders = {}
    for pid in pids:
        try:
            fds = os.listdir('/proc/%d/fd' % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if target.startswith('socket:['):
                holders.setdefault(target[8:-1], set()).add(pid)
    return holders


def _lineage(pid, tree):
    seen = []
    while pid in tree and pid not in seen:
        seen.append(pid)
        pid = tree[pid][0]
    return seen


def test_no_two_workers_of_a_service_share_one_connection(cloud):
    # A service that connects before it forks its workers hands each of
    # them the same socket: their requests interleave on it and each reads
    # the other's answers. nova-scheduler did so with placement (two
    # workers): KeyError 'allocation_requests' in a batch of creates, or
    # "Connection reset by peer" once the API had closed the socket. A
    # master that only holds its children's socket is harmless; two
    # processes neither of which is the other's ancestor are not.
    tree = _process_tree()
    sessions = {pid: name for name, pid in cloud_mod.recorded_pids().items()}
    ours = [pid for pid, (_, session) in tree.items()
            if session in sessions]
    established = _established_tcp_inodes()
    shared = []
    for inode, pids in _socket_holders(ours).items():
        if inode not in established or len(pids) < 2:
            continue
        pids = sorted(pids)
        for i, a in enumerate(pids):
            for b in pids[i + 1:]:
                if a not in _lineage(b, tree) and b not in _lineage(a, tree):
                    shared.append('%s: processes %d and %d' % (
                        sessions[tree[a][1]], a, b))
    assert not shared, (
        'TCP connections shared by processes neither of which is the '
        'other\'s ancestor: %s; the service '
        'should run one worker or connect after it forks' % '; '.join(
            sorted(set(shared))))

