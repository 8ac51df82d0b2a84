"""The image pipeline against the engine's own tools, in one run.

For each size (50 and 500 MB; 2 GB with ``--big``), ours and the
baselines taken in turns, medians of ``--repeat`` rounds after one
untimed round:

(a) load of an image from Glance through the driver (nova's image API,
    hash check, tar check, ``POST /images/load``) against
    ``docker load -i FILE`` of the same archive from a local file, and
    against ``curl GLANCE/v2/images/ID/file | docker load`` (the network
    path with no Python in it);              target <= 1.15 x docker load -i
    for each of two archives: a classic ``docker save`` (plain layer) and
    a containerd-store one (OCI layout, one gzip layer, which the driver
    unpacks on the way to count and check it; ``--kinds``);
(b) snapshot of a container holding that much data to Glance through the
    driver against ``docker commit`` + ``docker save ID | curl -T -``
    into the Glance image's ``/file``;      target <= 1.0 x the pipeline
(c) peak RSS growth of a driver process during one load and one
    snapshot, in a child process (``VmHWM`` reset after start-up);
    target < 32 MB at every size.

``--profile`` also records one 500 MB (or the largest) load with py-spy
(``pip install py-spy``) and prints where the driver process spent its
samples. Images are random data; everything made is removed at the end.
Needs a running engine (as root), the docker CLI, curl and the test venv:
``python -m benchmarks.images``.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from benchmarks import profile
from benchmarks import save_archive
from tests.fixtures import glance as glance_fx
from tests.fixtures import images as image_fx

SIZES = (50, 500)
KINDS = ('plain', 'gzip')
BIG = 2048
REPEAT = 3
LABEL = 'org.openstack.nova-docker.bench'


# -- the driver side (also run in child processes) --------------------------

def nova_context():
    from nova import context
    return context.RequestContext('bench', 'bench', auth_token='token',
                                  is_admin=True)


class Driver:
    """A DockerDriver reading ``glance_url``, and its collaborators: the
    engine client, the image API and a loader on both (the driver's own
    kind)."""

    def __init__(self, glance_url):
        from nova_docker import driver as driver_mod
        from nova_docker import host as host_mod
        from nova_docker.image import glance_api
        from nova_docker import images
        glance_fx.point_nova_at(glance_url)
        self.client = host_mod.client_from_conf()
        self.image_api = glance_api.ImageAPI()
        self.loader = images.ImageLoader(self.client,
                                         image_api=self.image_api)
        self.drv = driver_mod.DockerDriver(
            virtapi=None, host=host_mod.Host(self.client),
            image_api=self.image_api)


def image_meta(image_id, **props):
    from tests.fixtures import nova_objects
    return nova_objects.image_meta(image_id=image_id, **props)


def instance(instance_uuid=None):
    from tests.fixtures import nova_objects
    return nova_objects.instance(uuid=instance_uuid or str(uuid.uuid4()))


def no_task_state(**kwargs):
    pass


# -- peak RSS of one operation, in a child process ----------------------------

def _proc_status_kb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError('no %s in /proc/self/status' % field)


def _reset_peak_rss():
    # "5" resets VmHWM to the current RSS (Linux >= 4.0).
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def child_main(argv):
    """``--child load URL IMAGE`` or ``--child snapshot URL UUID IMAGE``:
    run one driver operation, print RSS numbers as JSON."""
    operation, glance_url = argv[0], argv[1]
    made = Driver(glance_url)
    ctx = nova_context()
    # Warm up what every operation needs, so the peak is the operation's.
    made.client.ping()
    made.image_api.get(ctx, argv[-1])
    before = _proc_status_kb('VmRSS')
    _reset_peak_rss()
    cpu, start = _cpu_seconds(), time.perf_counter()
    if operation == 'load':
        made.loader.ensure_local(ctx, image_meta(argv[2]))
    else:
        made.drv.snapshot(ctx, instance(argv[2]), argv[3], no_task_state)
    print(json.dumps({'before_kb': before,
                      'peak_kb': _proc_status_kb('VmHWM'),
                      'cpu_s': _cpu_seconds() - cpu,
                      'wall_s': time.perf_counter() - start}))


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_command(*args):
    return [sys.executable, '-m', 'benchmarks.images', '--child'] + list(
        args)


def rss_of(*args):
    out = subprocess.run(child_command(*args), check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- the engine's own tools ---------------------------------------------

def run(*argv):
    """Run a command; its output as text (CalledProcessError if it fails)."""
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE,
                          text=True).stdout


def piped(left, right):
    """``left | right``, both checked."""
    first = subprocess.Popen(left, stdout=subprocess.PIPE)
    try:
        second = subprocess.run(right, stdin=first.stdout, check=True,
                                stdout=subprocess.DEVNULL)
    finally:
        first.stdout.close()
        first.wait()
    if first.returncode:
        raise subprocess.CalledProcessError(first.returncode, left)
    return second


def missing_tools():
    return [tool for tool in ('docker', 'curl') if not shutil.which(tool)]


# -- images and containers -------------------------------------------------

def container_with_data(drv, client, ctx, base_id, mb):
    """A running instance whose container wrote ``mb`` MB of random data."""
    inst = instance()
    command = ("/bin/sh -c 'dd if=/dev/urandom of=/data.bin bs=1048576 "
               "count=%d 2>/dev/null; echo written; "
               "while true; do sleep 1; done'" % mb)
    drv.spawn(ctx, inst, image_meta(base_id, os_command_line=command),
              [], None, {})
    name = 'nova-' + inst.uuid
    deadline = time.monotonic() + 600
    while b'written' not in client.container_logs(name):
        if time.monotonic() > deadline:
            raise RuntimeError('%s did not write its data' % name)
        time.sleep(0.2)
    return inst


def interleave(runs, repeat, reset):
    """Median seconds of each of ``runs`` ({name: fn}), called in turns,
    ``reset()`` (untimed) before each call; one untimed round first fills
    the page cache for all alike."""
    samples = {name: [] for name in runs}
    for round_ in range(repeat + 1):
        for name, fn in runs.items():
            reset()
            start = time.perf_counter()
            fn()
            if round_:
                samples[name].append(time.perf_counter() - start)
    reset()
    return {name: statistics.median(times)
            for name, times in samples.items()}


class Bench:
    """One Glance server, one driver, the docker CLI and curl."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.server = glance_fx.GlanceServer(threads=4)
        self.server.setUp()
        made = Driver(self.server.url)
        self.drv, self.client, self.loader = made.drv, made.client, made.loader
        self.ctx = nova_context()
        base_tar = os.path.join(workdir, 'base.tar')
        with open(base_tar, 'wb') as f:
            f.write(image_fx.docker_save_tar(
                None, ['/bin/sh'], labels={LABEL: uuid.uuid4().hex}))
        self.base_id = self.upload(base_tar, 'bench-base')
        os.unlink(base_tar)

    def close(self):
        self.forget(self.base_id)
        self.server.cleanUp()
        glance_fx.unpoint_nova()

    def upload(self, path, name):
        with open(path, 'rb') as f:
            return self.server.create_image(name, f)['id']

    def file_url(self, glance_id):
        return '%s/v2/images/%s/file' % (self.server.url, glance_id)

    def forget(self, glance_id, engine_id=None):
        """Remove a loaded image from the engine."""
        from nova_docker.docker import errors
        for ref in filter(None, ('glance/%s:latest' % glance_id, engine_id)):
            try:
                self.client.remove_image(ref, force=True)
            except errors.NotFound:
                pass

    # (a) and (c) for loads
    def load(self, mb, repeat, kind='plain'):
        """``kind``: 'plain' (a classic docker save) or 'gzip' (a
        containerd-store save: OCI layout, one gzip layer)."""
        path = os.path.join(self.workdir, 'load.tar')
        writer = (save_archive.write_gzip_layer if kind == 'gzip'
                  else save_archive.write)
        engine_id = writer(path, mb, {LABEL: uuid.uuid4().hex})
        glance_id = self.upload(path, 'bench-load-%s-%d' % (kind, mb))
        runs = {
            'driver': lambda: self.loader.ensure_local(
                self.ctx, image_meta(glance_id)),
            'docker load -i': lambda: run('docker', 'load', '-q', '-i', path),
            'curl | docker load': lambda: piped(
                ['curl', '-sfS', self.file_url(glance_id)],
                ['docker', 'load', '-q']),
        }
        try:
            times = interleave(runs, repeat,
                               lambda: self.forget(glance_id, engine_id))
            os.unlink(path)
            rss = rss_of('load', self.server.url, glance_id)
            self.forget(glance_id, engine_id)
            return times, rss, glance_id
        except BaseException:
            self.forget(glance_id, engine_id)
            self.server.delete_image(glance_id)
            raise
        finally:
            if os.path.exists(path):
                os.unlink(path)

    def profile_load(self, glance_id, out):
        """py-spy samples of one load in a child process."""
        try:
            return profile.record(
                child_command('load', self.server.url, glance_id), out)
        finally:
            self.forget(glance_id)

    # (b) and (c) for snapshots
    def snapshot(self, mb, repeat):
        inst = container_with_data(self.drv, self.client, self.ctx,
                                   self.base_id, mb)
        name = 'nova-' + inst.uuid
        made = []

        def queued():
            image_id = self.server.create_queued_image('bench-snap')['id']
            made.append(image_id)
            return image_id

        def reset():
            while made:
                self.server.delete_image(made.pop())
            queued()

        def ours():
            self.drv.snapshot(self.ctx, inst, made[-1], no_task_state)

        def pipeline():
            committed = run('docker', 'commit', name).strip()
            try:
                piped(['docker', 'save', committed],
                      ['curl', '-sfS', '-T', '-', '-H',
                       'Content-Type: application/octet-stream',
                       self.file_url(made[-1])])
            finally:
                run('docker', 'rmi', committed)

        try:
            times = interleave({'driver': ours,
                                'commit + save | curl -T': pipeline},
                               repeat, reset)
            rss = rss_of('snapshot', self.server.url, inst.uuid, made[-1])
            return times, rss
        finally:
            while made:
                self.server.delete_image(made.pop())
            self.drv.destroy(self.ctx, inst, None)


# -- output -------------------------------------------------------------------

def print_grid(title, header, rows):
    widths = [max(len(str(row[i])) for row in [header] + rows)
              for i in range(len(header))]
    print('\n' + title)
    line = '  '.join(str(h).ljust(w) for h, w in zip(header, widths,
                                                     strict=True))
    print(line)
    print('-' * len(line))
    for row in rows:
        print('  '.join(str(c).ljust(w) for c, w in zip(row, widths,
                                                       strict=True)))


def time_rows(results, kind):
    rows = []
    for mb, times, archive in results:
        ours = times['driver']
        what = '%s %s' % (kind, archive) if archive else kind
        row = ['%s %d MB' % (what, mb), '%.3f s' % ours]
        for name, base in times.items():
            if name != 'driver':
                row += ['%.3f s' % base, '%.2f' % (ours / base)]
        rows.append(row)
    return rows


def rss_rows(results):
    rows = []
    for operation, mb, rss in results:
        before, peak = rss['before_kb'] / 1024, rss['peak_kb'] / 1024
        rows.append([operation, '%d MB' % mb, '%.1f' % before,
                     '%.1f' % peak, '%.1f' % (peak - before),
                     '%.2f s' % rss['cpu_s'], '%.2f s' % rss['wall_s']])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=REPEAT)
    parser.add_argument('--sizes', type=int, nargs='+', default=SIZES,
                        help='MB of the images (default: 50 500)')
    parser.add_argument('--big', action='store_true',
                        help='also 2 GB (about 10 more minutes)')
    parser.add_argument('--no-snapshot', action='store_true')
    parser.add_argument('--kinds', nargs='+', default=KINDS,
                        choices=KINDS,
                        help='archives to load: plain (a classic docker '
                             'save) and gzip (a containerd-store save, one '
                             'gzip layer); default both')
    parser.add_argument('--profile', metavar='FILE',
                        help='record one load of the largest image with '
                             'py-spy into FILE (collapsed stacks)')
    parser.add_argument('--child', nargs='+', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args.child)
    missing = missing_tools()
    if missing:
        sys.exit('benchmarks.images needs %s on PATH (apt-get install '
                 'docker.io curl)' % ' and '.join(missing))
    sizes = list(args.sizes) + ([BIG] if args.big else [])
    started = time.monotonic()
    loads, snaps, rss, top = [], [], [], None
    with tempfile.TemporaryDirectory(prefix='nd-bench-') as workdir:
        bench = Bench(workdir)
        try:
            for mb in sizes:
                for kind in args.kinds:
                    times, load_rss, glance_id = bench.load(mb, args.repeat,
                                                            kind)
                    loads.append((mb, times, kind))
                    rss.append(('load ' + kind, mb, load_rss))
                    if (args.profile and mb == max(sizes) and
                            kind == args.kinds[0]):
                        top = bench.profile_load(glance_id, args.profile)
                    bench.server.delete_image(glance_id)
                if not args.no_snapshot:
                    times, snap_rss = bench.snapshot(mb, args.repeat)
                    snaps.append((mb, times, None))
                    rss.append(('snapshot', mb, snap_rss))
        finally:
            bench.close()
    print_grid('Load from Glance: median of %d interleaved runs; target '
               '<= 1.15 x docker load -i' % args.repeat,
               ['measure', 'driver', 'docker load -i', 'ratio',
                'curl | docker load', 'ratio'],
               time_rows(loads, 'load'))
    if snaps:
        print_grid('Snapshot to Glance: median of %d interleaved runs; '
                   'target <= 1.0' % args.repeat,
                   ['measure', 'driver', 'commit + save | curl -T',
                    'ratio'], time_rows(snaps, 'snapshot'))
    print_grid('Peak RSS of the driver process (MB; target: growth < 32) '
               'and its CPU time in that operation',
               ['operation', 'image', 'RSS at start', 'peak', 'growth',
                'CPU', 'wall'],
               rss_rows(rss))
    if top:
        print('\n' + top)
    print('\n(total %.0f s)' % (time.monotonic() - started))


if __name__ == '__main__':
    main()
