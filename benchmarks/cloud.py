"""From ``server create`` to ACTIVE, at the API of tools/cloud.sh's cloud.

What a user of the two-host cloud waits for, timed with openstacksdk
polling every 0.1 s, against the same containers made raw (a sandbox and
a busybox workload joined to it, through each host's Engine API) on the
same engines in the same run, in turns:

- one server at a time: p50 and p99 from the create call's answer to
  ACTIVE (targets 1.5 s and 2.5 s);
- N at once (20 and 50 by default): from the first create call to the
  last server ACTIVE (targets 10 s and 25 s), the create calls' p50, the
  servers per host, errors;
- the delete of the largest batch until every server is gone (target
  10 s);
- cold migrations of a server one after the other: from the admin's
  ``server migrate`` to VERIFY_RESIZE (running on the other host), and
  from the confirm to ACTIVE (``benchmarks/migration.py`` has the ratio
  against moving the same bytes raw);
- each one-at-a-time boot's milestones from the services' logs (claim,
  port bound by Neutron, port plugged, the OVS agent's pass, device up,
  network-vif-plugged at
  nova-api, spawned, ACTIVE seen), as offsets from the create's answer;
- the CPU seconds each of the cloud's services used in each phase (from
  /proc, by the session each runs in);
- a per-boot timeline of one server: every line of the services' logs
  that names the server or one of the requests that worked on it, as an
  offset from the create call.

Run as root with the cloud up (``tools/cloud.sh up``):
``python -m benchmarks.cloud [--one 8] [--many 20,50]``. It raises the
demo project's compute quotas to fit the largest batch and removes every
server it made.
"""

import argparse
import concurrent.futures
import datetime
import glob
import os
import re
import statistics
import subprocess
import sys
import time

import openstack
import requests_unixsocket

from benchmarks import common
from nova_docker import sandbox_image

STATE = os.environ.get('NOVA_DOCKER_CLOUD_STATE', '/var/lib/nova-docker-cloud')
COMPUTES = ('compute1', 'compute2')
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSYBOX_TAR = os.path.join(REPO, 'tools', 'cloud', 'busybox_tar.py')
IMAGE_NAME = 'benchmark-busybox'
FLAVOR = 'm1.tiny'
NETWORK = 'private'
POLL = 0.1
PREFIX = 'bench-'
COMMAND = ['sh', '-c', 'echo up; exec sleep 3600']


def connect(cloud):
    os.environ['OS_CLIENT_CONFIG_FILE'] = os.path.join(STATE, 'clouds.yaml')
    return openstack.connect(cloud=cloud)


def percentile(samples, pct):
    ordered = sorted(samples)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


# -- the cloud's side --------------------------------------------------------

class Cloud:
    """The demo project's servers, made and watched through the API."""

    def __init__(self):
        self.demo = connect('nova-docker')
        self.admin = connect('nova-docker-admin')
        self.image = self._image()
        self.flavor = self.demo.compute.find_flavor(FLAVOR,
                                                    ignore_missing=False)
        self.network = self.demo.network.find_network(NETWORK,
                                                      ignore_missing=False)

    def _image(self):
        image = self.demo.image.find_image(IMAGE_NAME)
        if image is not None:
            return image
        path = '/tmp/%s.tar' % common.unique('benchmark-busybox')
        try:
            subprocess.run([sys.executable, BUSYBOX_TAR, path], check=True)
            return self.demo.image.create_image(
                IMAGE_NAME, filename=path, container_format='docker',
                disk_format='raw', wait=True)
        finally:
            os.unlink(path)

    def fit(self, count):
        """Quotas that let ``count`` more servers in (the defaults hold
        ten)."""
        project = self.demo.current_project_id
        self.admin.set_compute_quotas(project, instances=-1, cores=-1,
                                      ram=-1)
        self.admin.network.update_quota(project, ports=max(100, count * 2))

    def create(self, name, conn=None):
        conn = conn or self.demo
        return conn.compute.create_server(
            name=name, image_id=self.image.id, flavor_id=self.flavor.id,
            networks=[{'uuid': self.network.id}],
            metadata={'os_command_line': ' '.join(COMMAND)})

    def statuses(self, prefix):
        return {s.id: s.status
                for s in self.demo.compute.servers(name='^' + prefix)}

    def ids(self, prefix, status=None):
        """The ids of the servers named ``prefix``*, in ``status`` if
        given: the short listing, which the poll loops use. The detailed
        one builds every server's view (its security groups come from
        neutron-api) and, at 10 a second, cost nova-api and neutron-api
        more CPU than the boots it watched."""
        query = {'name': '^' + prefix}
        if status:
            query['status'] = status
        return [s.id for s in self.demo.compute.servers(details=False,
                                                        **query)]

    def hosts(self, ids):
        counts = {}
        for server_id in ids:
            server = self.admin.compute.get_server(server_id)
            counts[server.compute_host] = counts.get(server.compute_host,
                                                     0) + 1
        return counts

    def wait_active(self, prefix, count, timeout=600):
        """Poll the listing until ``count`` servers are ACTIVE; the
        seconds it took and the ids of any in ERROR."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            active = self.ids(prefix, 'ACTIVE')
            errors = self.ids(prefix, 'ERROR')
            if len(active) + len(errors) >= count:
                return time.monotonic(), errors
            time.sleep(POLL)
        raise RuntimeError('%s*: not all %d ACTIVE after %ds: %s' % (
            prefix, count, timeout, self.statuses(prefix)))

    def delete_all(self, prefix, timeout=600):
        ids = self.ids(prefix)
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(self.demo.compute.delete_server, ids))
        while self.ids(prefix):
            if time.monotonic() - start > timeout:
                raise RuntimeError('%s*: still there after %ds' % (prefix,
                                                                  timeout))
            time.sleep(POLL)
        return time.monotonic() - start


def one_at_a_time(cloud, count):
    """Seconds from each create call's answer to ACTIVE, one server at a
    time; every boot as (server id, wall-clock times of the create call,
    its answer and ACTIVE seen)."""
    samples = []
    boots = []
    for _ in range(count):
        prefix = common.unique(PREFIX + 'one')
        called = time.time()
        server = cloud.create(prefix)
        answered = time.monotonic()
        answered_wall = time.time()
        while True:
            status = cloud.demo.compute.get_server(server.id).status
            if status in ('ACTIVE', 'ERROR'):
                break
            time.sleep(POLL)
        if status == 'ERROR':
            raise RuntimeError('server %s went to ERROR' % server.id)
        samples.append(time.monotonic() - answered)
        boots.append((server.id, called, answered_wall, time.time()))
        cloud.delete_all(prefix)
    return samples, boots


def at_once(cloud, count):
    """From the first create call to the last server ACTIVE, with
    ``count`` create calls made together (a connection each, made before
    the clock starts)."""
    prefix = common.unique(PREFIX + 'many')
    conns = [connect('nova-docker') for _ in range(min(count, 10))]
    for conn in conns:
        conn.compute.get('/')  # authenticate before the clock starts
    calls = []

    def create(i):
        began = time.monotonic()
        cloud.create('%s-%02d' % (prefix, i), conns[i % len(conns)])
        calls.append(time.monotonic() - began)

    cpu = cpu_by_service()
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(conns)) as pool:
        list(pool.map(create, range(count)))
    done, errors = cloud.wait_active(prefix, count)
    cpu = cpu_line(cpu, cpu_by_service())
    ids = cloud.ids(prefix)
    return {'all_active': done - start, 'calls_p50': statistics.median(calls),
            'errors': len(errors), 'hosts': cloud.hosts(ids),
            'prefix': prefix, 'cpu': cpu}


def wait_status(conn, server_id, want, timeout=600):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        status = conn.compute.get_server(server_id).status
        if status == want:
            return time.monotonic()
        if status == 'ERROR':
            raise RuntimeError('server %s went to ERROR' % server_id)
        time.sleep(POLL)
    raise RuntimeError('server %s: not %s after %ds' % (server_id, want,
                                                          timeout))


def cold_migration(cloud, count):
    """Seconds from the admin's ``server migrate`` to VERIFY_RESIZE (the
    server running on the other host) and from the confirm to ACTIVE,
    for ``count`` servers one after the other."""
    moves, confirms = [], []
    for _ in range(count):
        prefix = common.unique(PREFIX + 'move')
        server = cloud.create(prefix)
        wait_status(cloud.demo, server.id, 'ACTIVE')
        before = cloud.admin.compute.get_server(server.id).compute_host
        start = time.monotonic()
        cloud.admin.compute.migrate_server(server.id)
        moves.append(wait_status(cloud.demo, server.id, 'VERIFY_RESIZE') -
                     start)
        start = time.monotonic()
        cloud.admin.compute.confirm_server_resize(server.id)
        confirms.append(wait_status(cloud.demo, server.id, 'ACTIVE') -
                        start)
        after = cloud.admin.compute.get_server(server.id).compute_host
        if after == before:
            raise RuntimeError('server %s stayed on %s' % (server.id, after))
        cloud.delete_all(prefix)
    return moves, confirms


# -- the floor: the same containers, raw -------------------------------------

class RawEngine:
    """A sandbox and a busybox workload joined to it, made and started
    through one compute host's Engine API, as the driver makes them."""

    def __init__(self, host, image_id):
        sock = os.path.join(STATE, 'data', host, 'docker', 'docker.sock')
        self.url = 'http+unix://%s' % sock.replace('/', '%2F')
        self.session = requests_unixsocket.Session()
        arch = self._get('/info')['Architecture']
        self.sandbox = sandbox_image.image_name(arch)
        self.workload = 'glance/%s:latest' % image_id
        for name in (self.sandbox, self.workload):
            self._get('/images/%s/json' % name)

    def _get(self, path):
        reply = self.session.get(self.url + path)
        reply.raise_for_status()
        return reply.json()

    def _post(self, path, body=None):
        reply = self.session.post(self.url + path, json=body)
        reply.raise_for_status()
        return reply.json() if reply.content else None

    def pair(self):
        sandbox = self._post('/containers/create', {
            'Image': self.sandbox, 'HostConfig': {'NetworkMode': 'none'},
            'Labels': {'benchmark': 'cloud'}})['Id']
        self._post('/containers/%s/start' % sandbox)
        workload = self._post('/containers/create', {
            'Image': self.workload, 'Cmd': COMMAND,
            'Labels': {'benchmark': 'cloud'},
            'HostConfig': {'NetworkMode': 'container:' + sandbox,
                           'Memory': 512 * 1024 * 1024}})['Id']
        self._post('/containers/%s/start' % workload)
        return workload, sandbox

    def remove(self, ids):
        for container in ids:
            self.session.delete(self.url + '/containers/%s?force=1' %
                                container).raise_for_status()


def raw_one(engines, count):
    samples = []
    for i in range(count):
        engine = engines[i % len(engines)]
        start = time.monotonic()
        made = engine.pair()
        samples.append(time.monotonic() - start)
        engine.remove(made)
    return samples


def raw_at_once(engines, count):
    made = []

    def pair(i):
        engine = engines[i % len(engines)]
        made.append((engine, engine.pair()))

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        list(pool.map(pair, range(count)))
    took = time.monotonic() - start
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda m: m[0].remove(m[1]), made))
    return took, time.monotonic() - start


# -- where the CPU went -------------------------------------------------------

_TICK = os.sysconf('SC_CLK_TCK')


def cpu_by_service():
    """CPU seconds used so far by each of the cloud's processes, with
    their children (each runs in a session of its own: $STATE/run/NAME.pid
    holds its leader's pid)."""
    leaders = {}
    for path in glob.glob(os.path.join(STATE, 'run', '*.pid')):
        with open(path) as f:
            leaders[int(f.read().split()[0])] = os.path.basename(path)[:-4]
    used = {}
    for path in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(path) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        name = leaders.get(int(fields[3]))  # the session's leader
        if name:
            ticks = sum(int(v) for v in fields[11:15])  # u, s, cu, cs
            used[name] = used.get(name, 0) + ticks / _TICK
    return used


def cpu_line(before, after, width=6):
    """The services that used the most CPU between two readings."""
    spent = sorted(((after.get(k, 0) - before.get(k, 0), k) for k in after),
                   reverse=True)
    total = sum(s for s, _ in spent)
    return 'CPU %.1f s: %s' % (total, ', '.join(
        '%s %.1f' % (k, s) for s, k in spent[:width]))


# -- the timeline ------------------------------------------------------------

# Each boot's milestones, from the services' logs: (name, service, the
# text that marks it, what names the boot in it: 'server' or 'port').
MILESTONES = (
    ('claim', 'nova-compute', 'Claim successful', 'server'),
    # Neutron has bound the port to the host: the driver's spawn, which
    # waited for that, goes on.
    ('bound', 'neutron-api', "'name': 'network-changed'", 'server'),
    ('plugged', 'nova-compute', 'Successfully plugged vif', 'port'),
    ('agent', 'neutron-openvswitch-agent', ' updated. Details', 'port'),
    ('up', 'neutron-openvswitch-agent', 'Configuration for devices up',
     'port'),
    ('event', 'nova-api', 'Creating event network-vif-plugged', 'port'),
    ('spawned', 'nova-compute', 'seconds to spawn', 'server'),
)
_EVENT = re.compile(r'network-vif-plugged:([0-9a-f-]{36}) for instance '
                    r'([0-9a-f-]{36})')


def _log_lines():
    lines = []
    for path in glob.glob(os.path.join(STATE, 'log', '*.log')):
        with open(path, errors='replace') as f:
            lines.extend((os.path.basename(path)[:-4], line.rstrip())
                         for line in f)
    return lines


def milestones(boots):
    """Where each one-at-a-time boot's time went: seconds from the create
    call's answer to each milestone (the first line of it after the
    call), and to ACTIVE seen by the poll."""
    lines = [(service, _stamp(line), line)
             for service, line in _log_lines()]
    lines = [entry for entry in lines if entry[1] is not None]
    ports = {}
    for _service, _when, line in lines:
        match = _EVENT.search(line)
        if match:
            ports.setdefault(match.group(2), match.group(1))
    print('\nEach one-at-a-time boot (seconds from the create call\'s '
          'answer; "-": not in the logs)')
    print('  ' + ' '.join('%8s' % name for name, *_ in MILESTONES) +
          '   ACTIVE')
    for server_id, called, answered, active in boots:
        port = ports.get(server_id)
        row = []
        for _name, service, text, key in MILESTONES:
            needle = server_id if key == 'server' else port
            found = [stamp for s, stamp, line in lines
                     if s.startswith(service) and called - 0.05 < stamp and
                     text in line and needle and needle in line]
            row.append('%8.2f' % (min(found) - answered) if found else
                       '%8s' % '-')
        print('  ' + ' '.join(row) + '   %6.2f' % (active - answered))

_STAMP = re.compile(r'^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?)')
_REQUEST = re.compile(r'req-[0-9a-f-]{36}')


def _stamp(line):
    match = _STAMP.match(line)
    if not match:
        return None
    text = match.group(1).replace(',', '.').replace('T', ' ')
    return datetime.datetime.fromisoformat(text).timestamp()


def timeline(server_id, called, active, width=110):
    """The services' log lines about one boot until it was seen ACTIVE,
    in time order: those naming the server, and those of the requests
    that did."""
    lines = _log_lines()
    # The requests that worked on the server beyond the API: the create
    # (its id travels to the conductor, scheduler and compute host) and
    # Neutron's events; not the benchmark's own polls.
    requests = {r for service, line in lines
                if server_id in line and service != 'nova-api'
                for r in _REQUEST.findall(line)}
    wanted = []
    for service, line in lines:
        stamp = _stamp(line)
        # From the call on (what came before is another server's), and
        # not the benchmark's own polls of the server.
        if stamp is None or not called - 0.05 < stamp < active + 0.5:
            continue
        if service == 'nova-api' and '"GET ' in line:
            continue
        # The OVS agent's passes carry one request id for its whole life,
        # and it passes five times a second: the milestones above say
        # which pass saw the port.
        if 'Agent rpc_loop - iteration' in line:
            continue
        if server_id in line or requests & set(_REQUEST.findall(line)):
            wanted.append((stamp - called, service, line))
    wanted.sort()
    print('\nTimeline of server %s (seconds from the create call; %d log '
          'lines)' % (server_id, len(wanted)))
    for offset, service, line in wanted:
        message = _REQUEST.sub('req', line.split(' ', 4)[-1])
        print('%7.3f  %-18s %s' % (offset, service, message[:width]))


def warm_up(cloud, most=4):
    """Boot servers one after the other, each kept until the last, until
    both hosts hold the image (the scheduler weighs the host with a
    server less); the raw floor's engines."""
    prefix = common.unique(PREFIX + 'warm')
    try:
        for i in range(most):
            cloud.create('%s-%d' % (prefix, i))
            cloud.wait_active(prefix, i + 1)
            try:
                return [RawEngine(host, cloud.image.id) for host in COMPUTES]
            except Exception as exc:
                print('warming up: %s; one more' % exc)
    finally:
        cloud.delete_all(prefix)
    raise RuntimeError('the image is not cached on both hosts after %d '
                       'boots' % most)


# -- the run -----------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--one', type=int, default=8,
                        help='servers booted one at a time (p50, p99)')
    parser.add_argument('--many', default='20,50',
                        help='comma-separated batch sizes booted at once')
    parser.add_argument('--migrations', type=int, default=3,
                        help='servers cold-migrated one after the other')
    parser.add_argument('--no-timeline', action='store_true')
    args = parser.parse_args(argv)
    batches = [int(n) for n in args.many.split(',') if n]

    cloud = Cloud()
    cloud.fit(max(batches + [1]))
    # The image cached on both hosts first: the targets are for a cached
    # image, and the raw floor needs it on both engines.
    engines = warm_up(cloud)

    rows = []
    cpu = cpu_by_service()
    ours, boots = one_at_a_time(cloud, args.one)
    details = ['one at a time (%d, deletes included): %s' % (
        args.one, cpu_line(cpu, cpu_by_service()))]
    floor = raw_one(engines, args.one)
    rows.append(('one at a time, p50 (target <= 1.5 s)',
                 statistics.median(ours), statistics.median(floor), 's',
                 '1.5 s'))
    rows.append(('one at a time, p99 (target <= 2.5 s)',
                 percentile(ours, 99), percentile(floor, 99), 's', '2.5 s'))
    deleted = None
    for count in batches:
        result = at_once(cloud, count)
        raw_made, raw_removed = raw_at_once(engines, count)
        target = {20: '10 s', 50: '25 s'}.get(count, '-')
        rows.append(('%d at once, all ACTIVE' % count, result['all_active'],
                     raw_made, 's', target))
        details.append('%d at once: create calls p50 %.2f s, errors %d, '
                       'per host %s' % (count, result['calls_p50'],
                                        result['errors'], result['hosts']))
        details.append('%d at once, to the last ACTIVE: %s' % (
            count, result['cpu']))
        cpu = cpu_by_service()
        took = cloud.delete_all(result['prefix'])
        details.append('delete of %d: %s' % (
            count, cpu_line(cpu, cpu_by_service())))
        if count == max(batches):
            deleted = (count, took, raw_removed)
    if deleted:
        rows.append(('delete of %d, all gone' % deleted[0], deleted[1],
                     deleted[2], 's', '10 s'))
    common.print_table('Boots at the API of the two-host cloud (baseline: '
                       'the same containers made raw on the same engines)',
                       rows)
    if args.migrations:
        moves, confirms = cold_migration(cloud, args.migrations)
        details.append('cold migration (%d): migrate to VERIFY_RESIZE p50 '
                       '%.2f s, confirm to ACTIVE p50 %.2f s' % (
                           len(moves), statistics.median(moves),
                           statistics.median(confirms)))
    for line in details:
        print(line)
    if not args.no_timeline and boots:
        milestones(boots)
        server_id, called, _answered, active = boots[-1]
        timeline(server_id, called, active)


if __name__ == '__main__':
    main()
