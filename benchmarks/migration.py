"""Cold migration of a server whose writable layer holds 100 MB, through
DockerDriver, against the floor of moving the same bytes raw.

Two private engines (tests/fixtures/private_engine.py: each its own
socket, data root and exec root; never the host's engine) stand for the
source and the target host, and a real glance-api (tests/fixtures/glance.py:
gunicorn serving glance.wsgi.api on 127.0.0.1, fs store, sqlite, no
keystone) is the channel the driver moves the server through.

Each round, in turns (the order swapped every round):

* driver: a server booted through ``DockerDriver`` on the source from a
  small Glance image (busybox); its workload writes ``--mb`` MB from
  /dev/urandom to its file system (untimed). Timed: nova's order of calls
  for a move to another host, ``migrate_disk_and_power_off`` on the source
  (stop, commit, save streamed into a hidden Glance transfer image),
  ``finish_migration`` on the target (download and load through the
  image pipeline, create the sandbox and the workload, start), then
  ``confirm_migration`` on the source (its containers and the transfer
  image go). The clock stops there; the workload runs on the target.
* floor: a container of the same image and command on the source, the
  same bytes written (untimed). Timed: ``POST /containers/{id}/stop?t=0``,
  ``POST /commit``, ``GET /images/{id}/get`` streamed straight into the
  target's ``POST /images/load``, create and start of one container of the
  loaded image on the target: what ``docker commit`` + ``docker save |
  docker load`` + ``docker run`` cost, with no Glance and no sandbox.

* floor, partial (``--base-mb`` > 0): the floor's steps, the save
  streamed through :class:`nova_docker.archive.partial.LayerFilter`
  (the base's layers left out) into the target's load: the raw move of
  only what the target lacks.

The base image is busybox plus ``--base-mb`` MB of random bytes in its one
layer, cached on the source and (unless ``--cold-target``) on the target,
as on hosts that booted it before; ``--cold-target`` removes it from the
target before every driver round (and leaves out the partial floor, whose
load needs it there). The target's driver reports its stats
(``get_available_resource``) to the source, as nova's resource tracker
does through ComputeNode.stats: a target whose engine loads partial
archives gets a transfer image without the base's layers. The transfer
image's size in Glance is printed each round.

Medians of ``--repeat`` rounds are printed with common.print_table, and
where the driver's time goes (flavor check, stop, commit, the engine's save,
the upload to Glance, download + load, create, start, confirm), from
wall-clock timestamps taken around those calls. Everything made
(containers, images, Glance images, both engines, the Glance server) is
removed at the end, on failure and on Ctrl-C or SIGTERM too.

Run as root: ``python -m benchmarks.migration [--repeat 3] [--mb 100]
[--base-mb 0] [--cold-target]``.
"""

import argparse
import collections
import contextlib
import json
import signal
import statistics
import sys
import time
import uuid

from nova import context as nova_context
from nova import objects

from benchmarks import common
from nova_docker.archive import partial
from nova_docker import docker
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from nova_docker.image import glance_api
from nova_docker import migration as migration_mod
from tests.fixtures import glance as glance_fx
from tests.fixtures import images as image_fx
from tests.fixtures import nova_objects
from tests.fixtures import private_engine as private_fx

REPEAT = 3
MB = 100
BASE_MB = 0
SOURCE, TARGET = 'bench-src', 'bench-dst'
# Writes once (a container made again from the commit finds /written and
# only sleeps), then idles as a server would.
SCRIPT = ('test -f /written || { head -c %d /dev/urandom > /data && '
          'touch /written; }; while true; do sleep 1; done')
CHUNK = 1024 * 1024


def command(mb):
    return "/bin/sh -c '%s'" % (SCRIPT % (mb * 1024 * 1024))


# -- where the time goes ------------------------------------------------------

class Clock:
    """Wall-clock seconds spent in wrapped calls, per label, this round."""

    def __init__(self):
        self.spent = collections.defaultdict(float)

    def wrap(self, obj, attr, label):
        real = getattr(obj, attr)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.spent[label] += time.perf_counter() - start
        setattr(obj, attr, timed)

    def take(self):
        spent, self.spent = dict(self.spent), collections.defaultdict(float)
        return spent


# -- the set-up ---------------------------------------------------------------

class Moves:
    """The migration in progress, by instance uuid (what the drivers read
    from nova's database in a cloud)."""

    def __init__(self):
        self.by_instance = {}

    def start(self, instance):
        self.by_instance[instance.uuid] = objects.Migration(
            uuid=str(uuid.uuid4()), source_compute=SOURCE,
            dest_compute=TARGET)
        return self.by_instance[instance.uuid]

    def __call__(self, context, instance):
        return self.by_instance[instance.uuid]


class Host:
    """One private engine, a raw API on it, and a DockerDriver on it."""

    def __init__(self, stack, name, moves, target_stats=None):
        self.engine = private_fx.PrivateEngine()
        stack.callback(self._teardown)
        self.engine.start()
        self.api = self.engine.api()
        self.client = docker.DockerClient(self.engine.url)
        self.image_api = glance_api.ImageAPI()
        self.drv = driver_mod.DockerDriver(
            virtapi=None, host=host_mod.Host(self.client),
            image_api=self.image_api, find_migration=moves,
            target_stats=target_stats)
        self.drv.init_host(name)

    def _teardown(self):
        for closable in ('api', 'client'):
            if hasattr(self, closable):
                getattr(self, closable).close()
        self.engine.teardown()
        left = self.engine.leftovers()
        if left != ([], []):
            print('private engine left behind: %r' % (left,),
                  file=sys.stderr)

    def wait_written(self, name, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, _, _ = self.api.exec(name, ['test', '-f', '/written'])
            if code == 0:
                return
            time.sleep(0.2)
        raise RuntimeError('%s wrote nothing in %d s' % (name, timeout))

    def data_size(self, name):
        code, out, _ = self.api.exec(name, ['wc', '-c', '/data'])
        assert code == 0, out
        return int(out.split()[0])

    def running(self, name):
        return self.api.get('/containers/%s/json' % name).json()[
            'State']['Running']

    def remove_container(self, name):
        self.api.delete('/containers/%s' % name, params={'force': 1})

    def remove_image(self, ref):
        self.api.delete('/images/%s' % ref, params={'force': 1})


def base_tar(base_mb):
    """A busybox image whose one layer holds ``base_mb`` MB more."""
    extra = ({'base.bin': image_fx.random_bytes(base_mb * 1024 * 1024)}
             if base_mb else None)
    return image_fx.docker_save_tar(
        None, ['/bin/sh'], rootfs=image_fx.busybox_rootfs_tar(extra),
        labels=image_fx.unique_labels())


class Bench:
    def __init__(self, stack, mb, base_mb=BASE_MB, cold_target=False):
        self.mb = mb
        self.expected = mb * 1024 * 1024
        self.ctx = nova_context.RequestContext(
            'user-a', 'project-a', auth_token='token', is_admin=True)
        self.glance = glance_fx.GlanceServer(threads=4)
        self.glance.setUp()
        stack.callback(self.glance.cleanUp)
        glance_fx.point_nova_at(self.glance)
        stack.callback(glance_fx.unpoint_nova)
        self.moves = Moves()
        # What nova's resource tracker stored of the target's report.
        self.src = Host(stack, SOURCE, self.moves, target_stats=(
            lambda ctx, move: self.dst.drv.get_available_resource(
                TARGET).get('stats') or {}))
        self.dst = Host(stack, TARGET, self.moves)
        base = self.glance.create_image('bench-migration-base',
                                        base_tar(base_mb))
        self.base_id = base['id']
        stack.callback(self.glance.delete_image, self.base_id)
        self.meta = nova_objects.image_meta(image_id=self.base_id,
                                            os_command_line=command(mb))
        # The source has the image cached, as a host that booted it has.
        self.base_ref = self.src.drv._images.ensure_local(self.ctx,
                                                          self.meta)
        self.base_layers = self.src.api.inspect_image(self.base_ref)[
            'RootFS']['Layers']
        self.cold_target = cold_target
        if not cold_target:
            self.dst.drv._images.ensure_local(self.ctx, self.meta)
        self.transfer_sizes = []
        self.clock = Clock()
        self._instrument()

    def _instrument(self):
        wrap = self.clock.wrap
        # The flavor's disk check reads SizeRootFs: the engine walks the
        # writable layer before anything stops.
        wrap(self.src.drv, '_check_resize', 'check flavor (size walk)')
        wrap(self.src.drv, 'power_off', 'stop')
        wrap(self.src.image_api, 'create', 'Glance: make transfer record')
        wrap(self.src.client, 'commit_container', 'commit')
        # dockerd 20.10 copies the image's layers to a temporary directory
        # before the save's first byte: that wait is in save_image; the
        # tar then streams as Glance reads it (the upload).
        wrap(self.src.client, 'save_image', 'save (engine, before 1st byte)')
        wrap(self.src.image_api, 'update', 'stream save into Glance')
        local = self.src.drv._snapshots._local
        wrap(local, 'remove_commit', 'remove the commit (source)')
        wrap(local, 'remove_leftover_commits', 'look for old commits')
        wrap(self.dst.drv._transfers, 'load', 'download + load')
        wrap(self.dst.drv, '_create', 'create (sandbox, workload)')
        wrap(self.dst.drv, '_start', 'start')
        wrap(self.src.drv, 'confirm_migration', 'confirm (source clean-up)')

    # -- through the driver -----------------------------------------------

    def driver_round(self):
        inst = nova_objects.instance(image_ref=self.base_id)
        name = 'nova-' + inst.uuid
        if self.cold_target:
            # What the last round's target loaded goes: cold every round.
            self.dst.drv._local_images.remove_cached(self.base_id, 'cold')
        transfer = None
        try:
            self.src.drv.spawn(self.ctx, inst, self.meta, [], None, {})
            self.src.wait_written(name)
            self.clock.take()
            start = time.perf_counter()
            move = self.moves.start(inst)
            info = self.src.drv.migrate_disk_and_power_off(
                self.ctx, inst, TARGET, inst.flavor, [], None, 0, 0)
            transfer = migration_mod.transfer_from(info)
            self.transfer_sizes.append(
                self.glance.get_image(transfer)['size'])
            self.dst.drv.finish_migration(self.ctx, move, inst, info, [],
                                          self.meta, True, {}, None, True)
            self.src.drv.confirm_migration(self.ctx, move, inst, [])
            took = time.perf_counter() - start
            parts = self.clock.take()
            assert self.dst.running(name), 'not running on the target'
            size = self.dst.data_size(name)
            assert size == self.expected, size
            return took, parts
        finally:
            self.dst.drv.destroy(self.ctx, inst, [])
            self.src.drv.destroy(self.ctx, inst, [])
            if transfer:
                self.dst.drv._transfers.forget(transfer, inst)
                self.dst.drv._transfers.delete(self.ctx, transfer, inst)

    # -- the floor ----------------------------------------------------------

    def partial_floor_round(self):
        return self.floor_round(held=self.base_layers)

    def floor_round(self, held=None):
        name = common.unique('bench-migration-floor')
        body = {'Image': self.base_ref,
                'Cmd': ['/bin/sh', '-c', SCRIPT % self.expected],
                'HostConfig': {'NetworkMode': 'none'}}
        committed = loaded = None
        try:
            self.src.api.post('/containers/create', params={'name': name},
                              json=body).raise_for_status()
            self.src.api.post('/containers/%s/start' % name
                              ).raise_for_status()
            self.src.wait_written(name)
            parts = {}
            start = mark = time.perf_counter()

            def lap(label):
                nonlocal mark
                now = time.perf_counter()
                parts[label] = now - mark
                mark = now

            self.src.api.post('/containers/%s/stop' % name,
                              params={'t': 0}).raise_for_status()
            lap('stop')
            resp = self.src.api.post('/commit', params={'container': name})
            resp.raise_for_status()
            committed = resp.json()['Id']
            lap('commit')
            loaded = self._save_into_load(committed, held)
            lap('save | load' if held is None else 'save | filter | load')
            resp = self.dst.api.post('/containers/create',
                                     params={'name': name},
                                     json={'Image': loaded,
                                           'HostConfig': {
                                               'NetworkMode': 'none'}})
            resp.raise_for_status()
            self.dst.api.post('/containers/%s/start' % name
                              ).raise_for_status()
            lap('create + start')
            took = time.perf_counter() - start
            assert self.dst.running(name)
            assert self.dst.data_size(name) == self.expected
            return took, parts
        finally:
            self.src.remove_container(name)
            self.dst.remove_container(name)
            if committed:
                self.src.remove_image(committed)
            if loaded:
                self.dst.remove_image(loaded)

    def _save_into_load(self, image, held=None):
        saved = self.src.api.get('/images/%s/get' % image, stream=True)
        try:
            saved.raise_for_status()
            chunks = saved.iter_content(CHUNK)
            if held is not None:
                chunks = partial.filtered(chunks, partial.LayerFilter(held))
            resp = self.dst.api.post(
                '/images/load', data=chunks,
                headers={'Content-Type': 'application/x-tar'})
        finally:
            saved.close()
        resp.raise_for_status()
        loaded = None
        for line in resp.text.splitlines():
            message = json.loads(line) if line.strip() else {}
            if 'error' in message:
                raise RuntimeError('load: %s' % message['error'])
            stream = message.get('stream', '')
            if 'Loaded image ID: ' in stream:
                loaded = stream.split('Loaded image ID: ')[1].strip()
        if loaded is None:
            raise RuntimeError('load said no image id: %r' % resp.text)
        return loaded


def load_average():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def run(repeat, mb, base_mb=BASE_MB, cold_target=False):
    ours, floor, partial_floor = [], [], []
    ours_parts, floor_parts, partial_parts = (
        collections.defaultdict(list), collections.defaultdict(list),
        collections.defaultdict(list))
    with contextlib.ExitStack() as stack:
        bench = Bench(stack, mb, base_mb, cold_target)
        for round_ in range(repeat):
            turns = [('driver', bench.driver_round, ours, ours_parts),
                     ('floor', bench.floor_round, floor, floor_parts)]
            if base_mb and not cold_target:
                # A cold target lacks the layers the filter leaves out.
                turns.append(('floor, partial', bench.partial_floor_round,
                              partial_floor, partial_parts))
            if round_ % 2:
                turns.reverse()
            for what, fn, samples, parts in turns:
                took, spent = fn()
                samples.append(took)
                for label, seconds in spent.items():
                    parts[label].append(seconds)
                print('round %d %-14s %.2f s  %s' % (
                    round_ + 1, what, took,
                    ', '.join('%s %.2f' % kv for kv in spent.items())),
                    flush=True)
            if round_size := bench.transfer_sizes[round_:round_ + 1]:
                print('round %d transfer image: %d bytes' % (
                    round_ + 1, round_size[0]), flush=True)
    return (ours, floor, partial_floor, ours_parts, floor_parts,
            partial_parts, bench.transfer_sizes)


def print_parts(title, total, parts):
    print('\n' + title)
    accounted = 0.0
    for label, samples in parts.items():
        median = statistics.median(samples)
        accounted += median
        print('  %-32s %7.2f s  %5.1f %%' % (label, median,
                                              100 * median / total))
    rest = total - accounted
    print('  %-32s %7.2f s  %5.1f %%' % ('other (medians do not add up)',
                                          rest, 100 * rest / total))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=REPEAT)
    parser.add_argument('--mb', type=int, default=MB,
                        help='MB the workload writes (incompressible)')
    parser.add_argument('--base-mb', type=int, default=BASE_MB,
                        help='MB (incompressible) the base image holds '
                             'beside busybox')
    parser.add_argument('--cold-target', action='store_true',
                        help='the target has not cached the base image')
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: the clean-up runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print('load average before: %s' % load_average())
    (ours, floor, partial_floor, ours_parts, floor_parts, partial_parts,
     sizes) = run(args.repeat, args.mb, args.base_mb, args.cold_target)
    print('load average after: %s' % load_average())
    ours_m, floor_m = statistics.median(ours), statistics.median(floor)
    rows = [('migrate+finish+confirm vs commit+save|load', ours_m,
             floor_m, 's', '-')]
    if partial_floor:
        rows.append(('migrate+finish+confirm vs commit+save|filter|load',
                     ours_m, statistics.median(partial_floor), 's', '-'))
    common.print_table(
        'Cold migration, %d MB written on a %d MB base, two private engines'
        ' (median of %d)' % (args.mb, args.base_mb + 2, args.repeat), rows)
    print('transfer image (median): %d bytes' % statistics.median(sizes))
    print_parts('driver: where the time goes (medians)', ours_m,
                ours_parts)
    print_parts('floor: where the time goes (medians)', floor_m,
                floor_parts)
    if partial_floor:
        print_parts('floor, partial: where the time goes (medians)',
                    statistics.median(partial_floor), partial_parts)
    return 0


if __name__ == '__main__':
    sys.exit(main())
