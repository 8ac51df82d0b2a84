"""Soak: N boot/delete cycles through DockerDriver, checked for leaks.

Each cycle is ``spawn`` + ``destroy`` of a new instance from a cached
2 MB busybox image. After the cycles, nothing may be left beyond what was
there before: no container of the run's project, no image of the run's
label, no file descriptor (``/proc/self/fd``), no thread, no file in the
temp dir. The rate is printed next to a baseline of the same
create+start+remove sent as raw engine API calls in the same run.

Run as root with an engine up: ``python -m benchmarks.soak [--cycles N]``;
exits 1 on a leak.
"""

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid

from benchmarks import common
from nova_docker import container
from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from nova_docker import labels
from nova_docker.image.local import LocalImages
from tests.fixtures import images as image_fixtures
from tests.fixtures import nova_objects

CYCLES = 200
# Cycles before the "before" count: the client's connection pool and
# nova's lazy imports settle there, and are not leaks.
WARMUP = 5
TEST_LABEL = 'org.openstack.nova-docker.test'
RAW_API = common.SOCKET_URL + '/v1.41'


def cached_image(client, run_label):
    """ImageMeta of a busybox image the engine holds as the driver names a
    cached Glance image; it carries ``run_label`` so that only it counts
    as this run's image."""
    tar = image_fixtures.docker_save_tar(None, ['/bin/sh'],
                                         labels={TEST_LABEL: run_label})
    loaded = client.load_image(tar).image_ids
    meta = nova_objects.image_meta()
    client.tag_image(loaded[0], 'glance/' + meta.id, 'latest')
    return meta


def remove_image(client, meta):
    # Both names: each boot of the cached image marked it used too.
    LocalImages(client).remove_cached(meta.id, 'the soak image')


def cycle(drv, meta, project):
    """One boot/delete of a new instance of ``project``."""
    inst = nova_objects.instance(project_id=project)
    drv.spawn(None, inst, meta, [], None, {})
    drv.destroy(None, inst, None)


def raw_cycle(session, meta, project):
    """The same container created, started and removed by raw HTTP."""
    inst = nova_objects.instance(project_id=project)
    body = container.create_body(inst, meta, 'glance/%s:latest' % meta.id,
                                 1024, image_id=meta.id)
    name = labels.container_name(inst)
    session.post(RAW_API + '/containers/create', params={'name': name},
                 json=body).raise_for_status()
    session.post(RAW_API + '/containers/%s/start' % name).raise_for_status()
    session.delete(RAW_API + '/containers/%s' % name,
                   params={'force': 1}).raise_for_status()


def resources(client, project, run_label, tmp_dir):
    """What a leak would grow: counts of this run's own objects."""
    containers = client.list_containers(
        all=True, filters={'label': ['%s=%s' % (labels.LABEL_PROJECT_ID,
                                                project)]})
    images = client.list_images(
        filters={'label': ['%s=%s' % (TEST_LABEL, run_label)]})
    return {'containers': len(containers),
            'images': len(images),
            'fds': len(os.listdir('/proc/self/fd')),
            'threads': threading.active_count(),
            'temp files': len(os.listdir(tmp_dir))}


def leaks(before, after):
    """{what: (before, after)} for every count that grew."""
    return {key: (before[key], after[key]) for key in before
            if after[key] > before[key]}


def run(fn, cycles):
    """Seconds for ``cycles`` calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(cycles):
        fn()
    return time.perf_counter() - start


class Soak:
    """One soak run: a driver, its cached image, a project and a temp dir
    of its own, so that only what this run made is counted."""

    def __init__(self, drv, client, tmp_dir):
        """:param client: the engine client ``drv``'s host was made with."""
        self.drv = drv
        self.client = client
        self.tmp_dir = tmp_dir
        self.project = common.unique('soak')
        self.run_label = uuid.uuid4().hex
        self.meta = cached_image(client, self.run_label)

    def counts(self):
        return resources(self.client, self.project, self.run_label,
                         self.tmp_dir)

    def cycles(self, n):
        """(seconds, leaks) of ``n`` boot/delete cycles after a warm-up."""
        for _ in range(WARMUP):
            cycle(self.drv, self.meta, self.project)
        before = self.counts()
        took = run(lambda: cycle(self.drv, self.meta, self.project), n)
        return took, leaks(before, self.counts())

    def baseline(self, n):
        session = common.raw_session()
        try:
            return run(lambda: raw_cycle(session, self.meta, self.project),
                       n)
        finally:
            session.close()

    def close(self):
        remove_image(self.client, self.meta)


def private_tempdir():
    """A temp dir of the run's own, made the process's tempfile default
    (and the driver's download dir), so that counting its files counts
    only what this process left."""
    tmp_dir = tempfile.mkdtemp(prefix='nd-soak-')
    tempfile.tempdir = tmp_dir
    driver_mod.CONF.set_override('image_download_dir', tmp_dir, 'docker')
    return tmp_dir


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cycles', type=int, default=CYCLES,
                        help='boot/delete cycles (default %(default)s)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tmp_dir = private_tempdir()
    client = host_mod.client_from_conf()
    drv = driver_mod.DockerDriver(virtapi=None, host=host_mod.Host(client))
    drv.init_host('soak')
    soak = Soak(drv, client, tmp_dir)
    try:
        ours, leaked = soak.cycles(args.cycles)
        base = soak.baseline(args.cycles)
    finally:
        soak.close()
        shutil.rmtree(tmp_dir, ignore_errors=True)
    common.print_table('Soak: %d boot/delete cycles' % args.cycles, [
        ('boot/delete cycles per second', args.cycles / ours,
         args.cycles / base, 'c/s', '-'),
    ])
    for what, (before, after) in sorted(leaked.items()):
        print('LEAK %s: %d before, %d after' % (what, before, after))
    if not leaked:
        print('no leak: containers, images, fds, threads, temp files as '
              'before')
    return 1 if leaked else 0


if __name__ == '__main__':
    sys.exit(main())
