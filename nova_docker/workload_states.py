"""This host's workloads' states from one listing, reused for a moment.

nova-compute's ``_sync_power_states`` asks ``get_info`` (with
``use_cache=True``) of every instance of the host, from a pool of
``[DEFAULT] sync_power_state_pool_size`` threads: an inspect each is an
engine call per instance and pass, while one labelled listing carries
every workload's state (``State`` of ``GET /containers/json``). The
listing is kept for ``max_age`` seconds (a pass over hundreds of
instances takes well under that) and dropped at once when this host
changes an instance (:meth:`StateCache.invalidate`), so only a change
made behind the driver's back (a workload that exits by itself, which
the event follower reports anyway) is seen up to ``max_age`` late. An
instance the listing lacks (made after it) is no answer: the caller asks
the engine about it. Docker itself records an exit in the view its
listing reads a moment (milliseconds) after a stop returns, where an
inspect sees it at once: nova reads without the cache after its actions.
"""

from collections.abc import Callable
import threading
import time

# A pass of nova's power-state sync over 500 instances reads the cache
# in about 5 ms after the listing; nova itself accepts older states with
# use_cache (Ironic's driver answers from a node list refreshed once a
# resource audit).
STATE_CACHE_SECONDS = 2.0


class StateCache:
    """Instance uuid -> the ``State`` of its workload (``running``,
    ``exited``, ``paused``...), from ``list_workloads()`` at most
    ``max_age`` seconds old and listed after the last change."""

    def __init__(self, list_workloads: Callable[[], list[dict]],
                 instance_of: Callable[[dict], str | None],
                 max_age: float = STATE_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self._list = list_workloads
        self._instance_of = instance_of
        self._max_age = max_age
        self._clock = clock
        # One listing at a time: the threads of a pass that find the cache
        # old wait for the first one's listing rather than list too.
        self._listing = threading.Lock()
        self._changes = threading.Lock()
        self._generation = 0
        # (generation, time listed, states) of the last listing.
        self._kept: tuple[int, float, dict[str, str]] | None = None

    def states(self) -> dict[str, str]:
        with self._listing:
            kept = self._kept
            if kept is not None and self._fresh(kept):
                return kept[2]
            generation, listed_at = self._generation, self._clock()
            states = {self._instance_of(c): c.get('State') or ''
                      for c in self._list()}
            # Kept under the generation it started in: a change made
            # while it was listed makes it old at once.
            self._kept = (generation, listed_at, states)
            return states

    def _fresh(self, kept) -> bool:
        generation, listed_at, _states = kept
        return (generation == self._generation and
                self._clock() - listed_at < self._max_age)

    def invalidate(self) -> None:
        """An instance changed here: the next caller lists again."""
        with self._changes:
            self._generation += 1
