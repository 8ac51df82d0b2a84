"""Glance calls of one request that need not wait for each other.

A manifest PUT makes a dozen Glance calls, each a round trip of 10-50 ms
on the push's critical path (Docker waits for the PUT's answer): the
lookups of the blobs it names, the probes of their first bytes, the
manifest's own image beside the tag's archive. These helpers run such
calls side by side, and keep the first error in the order the calls were
given, as one after the other would have raised it.
"""

import concurrent.futures
import threading
from collections.abc import Callable, Iterable

# Glance calls of one request in flight at once.
MAX_THREADS = 8


def in_parallel(calls: Iterable[Callable[[], object]]) -> list:
    """What each of ``calls`` returns, in order, all run at once; once all
    ended, the exception of the first (in order) that raised."""
    calls = list(calls)
    if len(calls) < 2:
        return [call() for call in calls]
    with concurrent.futures.ThreadPoolExecutor(
            min(len(calls), MAX_THREADS),
            thread_name_prefix='registry-call') as pool:
        futures = [pool.submit(call) for call in calls]
    return [future.result() for future in futures]


def started(call: Callable[[], object]) -> concurrent.futures.Future:
    """``call`` running in a thread of its own; its future."""
    future: concurrent.futures.Future = concurrent.futures.Future()

    def run():
        try:
            future.set_result(call())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name='registry-background',
                     daemon=True).start()
    return future
