"""Density: many instances on one compute host, nova-compute's periodic
tasks timed against the same engine calls made raw.

On a private engine of its own (tests/fixtures/private_engine.py: its own
socket, data root and exec root; never the host's engine), the run makes
a busybox image cached as the driver names a Glance image, then spawns
instances through ``DockerDriver`` (no port, flavor m1.tiny) in stages
(``--stages``, default 50 and 100, then ``--count``). At each stage it
times, as nova-compute 34 calls them:

* ``_sync_power_states``: ``get_num_instances`` then ``get_info`` of
  every instance in a pool of ``[DEFAULT] sync_power_state_pool_size``
  (5) threads;
* ``update_available_resource``: ``get_available_nodes``,
  ``get_available_resource`` and ``update_provider_tree``;
* ``_run_image_cache_manager_pass``: ``manage_image_cache`` with every
  instance;
* ``_cleanup_running_deleted_instances``: ``list_instance_uuids``;

each against a floor: the engine calls that answer it, made raw through
the engine API in the same run (in turns, medians). It reports the host
memory per instance (RSS and PSS of dockerd, containerd, the shims and the
containers' processes, from /proc, and the drop of MemAvailable), and the
benchmark process's own RSS (it stands for nova-compute) before and after
the periodic tasks ran ``--rounds`` times more.

Memory safety: before each spawn the host must keep ``--min-available``
GB (MemAvailable); after the first stage the cost per instance is
extrapolated, and the count is cut to what fits. What was reached is
printed. Everything is destroyed and the engine torn down at the end, on
failure and on Ctrl-C too.

Run as root: ``python -m benchmarks.density [--count 500]``.
"""

import argparse
import concurrent.futures
import gc
import json
import os
import signal
import sys
import threading
import time
import uuid

from nova.compute import provider_tree

from benchmarks import common
from nova_docker import docker
from nova_docker.docker import connection
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from nova_docker import labels
from nova_docker import workload_states
from tests.fixtures import nova_objects
from tests.fixtures import private_engine as private_fixtures

COUNT = 500
STAGES = (50, 100)
ROUNDS = 30
TIMED = 9
MIN_AVAILABLE_GB = 6.0
HOST = 'density'
# nova's [DEFAULT] sync_power_state_pool_size.
SYNC_POOL = 5
# Spawns at once: the engine serialises much of a create anyway.
SPAWN_POOL = 4


# -- memory, from /proc ------------------------------------------------------

def mem_available_kb():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1])
    raise RuntimeError('no MemAvailable in /proc/meminfo')


def _proc_kb(pid, name, key):
    """The kB figure of ``key`` in /proc/<pid>/<name>; 0 once gone."""
    try:
        with open('/proc/%d/%s' % (pid, name)) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _status_kb(pid, key):
    return _proc_kb(pid, 'status', key)


def _pss_kb(pid):
    return _proc_kb(pid, 'smaps_rollup', 'Pss')


def _comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


def group_of(comm):
    if comm == 'dockerd':
        return 'dockerd'
    if comm.startswith('containerd-shim') or comm.startswith('containerd-s'):
        return 'shims'
    if comm == 'containerd':
        return 'containerd'
    return 'containers'


def engine_memory(engine):
    """{group: (processes, RSS kB, PSS kB)} of the engine's processes."""
    groups = {}
    for pid in set(engine.pids()):
        group = groups.setdefault(group_of(_comm(pid)), [0, 0, 0])
        group[0] += 1
        group[1] += _status_kb(pid, 'VmRSS')
        group[2] += _pss_kb(pid)
    return {k: tuple(v) for k, v in groups.items()}


def own_rss_kb():
    return _status_kb(os.getpid(), 'VmRSS')


# -- the engine calls, counted and raw ---------------------------------------

class RequestCounter:
    """Counts the HTTP requests a client's session sends (any thread)."""

    def __init__(self, client):
        self.count = 0
        self._lock = threading.Lock()
        real = client._session.request

        def counting(*args, **kwargs):
            with self._lock:
                self.count += 1
            return real(*args, **kwargs)
        client._session.request = counting

    def during(self, fn):
        before = self.count
        fn()
        return self.count - before


class Raw:
    """The same engine API calls made raw: the same pooled transport, no
    driver in between."""

    def __init__(self, engine_url, api_version):
        self.session = connection.make_session(None)
        self.base = '%s/v%s' % (connection.parse_base_url(engine_url, None),
                                api_version)

    def get(self, path, **params):
        reply = self.session.get(self.base + path, params=params)
        reply.raise_for_status()
        return reply.json()

    def listing(self, filters=None):
        params = {'all': 1}
        if filters:
            params['filters'] = json.dumps(filters)
        return self.get('/containers/json', **params)

    def sync_floor(self):
        """The one listing of the host's workloads that carries every
        instance's state."""
        self.listing(labels.workload_filter(HOST))

    def inspect_each(self, names):
        """What get_info cost done one by one (before the listing): a
        labelled listing, then an inspect of every workload in a pool of
        nova's size."""
        self.listing(labels.instance_label_filter(host=HOST))
        with concurrent.futures.ThreadPoolExecutor(SYNC_POOL) as pool:
            list(pool.map(lambda n: self.get('/containers/%s/json' % n),
                          names))

    def listing_floor(self):
        """The listing of every container of the host, sandboxes too."""
        self.listing(labels.host_label_filter(HOST))

    def resources_floor(self):
        """get_available_resource and update_provider_tree: /info each."""
        self.get('/info')
        self.get('/info')

    def image_cache_floor(self, image_id):
        """The image listing and the re-tag of the image in use."""
        self.get('/images/json')
        self.session.post(self.base + '/images/glance/%s:latest/tag'
                          % image_id, params={
                              'repo': 'glance/' + image_id,
                              'tag': 'latest'}).raise_for_status()

    def every_container(self):
        """What the image cache pass listed before: every container."""
        self.listing()


# -- the periodic tasks, as nova-compute 34 calls the driver ------------------

def sync_power_states(drv, instances, later):
    later()
    drv.get_num_instances()
    with concurrent.futures.ThreadPoolExecutor(SYNC_POOL) as pool:
        states = list(pool.map(lambda i: drv.get_info(i).state, instances))
    return states


def update_available_resource(drv):
    for node in drv.get_available_nodes():
        drv.get_available_resource(node)
        tree = provider_tree.ProviderTree()
        tree.new_root(node, str(uuid.uuid4()))
        drv.update_provider_tree(tree, node)


def image_cache_pass(drv, instances):
    drv.manage_image_cache(None, instances)


def running_deleted(drv):
    drv.list_instance_uuids()


# -- the run -----------------------------------------------------------------

class Density:
    """One run: a private engine, a driver on it, its instances."""

    def __init__(self, min_available_gb, timed=TIMED):
        self.timed = timed
        self.min_available_kb = int(min_available_gb * 1024 * 1024)
        self.engine = private_fixtures.PrivateEngine()
        self.instances = []
        self.drv = None
        self.stopped_by_memory = None
        self._skew = 0.0

    def clock(self):
        """The host's clock, which :meth:`later` moves on."""
        return time.monotonic() + self._skew

    def later(self):
        """As between two passes of a periodic task (nova's are minutes
        apart): no listing kept from the last pass answers this one."""
        self._skew += workload_states.STATE_CACHE_SECONDS + 1

    def start(self):
        self.engine.start()
        driver_mod.CONF.set_override('host_url', self.engine.url, 'docker')
        self.client = client = docker.DockerClient(self.engine.url)
        self.host = host_mod.Host(client, clock=self.clock)
        self.drv = driver_mod.DockerDriver(virtapi=None, host=self.host)
        self.drv.init_host(HOST)
        self.meta, _ref = private_fixtures.load_busybox(
            self.engine, 'sleep 2147483647')
        # The sandbox image, made once before any timing.
        self.host.sandbox_image()
        self.counter = RequestCounter(client)
        self.raw = Raw(self.engine.url, client.api_version)
        self.empty = (mem_available_kb(), engine_memory(self.engine))

    def fits(self):
        return mem_available_kb() > self.min_available_kb

    def grow(self, count):
        """Spawn until ``count`` instances run, or memory runs short."""
        def one(_):
            if not self.fits():
                return None
            inst = nova_objects.instance(
                image_ref=self.meta.id, flavor_obj=nova_objects.flavor(
                    memory_mb=512, vcpus=1))
            self.drv.spawn(None, inst, self.meta, [], None, {})
            return inst
        wanted = count - len(self.instances)
        pool = concurrent.futures.ThreadPoolExecutor(SPAWN_POOL)
        try:
            for inst in pool.map(one, range(wanted)):
                if inst is not None:
                    self.instances.append(inst)
        finally:
            # Interrupted: no new spawn; what the running ones make is
            # found by close()'s listing.
            pool.shutdown(wait=True, cancel_futures=True)
        if len(self.instances) < count:
            self.stopped_by_memory = len(self.instances)

    def names(self):
        return [labels.container_name(i) for i in self.instances]

    def tasks(self):
        """(name, ours, floor) of each periodic task."""
        drv, insts = self.drv, self.instances
        return [
            ('_sync_power_states',
             lambda: sync_power_states(drv, insts, self.later),
             self.raw.sync_floor),
            ('update_available_resource',
             lambda: update_available_resource(drv),
             self.raw.resources_floor),
            ('_run_image_cache_manager_pass',
             lambda: image_cache_pass(drv, insts),
             lambda: self.raw.image_cache_floor(self.meta.id)),
            ('list_instance_uuids',
             lambda: running_deleted(drv), self.raw.listing_floor),
        ]

    def measure(self):
        """Rows for print_table, the engine requests of each task, and
        rows of what the calls the driver no longer makes cost raw."""
        rows, requests = [], {}
        for name, ours, floor in self.tasks():
            requests[name] = self.counter.during(ours)  # also a warm-up
            ours_t, floor_t = common.interleaved(ours, floor, self.timed)
            rows.append((name, ours_t, floor_t, 's', '< 1 s'))
        names = self.names()
        each, listing = common.interleaved(
            lambda: self.raw.inspect_each(names), self.raw.sync_floor,
            self.timed)
        every, none = common.interleaved(
            self.raw.every_container,
            lambda: self.raw.image_cache_floor(self.meta.id), self.timed)
        removed = [
            ('power states: an inspect each vs one listing', each, listing,
             's', '-'),
            ('image cache: + every container listed vs not', every + none,
             none, 's', '-'),
        ]
        return rows, requests, removed

    def memory(self):
        """Per instance (kB): {group: (RSS, PSS)} and MemAvailable's drop."""
        n = len(self.instances)
        now = engine_memory(self.engine)
        empty = self.empty[1]
        per = {}
        for group in sorted(set(now) | set(empty)):
            rss = now.get(group, (0, 0, 0))[1] - empty.get(group,
                                                           (0, 0, 0))[1]
            pss = now.get(group, (0, 0, 0))[2] - empty.get(group,
                                                           (0, 0, 0))[2]
            per[group] = (rss / n, pss / n, now.get(group, (0,))[0])
        dropped = (self.empty[0] - mem_available_kb()) / n
        return per, dropped

    def flatness(self, rounds):
        """The process's RSS (kB) and live objects before and after
        ``rounds`` more passes of every periodic task."""
        def one_round():
            for _name, ours, _floor in self.tasks():
                ours()
        one_round()
        gc.collect()
        before = (own_rss_kb(), len(gc.get_objects()))
        for _ in range(rounds):
            one_round()
        gc.collect()
        return before, (own_rss_kb(), len(gc.get_objects()))

    def cap(self, target):
        """``target``, or fewer if the instances made so far say the rest
        would leave less than the minimum available."""
        n = len(self.instances)
        if not n:
            return target
        per_kb = max((self.empty[0] - mem_available_kb()) / n, 1)
        room = (mem_available_kb() - self.min_available_kb) / per_kb
        return min(target, n + int(room * 0.9))

    def close(self):
        try:
            self._remove_all()
        finally:
            self.engine.teardown()

    def _remove_all(self):
        if self.drv is None or not self.engine.running:
            return
        # Through the driver, as nova deletes; what a failed spawn left
        # (a lone sandbox) by the engine's listing.
        with concurrent.futures.ThreadPoolExecutor(SPAWN_POOL) as pool:
            list(pool.map(lambda i: self.drv.destroy(None, i, None),
                          self.instances))
        for c in self.client.list_containers(all=True):
            self.client.remove_container(c['Id'], force=True)


def print_memory(n, per, dropped):
    print('\nHost memory per instance at N=%d (engine, containerd, shims, '
          'both containers), kB:' % n)
    print('  %-12s %10s %10s %10s' % ('group', 'RSS', 'PSS', 'processes'))
    for group, (rss, pss, procs) in per.items():
        print('  %-12s %10.0f %10.0f %10d' % (group, rss, pss, procs))
    print('  %-12s %10.0f %10.0f' % ('total', sum(v[0] for v in per.values()),
                                     sum(v[1] for v in per.values())))
    print('  MemAvailable dropped by %.0f kB per instance (kernel memory '
          'of cgroups, namespaces and mounts included)' % dropped)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=COUNT,
                        help='instances at the last stage (default '
                             '%(default)s)')
    parser.add_argument('--stages', default=','.join(map(str, STAGES)),
                        help='counts measured before --count (default '
                             '%(default)s)')
    parser.add_argument('--timed', type=int, default=TIMED,
                        help='timed passes of each task and its floor, in '
                             'turns (default %(default)s)')
    parser.add_argument('--rounds', type=int, default=ROUNDS,
                        help='passes of every task for the memory check')
    parser.add_argument('--min-available', type=float,
                        default=MIN_AVAILABLE_GB,
                        help='GB of MemAvailable the host must keep '
                             '(default %(default)s)')
    return parser.parse_args(argv)


def run(args, density):
    stages = sorted({int(s) for s in args.stages.split(',') if s} |
                    {args.count})
    stages = [s for s in stages if s <= args.count]
    for stage in stages:
        target = density.cap(stage)
        started = time.perf_counter()
        density.grow(target)
        n = len(density.instances)
        print('\n== N=%d instances (spawned in %.0f s; MemAvailable %.1f GB)'
              % (n, time.perf_counter() - started,
                 mem_available_kb() / 1024 / 1024))
        rows, requests, removed = density.measure()
        common.print_table('Periodic tasks at N=%d (median of %d, in turns '
                           'with the floor)' % (n, density.timed), rows)
        for name, count in requests.items():
            print('  engine requests, %s: %d' % (name, count))
        common.print_table('The engine calls the driver no longer makes, '
                           'raw, at N=%d' % n, removed)
        print_memory(n, *density.memory())
        if n < stage:
            print('\nSTOPPED at %d instances: the host would keep less '
                  'than %.1f GB available' % (n, args.min_available))
            break
    before, after = density.flatness(args.rounds)
    print('\nnova-compute (this process) after one pass of every task: '
          'RSS %d kB, %d objects; after %d more: RSS %d kB (%+d), %d '
          'objects (%+d)' % (before[0], before[1], args.rounds, after[0],
                             after[0] - before[0], after[1],
                             after[1] - before[1]))


def _interrupted(signum, _frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    if os.geteuid() != 0:
        print('needs root (a private dockerd)')
        return 2
    # A kill (SIGTERM), or a Ctrl-C of a run started in the background
    # (where SIGINT is ignored), still destroys everything it made.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    density = Density(args.min_available, args.timed)
    try:
        density.start()
        run(args, density)
    finally:
        density.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
