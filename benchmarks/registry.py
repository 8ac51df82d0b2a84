"""nova-docker-registry against Debian's docker-registry, in one run.

(a) ``docker push`` of a ~100 MB image of 3 layers (random data, so gzip
    can't shrink it; ``--compressible``: hex text, which it packs about
    2.2 times, as real layers) to nova-docker-registry (storing into a real
    glance-api) against the same push to Distribution 2.8.2 (Debian's
    ``docker-registry``, filesystem storage); target <= 1.25 (issue 25);
(b) ``docker pull`` of it back, after ``docker rmi`` removed the image
    and its layers from the engine; target <= 1.1;
(c) peak RSS (``VmHWM``, reset before the operation) of the registry's
    gunicorn worker during one push + pull of the 100 MB image and, with
    ``--big``, of a ~1 GB one; target: the same at both sizes.

Both registries check the same htpasswd (bcrypt) logins. Every round
pushes under a new repository name into emptied storage (Distribution
restarted on a fresh directory, every Glance image deleted), so each
push really sends every layer. Ours and the baseline go in turns, after
one untimed round of each; medians of ``--rounds``.

Run as root with the engine up, from the repository root in the test
venv: ``python -m benchmarks.registry [--rounds N] [--big]``. It installs
nothing: ``docker-registry`` comes from ``apt-get install docker-registry``
(``tools/ensure-registry-tools.sh``).
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import requests

from benchmarks import common
from tests.fixtures import glance as glance_fx
from tests.fixtures import registry as registry_fx

MIB = 1024 * 1024
USER, PASSWORD, PROJECT = 'bench', 'bench-secret', 'project-bench'
ROUNDS = 3
SMALL_MB = 100
BIG_MB = 1024
PUSH_TARGET, PULL_TARGET = '<= 1.25', '<= 1.1'


# -- Distribution, the baseline -------------------------------------------

class Distribution:
    """``docker-registry serve`` on 127.0.0.1 with filesystem storage and
    htpasswd logins; :meth:`empty` restarts it on a fresh directory."""

    def __init__(self, state_dir: str, htpasswd: str):
        self.state_dir = state_dir
        self.htpasswd = htpasswd
        self.port = registry_fx.free_port()
        self.address = '127.0.0.1:%d' % self.port
        self.url = 'http://' + self.address
        self.process = None
        self.root = os.path.join(state_dir, 'data')
        self.conf = os.path.join(state_dir, 'config.yml')
        self.log_path = os.path.join(state_dir, 'registry.log')
        with open(self.conf, 'w') as f:
            f.write(textwrap.dedent('''\
                version: 0.1
                log:
                  level: warn
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: {root}
                  delete:
                    enabled: true
                http:
                  addr: {addr}
                  secret: bench-secret
                auth:
                  htpasswd:
                    realm: bench
                    path: {htpasswd}
                ''').format(root=self.root, addr=self.address,
                            htpasswd=htpasswd))

    def start(self) -> None:
        with open(self.log_path, 'ab') as log:
            self.process = subprocess.Popen(
                ['docker-registry', 'serve', self.conf],
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('docker-registry exited with %s'
                                   % self.process.returncode)
            try:
                requests.get(self.url + '/v2/', timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError('docker-registry did not answer on ' + self.url)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def empty(self) -> None:
        self.stop()
        shutil.rmtree(self.root, True)
        self.start()

    def pids(self) -> list[int]:
        return [self.process.pid]


# -- nova-docker-registry ---------------------------------------------------

class Ours:
    def __init__(self, glance, registry):
        self.glance = glance
        self.registry = registry
        self.address = registry.address

    def empty(self) -> None:
        for image in self.glance.list_images(os_hidden='true'):
            self.glance.delete_image(image['id'])
        for image in self.glance.list_images():
            self.glance.delete_image(image['id'])
        # The registry lists tags for 1 s: let that pass.
        time.sleep(1.1)

    def pids(self) -> list[int]:
        """The gunicorn workers (the master serves no request)."""
        return _children(self.registry.process.pid)

    @property
    def _log(self) -> str:
        return os.path.join(self.registry.state_dir, 'oslo.log')

    def log_mark(self) -> int:
        return os.path.getsize(self._log) if os.path.exists(self._log) else 0

    def phases(self, mark: int) -> dict:
        """Seconds of the push's phases, from the registry's log since
        ``mark``: each PATCH's receipt of a blob, each blob's store into
        Glance at its final PUT, the manifest PUT and, in it, the tag
        archive's write."""
        with open(self._log) as f:
            f.seek(mark)
            text = f.read()
        found = {}
        for key, pattern in _PHASES.items():
            found[key] = [float(s) for s in pattern.findall(text)]
        return found


_PHASES = {
    'patch': re.compile(r'after a PATCH of ([0-9.]+) s'),
    'blob': re.compile(r'Stored blob \S+ of \S+ \(\d+ bytes\) in Glance '
                       r'in ([0-9.]+) s'),
    'manifest': re.compile(r'Stored manifest \S+ as \S+ in ([0-9.]+) s'),
    'archive': re.compile(r'Wrote the archive of .* to Glance in ([0-9.]+) '
                          r's'),
}


def print_phases(push: float, phases: dict) -> None:
    def fmt(values):
        return '/'.join('%.2f' % v for v in sorted(values, reverse=True))
    print('  profile: push %.2f s: PATCHes %s s, blobs into Glance at '
          'their PUT %s s, manifest PUT %s s (of which the archive %s s)'
          % (push, fmt(phases['patch']), fmt(phases['blob']),
             fmt(phases['manifest']), fmt(phases['archive'])), flush=True)


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/children' % (pid, task)) as f:
            found.extend(int(p) for p in f.read().split())
    return found


# -- memory ---------------------------------------------------------------

def _status(pid: int, key: str) -> float:
    """A ``kB`` line of /proc/PID/status, in MiB."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024.0
    raise KeyError(key)


def reset_peak(pids) -> float:
    """Reset VmHWM to the current RSS; the RSS (MiB, summed)."""
    for pid in pids:
        with open('/proc/%d/clear_refs' % pid, 'w') as f:
            f.write('5')
    return sum(_status(pid, 'VmRSS') for pid in pids)


def peak(pids) -> float:
    return sum(_status(pid, 'VmHWM') for pid in pids)


# -- the engine side --------------------------------------------------------

class Image:
    """The image under test: one engine image that moves from tag to tag
    (one per round and registry), so that ``docker rmi`` of the current
    tag removes it and its layers before each pull."""

    def __init__(self, cli, size_mb: int, compressible: bool = False):
        self.cli = cli
        self.size_mb = size_mb
        self.ref = 'bench-registry-%s:src' % os.urandom(4).hex()
        layer_bytes = (size_mb * MIB) // 2
        self.id = registry_fx.build_layered_image(
            cli, self.ref, layers=3, layer_bytes=layer_bytes,
            compressible=compressible)
        self.bytes = int(cli.run('image', 'inspect', '--format',
                                 '{{.Size}}', self.ref).stdout)

    def retag(self, address: str) -> str:
        new = '%s/%s:1' % (address, common.unique('bench'))
        self.cli.run('tag', self.ref, new)
        self.cli.run('rmi', self.ref)
        self.ref = new
        return new

    def remove_locally(self) -> None:
        self.cli.run('rmi', self.ref)
        gone = self.cli.run('image', 'inspect', self.id, check=False)
        if gone.returncode == 0:
            raise RuntimeError('image %s is still on the engine' % self.id)

    def remove(self) -> None:
        self.cli.run('rmi', '-f', self.id, check=False)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def push_pull(image: Image, registry, empty=True) -> tuple[float, float]:
    """Seconds of a push into emptied storage and of a pull of it back
    onto an engine that no longer holds the image."""
    if empty:
        registry.empty()
    ref = image.retag(registry.address)
    push = _timed(lambda: image.cli.run('push', ref, timeout=1800))
    image.remove_locally()
    pull = _timed(lambda: image.cli.run('pull', ref, timeout=1800))
    if image.cli.image_id(ref) != image.id:
        raise RuntimeError('the pull of %s gave another image' % ref)
    return push, pull


def measured(image: Image, registry) -> tuple[float, float, float, float]:
    """push s, pull s, RSS at start, peak RSS (MiB) of one push + pull."""
    registry.empty()
    pids = registry.pids()
    start = reset_peak(pids)
    push, pull = push_pull(image, registry, empty=False)
    pids = [p for p in registry.pids() if p in pids]
    return push, pull, start, peak(pids)


# -- output ---------------------------------------------------------------

def print_table(title, rows):
    """rows: (measure, ours s, baseline s, target)."""
    print('\n' + title)
    widths = (36, 22, 17, 7, 8)
    header = ('measure', 'nova-docker-registry', 'docker-registry',
              'ratio', 'target')
    line = '  '.join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print('-' * len(line))
    for what, ours, base, target in rows:
        cells = (what, '%.3f s' % ours, '%.3f s' % base,
                 '%.2f' % (ours / base), target)
        print('  '.join(c.ljust(w) for c, w in zip(cells, widths,
                                                   strict=True)))


def print_rss(rows):
    """rows: (registry, image MB, start, peak)."""
    print('\nPeak RSS of the registry worker over one push + pull (MiB)')
    widths = (22, 8, 13, 8, 8)
    header = ('registry', 'image', 'RSS at start', 'peak', 'growth')
    line = '  '.join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print('-' * len(line))
    for name, size, start, top in rows:
        cells = (name, '%d MB' % size, '%.1f' % start, '%.1f' % top,
                 '%.1f' % (top - start))
        print('  '.join(c.ljust(w) for c, w in zip(cells, widths,
                                                   strict=True)))


# -- main -------------------------------------------------------------------

def run(args, cli, ours, theirs) -> int:
    rss = []
    image = Image(cli, args.size, args.compressible)
    try:
        print('image: %.1f MB in 3 layers (%s)%s' % (
            image.bytes / 1e6, image.id[:19],
            ', compressible' if args.compressible else ''))
        push_pull(image, ours)  # untimed: connections, caches, page cache
        push_pull(image, theirs)
        samples = {'ours': [], 'theirs': []}
        ours_rss = None
        for n in range(args.rounds):
            mark = ours.log_mark()
            push, pull, start, top = measured(image, ours)
            samples['ours'].append((push, pull))
            if ours_rss is None or top > ours_rss[1]:
                ours_rss = (start, top)
            push_b, pull_b, start_b, top_b = measured(image, theirs)
            samples['theirs'].append((push_b, pull_b))
            print('round %d: push %.2f s vs %.2f s, pull %.2f s vs %.2f s'
                  % (n + 1, push, push_b, pull, pull_b), flush=True)
            if args.profile:
                print_phases(push, ours.phases(mark))
        rss.append(('nova-docker-registry', args.size) + ours_rss)
        rss.append(('docker-registry', args.size, start_b, top_b))
    finally:
        image.remove()

    def med(who, i):
        return statistics.median(s[i] for s in samples[who])

    rows = [('(a) push, %d MB, 3 layers' % args.size, med('ours', 0),
             med('theirs', 0), PUSH_TARGET),
            ('(b) pull, %d MB, 3 layers' % args.size, med('ours', 1),
             med('theirs', 1), PULL_TARGET)]

    if args.big:
        big = Image(cli, BIG_MB, args.compressible)
        try:
            print('big image: %.1f MB in 3 layers' % (big.bytes / 1e6))
            mark = ours.log_mark()
            push, pull, start, top = measured(big, ours)
            push_b, pull_b, start_b, top_b = measured(big, theirs)
            print('big: push %.2f s vs %.2f s, pull %.2f s vs %.2f s'
                  % (push, push_b, pull, pull_b), flush=True)
            if args.profile:
                print_phases(push, ours.phases(mark))
        finally:
            big.remove()
        rows += [('(a) push, %d MB, 3 layers (1 run)' % BIG_MB, push,
                  push_b, PUSH_TARGET),
                 ('(b) pull, %d MB, 3 layers (1 run)' % BIG_MB, pull,
                  pull_b, PULL_TARGET)]
        rss.insert(1, ('nova-docker-registry', BIG_MB, start, top))
        rss.append(('docker-registry', BIG_MB, start_b, top_b))

    print_table('nova-docker-registry vs docker-registry (Distribution '
                '2.8.2), medians of %d rounds' % args.rounds, rows)
    print_rss(rss)
    print('\n(c) target: nova-docker-registry\'s peak the same at %d MB and '
          '%d MB (no image or layer held whole in memory)'
          % (args.size, BIG_MB) if args.big else
          '\n(c) run with --big for the 1 GB image')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=ROUNDS)
    parser.add_argument('--size', type=int, default=SMALL_MB,
                        help='MB of the timed image (default %(default)s)')
    parser.add_argument('--big', action='store_true',
                        help='also push and pull a %d MB image once (RSS '
                             'at both sizes)' % BIG_MB)
    parser.add_argument('--profile', action='store_true',
                        help='print where each push of ours spent its '
                             'time (from the registry\'s log)')
    parser.add_argument('--compressible', action='store_true',
                        help='layers of hex text (gzip packs them about '
                             '2.2 times, as real layers) instead of random '
                             'bytes')
    parser.add_argument('--glance-workers', type=int, default=1)
    parser.add_argument('--glance-threads', type=int, default=8)
    parser.add_argument('--glance-chunk', type=int, default=MIB,
                        help='[fs] filesystem_store_chunk_size of the '
                             'Glance (default %(default)s; Glance\'s own '
                             'default is 65536)')
    args = parser.parse_args(argv)

    if shutil.which('docker-registry') is None:
        print('docker-registry (Distribution) is not installed: '
              'apt-get install docker-registry (or tools/'
              'ensure-registry-tools.sh)', file=sys.stderr)
        return 2

    state = tempfile.mkdtemp(prefix='bench-registry-')
    fixtures = []
    try:
        htpasswd = os.path.join(state, 'htpasswd')
        with open(htpasswd, 'w') as f:
            f.write(registry_fx.htpasswd_line(USER, PASSWORD) + '\n')
        theirs = Distribution(state, htpasswd)
        fixtures.append(theirs.stop)
        theirs.start()

        glance = glance_fx.GlanceServer(
            workers=args.glance_workers, threads=args.glance_threads,
            extra_conf={'fs': {'filesystem_store_chunk_size':
                               str(args.glance_chunk)}})
        glance.setUp()
        fixtures.append(glance.cleanUp)
        registry = registry_fx.RegistryServer(
            glance.url, {USER: (PASSWORD, PROJECT)})
        registry.setUp()
        fixtures.append(registry.cleanUp)
        ours = Ours(glance, registry)

        cli = registry_fx.DockerCLI()
        cli.setUp()
        fixtures.append(cli.cleanUp)
        cli.login(ours.address, USER, PASSWORD)
        cli.login(theirs.address, USER, PASSWORD)
        return run(args, cli, ours, theirs)
    finally:
        for cleanup in reversed(fixtures):
            try:
                cleanup()
            except Exception as exc:
                print('cleanup failed: %s' % exc, file=sys.stderr)
        shutil.rmtree(state, True)


if __name__ == '__main__':
    sys.exit(main())
