"""The image pipeline against plain Docker and Glance tools, in one run.

(a) load of a 200 MB image from Glance through the driver (nova's image
    API -> checks -> ``POST /images/load``) vs ``docker load`` of the same
    tar from a local file (docker-py, raw API);          target <= 1.25
(b) snapshot of a container holding 200 MB to Glance through the driver
    vs ``docker commit`` + ``docker save`` to a file + an upload of the
    file with glanceclient;                              target <= 1.0
(c) peak RSS of the driver process while it loads and snapshots 50 MB
    and 500 MB images, measured in a child process (``VmHWM`` reset
    after start-up) so the numbers are the driver's own; target: growth
    under 100 MB and flat as the image grows.

Images are random data layers built in Python. Needs a running engine
(as root) and the test venv: ``python -m benchmarks.images``.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import docker
import glanceclient

from benchmarks import common
from tests.fixtures import glance as glance_fx
from tests.fixtures import images as image_fx

MIB = 1024 * 1024
TIME_MB = 200
RSS_MB = (50, 500)
REPEAT = 3


# -- the driver side (also run in child processes) --------------------------

def nova_context():
    from nova import context
    return context.RequestContext('bench', 'bench', auth_token='token',
                                  is_admin=True)


def make_driver(glance_url):
    from nova_docker import driver as driver_mod
    glance_fx.point_nova_at(glance_url)
    return driver_mod.DockerDriver(virtapi=None)


def image_meta(image_id, **props):
    from tests.unit import nova_objects
    return nova_objects.image_meta(image_id=image_id, **props)


def instance(instance_uuid=None):
    from tests.unit import nova_objects
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
    drv = make_driver(glance_url)
    ctx = nova_context()
    # Warm up what every operation needs, so the peak is the operation's.
    drv._client.ping()
    drv._images._image_api.get(ctx, argv[-1])
    before = _proc_status_kb('VmRSS')
    _reset_peak_rss()
    if operation == 'load':
        drv._images.ensure_local(ctx, image_meta(argv[2]))
    else:
        drv.snapshot(ctx, instance(argv[2]), argv[3], no_task_state)
    print(json.dumps({'before_kb': before,
                      'peak_kb': _proc_status_kb('VmHWM')}))


def rss_of(*args):
    out = subprocess.run(
        [sys.executable, '-m', 'benchmarks.images', '--child'] + list(args),
        check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- images and containers -------------------------------------------------

def write_save_tar(path, mb, seed):
    """A docker save archive with a layer of ``mb`` MB of random data;
    returns its engine image id."""
    rng = random.Random(seed)
    # randbytes takes at most 2**31 bits at a time.
    data = b''.join(rng.randbytes(min(64, mb - i) * MIB)
                    for i in range(0, mb, 64))
    rootfs = image_fx.busybox_rootfs_tar({'data.bin': data})
    del data
    tar = image_fx.docker_save_tar(
        None, ['/bin/sh'], rootfs=rootfs,
        labels={'org.openstack.nova-docker.bench': uuid.uuid4().hex})
    del rootfs
    with open(path, 'wb') as f:
        f.write(tar)
    return 'sha256:' + image_fx.saved_image_id(tar)


def upload(server, path, name):
    with open(path, 'rb') as f:
        return server.create_image(name, f)['id']


def container_with_data(drv, ctx, base_id, mb):
    """A running instance whose container wrote ``mb`` MB of random data."""
    inst = instance()
    command = ("/bin/sh -c 'dd if=/dev/urandom of=/data.bin bs=1048576 "
               "count=%d 2>/dev/null; echo written; "
               "while true; do sleep 1; done'" % mb)
    drv.spawn(ctx, inst, image_meta(base_id, os_command_line=command),
              [], None, {})
    name = 'nova-' + inst.uuid
    deadline = time.monotonic() + 300
    while b'written' not in drv._client.container_logs(name):
        if time.monotonic() > deadline:
            raise RuntimeError('%s did not write its data' % name)
        time.sleep(0.2)
    return inst


class Bench:
    """One Glance server, one driver, docker-py and glanceclient."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.server = glance_fx.GlanceServer()
        self.server.setUp()
        self.drv = make_driver(self.server.url)
        self.ctx = nova_context()
        self.dockerpy = docker.APIClient(
            base_url='unix:///var/run/docker.sock', version='auto',
            timeout=1800)
        self.glance = glanceclient.Client('2', endpoint=self.server.url,
                                          token='token')
        self.instances = []
        base_tar = os.path.join(workdir, 'base.tar')
        with open(base_tar, 'wb') as f:
            f.write(image_fx.docker_save_tar(
                None, ['/bin/sh'],
                labels={'org.openstack.nova-docker.bench': uuid.uuid4().hex}))
        self.base_id = upload(self.server, base_tar, 'bench-base')

    def close(self):
        for inst in self.instances:
            self.drv.destroy(self.ctx, inst, None)
        self.forget(self.base_id)
        self.dockerpy.close()
        self.server.cleanUp()
        glance_fx.unpoint_nova()

    def forget(self, glance_id, engine_id=None):
        """Remove a loaded image from the engine."""
        for ref in filter(None, ('glance/%s:latest' % glance_id, engine_id)):
            try:
                self.dockerpy.remove_image(ref, force=True)
            except docker.errors.NotFound:
                pass

    def booted(self, mb):
        inst = container_with_data(self.drv, self.ctx, self.base_id, mb)
        self.instances.append(inst)
        return inst

    def queued(self, name):
        return self.server.create_queued_image(name)['id']

    # (a)
    def load_times(self, mb, repeat):
        path = os.path.join(self.workdir, 'load.tar')
        engine_id = write_save_tar(path, mb, seed=mb)
        glance_id = upload(self.server, path, 'bench-load')

        def ours():
            self.drv._images.ensure_local(self.ctx, image_meta(glance_id))

        def baseline():
            with open(path, 'rb') as f:
                for _ in self.dockerpy.load_image(f):
                    pass

        try:
            return self._interleave(
                ours, baseline, repeat,
                reset=lambda: self.forget(glance_id, engine_id))
        finally:
            self.forget(glance_id, engine_id)
            self.server.delete_image(glance_id)
            os.unlink(path)

    # (b)
    def snapshot_times(self, mb, repeat):
        inst = self.booted(mb)
        name = 'nova-' + inst.uuid
        made = []

        def ours():
            image_id = self.queued('bench-snap')
            made.append(image_id)
            self.drv.snapshot(self.ctx, inst, image_id, no_task_state)

        def baseline():
            path = os.path.join(self.workdir, 'snap.tar')
            committed = self.dockerpy.commit(name)['Id']
            try:
                with open(path, 'wb') as f:
                    for chunk in self.dockerpy.get_image(committed):
                        f.write(chunk)
                image = self.glance.images.create(
                    name='bench-snap-baseline', container_format='docker',
                    disk_format='raw')
                made.append(image['id'])
                with open(path, 'rb') as f:
                    self.glance.images.upload(image['id'], f)
            finally:
                self.dockerpy.remove_image(committed, force=True)
                if os.path.exists(path):
                    os.unlink(path)

        def reset():
            while made:
                self.server.delete_image(made.pop())

        try:
            return self._interleave(ours, baseline, repeat, reset)
        finally:
            reset()

    @staticmethod
    def _interleave(ours, baseline, repeat, reset):
        # One untimed round fills the page cache for both sides alike.
        ours_t, base_t = [], []
        for round_ in range(repeat + 1):
            for fn, samples in ((ours, ours_t), (baseline, base_t)):
                reset()
                start = time.perf_counter()
                fn()
                if round_:
                    samples.append(time.perf_counter() - start)
        reset()
        return statistics.median(ours_t), statistics.median(base_t)

    # (c)
    def load_rss(self, mb):
        path = os.path.join(self.workdir, 'rss.tar')
        engine_id = write_save_tar(path, mb, seed=1000 + mb)
        glance_id = upload(self.server, path, 'bench-rss')
        os.unlink(path)
        try:
            return rss_of('load', self.server.url, glance_id)
        finally:
            self.forget(glance_id, engine_id)
            self.server.delete_image(glance_id)

    def snapshot_rss(self, mb):
        inst = self.booted(mb)
        image_id = self.queued('bench-rss-snap')
        try:
            return rss_of('snapshot', self.server.url, inst.uuid, image_id)
        finally:
            self.server.delete_image(image_id)


def print_rss(rows, sizes):
    print('\nPeak RSS of the driver process (child process, MB; target: '
          'growth < 100 MB, flat)')
    header = ('operation', 'image', 'RSS at start', 'peak', 'growth')
    widths = (12, 8, 14, 8, 8)
    line = '  '.join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print('-' * len(line))
    growth = {}
    for operation, mb, rss in rows:
        before, peak = rss['before_kb'] / 1024, rss['peak_kb'] / 1024
        growth[(operation, mb)] = peak - before
        cells = (operation, '%d MB' % mb, '%.1f' % before, '%.1f' % peak,
                 '%.1f' % (peak - before))
        print('  '.join(c.ljust(w) for c, w in zip(cells, widths,
                                                   strict=True)))
    small, large = sizes
    for operation in ('load', 'snapshot'):
        print('%s: growth at %d MB minus growth at %d MB = %.1f MB'
              % (operation, large, small,
                 growth[(operation, large)] - growth[(operation, small)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=REPEAT)
    parser.add_argument('--size', type=int, default=TIME_MB,
                        help='MB of the images timed in (a) and (b)')
    parser.add_argument('--rss-sizes', type=int, nargs=2, default=RSS_MB)
    parser.add_argument('--child', nargs='+', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args.child)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='nd-bench-') as workdir:
        bench = Bench(workdir)
        try:
            load = bench.load_times(args.size, args.repeat)
            snap = bench.snapshot_times(args.size, args.repeat)
            rss = [('load', mb, bench.load_rss(mb))
                   for mb in args.rss_sizes]
            rss += [('snapshot', mb, bench.snapshot_rss(mb))
                    for mb in args.rss_sizes]
        finally:
            bench.close()
    common.print_table(
        'Images: median of %d interleaved runs (%d MB of random data)'
        % (args.repeat, args.size),
        [('load from Glance vs docker load of a file', load[0], load[1],
          's', '<= 1.25'),
         ('snapshot to Glance vs commit+save+glanceclient', snap[0],
          snap[1], 's', '<= 1.0')])
    print_rss(rss, args.rss_sizes)
    print('\n(total %.0f s)' % (time.monotonic() - started))


if __name__ == '__main__':
    main()
