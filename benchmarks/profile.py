"""Where a driver process spends its time, sampled with py-spy.

:func:`record` runs a command under ``py-spy record`` (raw, collapsed
stacks; idle threads are not sampled) and :func:`summary` says which
functions the busy samples were in: by the function on top of the stack
(self time) and by the outermost frame of a few libraries (inclusive), so
a hash, a copy or a parser shows up with its share.
"""

import collections
import os
import shutil
import subprocess
import sys

RATE = 250
TOP = 15
# Inclusive shares of these, by the first frame of theirs on a stack.
PACKAGES = ('nova_docker/', 'nova_docker/archive/background.py',
            'glanceclient/', 'urllib3/', 'requests/',
            'http/client', 'keystoneauth1/', 'nova/image/', 'hashlib',
            'queue.py', 'threading.py')


def record(command, out):
    """Run ``command`` under py-spy, samples into ``out``; the summary,
    or a note when py-spy is not installed."""
    # The venv's bin/ need not be on PATH.
    py_spy = shutil.which('py-spy', path=os.pathsep.join(
        (os.path.dirname(sys.executable), os.environ.get('PATH', ''))))
    if py_spy is None:
        return 'profile: py-spy is not installed (pip install py-spy)'
    subprocess.run([py_spy, 'record', '--format', 'raw', '--rate',
                    str(RATE), '--nonblocking', '-o', out, '--'] + command,
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    with open(out) as f:
        return summary(f)


def _stacks(lines):
    for line in lines:
        stack, _sep, count = line.rstrip('\n').rpartition(' ')
        if stack and count.isdigit():
            yield stack.split(';'), int(count)


def _function(frame):
    # py-spy writes "function (file:line)".
    name, _sep, where = frame.partition(' (')
    where = where.rsplit(':', 1)[0]
    return '%s (%s)' % (name, where.split('site-packages/')[-1])


# The frames of a load's threads: the send and the download (image/),
# and the metering of a compressed layer beside them (background.py).
LOAD_FRAMES = ('nova_docker/image/', 'nova_docker/archive/background.py')


def summary(lines, within=LOAD_FRAMES):
    """The text of a summary of py-spy's collapsed stacks ``lines``,
    of the samples with a frame of one of ``within`` (not the
    start-up)."""
    leaf, package, total = collections.Counter(), collections.Counter(), 0
    for frames, count in _stacks(lines):
        if not any(name in frame for frame in frames for name in within):
            continue
        total += count
        leaf[_function(frames[-1])] += count
        seen = set()
        for frame in frames:
            for name in PACKAGES:
                if name in frame and name not in seen:
                    seen.add(name)
                    package[name] += count
    if not total:
        return 'profile: no samples'
    out = ['Profile of one load (%d busy samples at %d Hz = %.1f s of '
           'CPU or wait in Python threads)' % (total, RATE, total / RATE),
           'self time (function on top of the stack):']
    out += ['  %5.1f %%  %s' % (100.0 * n / total, name)
            for name, n in leaf.most_common(TOP)]
    out.append('inclusive (a frame of the library anywhere on the stack):')
    out += ['  %5.1f %%  %s' % (100.0 * n / total, name)
            for name, n in package.most_common()]
    return '\n'.join(out)
