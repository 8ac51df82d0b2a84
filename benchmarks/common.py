"""Shared helpers: timing, result tables, a busybox image on the engine."""

import statistics
import time
import uuid

import requests_unixsocket

SOCKET_URL = 'http+unix://%2Fvar%2Frun%2Fdocker.sock'


def raw_session():
    return requests_unixsocket.Session()


def timed(fn, repeat):
    """Median seconds of ``repeat`` calls of ``fn``."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def interleaved(ours, baseline, repeat):
    """Median seconds of ``ours`` and of ``baseline``, called in turns so
    that drift in the engine or the machine hits both alike."""
    ours_t, base_t = [], []
    for _ in range(repeat):
        ours_t.append(timed(ours, 1))
        base_t.append(timed(baseline, 1))
    return statistics.median(ours_t), statistics.median(base_t)


def print_table(title, rows):
    """rows: (what, ours, baseline, unit, target)."""
    print('\n' + title)
    header = ('measure', 'nova-docker', 'baseline', 'ratio', 'target')
    widths = (44, 12, 12, 7, 8)
    line = '  '.join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print('-' * len(line))
    for what, ours, base, unit, target in rows:
        ratio = ours / base if base else float('nan')
        cells = (what, '%.4g %s' % (ours, unit), '%.4g %s' % (base, unit),
                 '%.2f' % ratio, target)
        print('  '.join(str(c).ljust(w) for c, w in zip(cells, widths,
                                                         strict=True)))


def unique(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:12])
