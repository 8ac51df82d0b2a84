"""Engine events -> Nova lifecycle events.

A container that exits on its own is seen at once instead of at the next
``_sync_power_states`` (ten minutes by default). Only start and stop are
reported: a pause seen here cannot tell Nova's pause from its suspend
(both freeze the container, see DockerDriver.suspend), and Nova records
those itself as it makes them.

Like the libvirt driver, a stop is held back for a while and dropped if the
container starts again in that time: a reboot is a stop and a start, and
Nova must not act on the half of it that arrives after the reboot ended.

The stream breaks when dockerd restarts, and the engine replays (``since``)
only the events it still holds in memory, none after its own restart. So
after every (re)connect the watcher lists this host's containers once and
reports what changed against the state it last knew; see ``resync``.
"""

from __future__ import annotations

import email.utils
import threading
import time

from nova.virt import event as virtevent
from oslo_log import log as logging

from nova_docker.docker import cancel
from nova_docker.docker import errors
from nova_docker import labels

LOG = logging.getLogger(__name__)

# Only filters every engine applies as Docker does: Podman 4 matches
# 'event' against names of its own ('died') and a 'label' by key=value
# only. The rest (our containers, the actions that matter) is picked
# by handle().
FILTERS = {
    'type': ['container'],
}


def event_filters(host: str | None) -> dict:
    """FILTERS, narrowed to the containers of compute ``host``."""
    if not host:
        return FILTERS
    label = '%s=%s' % (labels.LABEL_HOST, host)
    return dict(FILTERS, label=FILTERS.get('label', []) + [label])


# Reconnect delays: the first, doubled after each failed attempt, up to
# the cap. No jitter: each nova-compute follows its own engine, so there
# is no crowd of clients to spread out.
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0
# A stream that stayed up this long (or delivered a new event) counts as
# healthy: the next loss starts over at BACKOFF_FIRST and is warned about.
HEALTHY_AFTER = 10.0
DEFAULT_READ_TIMEOUT = 60.0
# Container states of /containers/json in which no 'die' has happened yet.
RUNNING_STATES = frozenset(['running', 'paused'])
# Outcomes of one stream.
QUIET, ENDED = 'quiet', 'ended'


def instance_uuid(engine_event: dict) -> str | None:
    attributes = (engine_event.get('Actor') or {}).get('Attributes') or {}
    # A sandbox's instance label is there, empty: not an instance.
    return labels.instance_of({'Labels': attributes})


def engine_nanos(stream) -> int | None:
    """The engine's clock when it answered (its ``Date`` header), in the
    unit of an event's ``timeNano``: a ``since`` for a stream that has
    delivered nothing yet, and free of skew between the hosts."""
    date = stream.headers.get('Date')
    try:
        return int(email.utils.parsedate_to_datetime(date).timestamp()
                   ) * 10 ** 9
    except (TypeError, ValueError):
        return None


def since_param(nanos: int) -> str:
    return '%d.%09d' % divmod(nanos, 10 ** 9)


class Backoff:
    """Delays between reconnect attempts: ``first``, doubling up to
    ``cap``, back to ``first`` after ``reset()``."""

    def __init__(self, first: float = BACKOFF_FIRST,
                 cap: float = BACKOFF_CAP):
        self._first = first
        self._cap = cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        return delay

    def reset(self) -> None:
        self._next = self._first


class EventWatcher:
    """Follows the engine's event stream in a thread of its own and hands
    lifecycle events to ``emit``.

    When the stream breaks it reconnects with backoff, resuming from the
    last event it saw, and resyncs from one container listing. A stream
    silent for ``read_timeout`` seconds is opened again quietly: that is
    how a silent network split to a tcp:// engine is noticed.
    """

    def __init__(self, client, emit, stop_delay: float,
                 read_timeout: float = DEFAULT_READ_TIMEOUT,
                 backoff: Backoff | None = None, host: str | None = None):
        # With ``host``, only that compute host's containers are followed.
        self._host = host
        self._cancellation = cancel.Cancellation()
        # Every call of the watcher's thread can be aborted by stop(),
        # wherever it blocks; the driver's own calls are not affected.
        self._client = (client.interruptible(self._cancellation)
                        if client is not None else None)
        self._emit = emit
        self._stop_delay = stop_delay
        self._read_timeout = read_timeout
        self._backoff = backoff or Backoff()
        self._stopping = threading.Event()
        self._pending: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()
        # uuid -> running, as last seen (from events and listings).
        self._known: dict[str, bool] = {}
        self._listed = False
        self._last_nanos: int | None = None
        self._delivered = 0
        self._outage = False
        self._announced = False
        self._following = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='nova-docker-events')

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """End the thread and its connection, whatever it is doing."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            # Again and again: a socket registered in the instant before
            # its connect() began is only reachable once connect() runs.
            self._cancellation.cancel()
            self._thread.join(0.05)
        self._cancellation.cancel()
        with self._lock:
            for timer in self._pending.values():
                timer.cancel()
            self._pending.clear()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def following(self) -> bool:
        """True while a stream is open and its resync done."""
        return self._following.is_set()

    def wait_following(self, timeout: float) -> bool:
        """Wait until ``following``; False if it was not in time."""
        return self._following.wait(timeout)

    # -- the connection -----------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            opened = time.monotonic()
            self._delivered = 0
            outcome, problem = self._one_stream()
            if self._stopping.is_set():
                return
            if (self._delivered or
                    time.monotonic() - opened >= HEALTHY_AFTER):
                self._backoff.reset()
                self._outage = False
            if outcome == QUIET:
                # No event for read_timeout: normal for a quiet engine,
                # and the reconnect below also notices a dead link.
                LOG.debug('No engine event for %.0f s; reopening the '
                          'event stream', self._read_timeout)
                continue
            delay = self._backoff.next()
            self._report_loss(problem, delay)
            self._stopping.wait(delay)

    def _one_stream(self) -> tuple[str, str]:
        """Connect, resync, follow until the stream ends: (outcome, what
        went wrong)."""
        try:
            stream = self._open()
            try:
                self.resync()
                self._report_back()
                self._following.set()
                return self._read(stream), 'the engine ended the stream'
            finally:
                self._following.clear()
                stream.close()
        except errors.DockerError as exc:
            return ENDED, str(exc)
        except Exception as exc:
            # A bug here must not end the watcher for good.
            LOG.exception('Unexpected error following the engine events')
            return ENDED, 'unexpected error: %s' % exc

    def _open(self):
        # The stream is open before the listing of resync(): whatever
        # happens after the listing arrives on the stream, and 'since'
        # replays what the engine still holds from before.
        since = (since_param(self._last_nanos)
                 if self._last_nanos is not None else None)
        stream = self._client.events(since=since,
                                     filters=event_filters(self._host),
                                     timeout=self._read_timeout)
        if self._last_nanos is None:
            self._last_nanos = engine_nanos(stream)
        return stream

    def _read(self, stream) -> str:
        try:
            for engine_event in stream:
                if self._stopping.is_set():
                    return ENDED
                self._take(engine_event)
        except errors.EngineTimeout:
            return QUIET
        return ENDED

    def _take(self, engine_event: dict) -> None:
        nanos = int(engine_event.get('timeNano') or 0)
        if nanos:
            if self._last_nanos is not None and nanos <= self._last_nanos:
                return  # replayed by 'since': handled already
            self._last_nanos = nanos
        self._delivered += 1
        self.handle(engine_event)

    def _report_loss(self, problem: str, delay: float) -> None:
        if self._outage:
            LOG.debug('Docker Engine event stream still down (%s); next '
                      'attempt in %.1f s', problem, delay)
            return
        self._outage = True
        self._announced = False
        LOG.warning('Lost the Docker Engine event stream (%s); reconnecting '
                    'with backoff up to %.0f s', problem, BACKOFF_CAP)

    def _report_back(self) -> None:
        if self._outage and not self._announced:
            self._announced = True
            LOG.info('Following the Docker Engine event stream again; '
                     'container states resynced')

    # -- state ----------------------------------------------------------------

    def resync(self) -> None:
        """Report what changed since the state last known, from one
        label-filtered listing of this host's containers.

        The first listing only learns the state. Later, a container that
        runs now but did not is STARTED; one that ran and is stopped now
        is STOPPED (held back like a live stop). A container that ran and
        has vanished is reported STOPPED too: the listing cannot tell a
        delete by Nova from a removal behind its back, and a STOPPED only
        makes Nova sync the instance's power state (a deleted instance is
        skipped there), whereas silence would leave an instance that Nova
        believes running without its container until the periodic sync.
        """
        listing = self._client.list_containers(
            all=True, filters=labels.instance_label_filter(
                host=self._host))
        now = {labels.instance_of(c): c.get('State') in RUNNING_STATES
               for c in listing if labels.instance_of(c)}
        if not self._listed:
            self._known, self._listed = now, True
            return
        for uuid, running in now.items():
            if uuid in self._known or running:
                self._became(uuid, running)
            else:
                self._known[uuid] = False  # never seen running: no news
        for uuid in set(self._known) - set(now):
            self._became(uuid, False)
            del self._known[uuid]

    def handle(self, engine_event: dict) -> None:
        """Turn one engine event into what Nova should hear (if any)."""
        uuid = instance_uuid(engine_event)
        action = engine_event.get('Action')
        if uuid is None:
            return
        if action == 'start':
            self._became(uuid, True)
        elif action == 'die':
            self._became(uuid, False)
        elif action == 'destroy':
            # Removed, nearly always by Nova deleting the instance: it
            # need not hear of the stop that came just before.
            self._cancel_pending_stop(uuid)
            self._known.pop(uuid, None)

    def _became(self, uuid: str, running: bool) -> None:
        was = self._known.get(uuid)
        self._known[uuid] = running
        if was is running:
            return  # a replayed event, or a listing that agrees
        if running:
            self._cancel_pending_stop(uuid)
            self._emit(virtevent.LifecycleEvent(
                uuid, virtevent.EVENT_LIFECYCLE_STARTED))
        else:
            self._delay_stop(uuid)

    def _cancel_pending_stop(self, uuid: str) -> None:
        with self._lock:
            timer = self._pending.pop(uuid, None)
        if timer is not None:
            timer.cancel()

    def _delay_stop(self, uuid: str) -> None:
        def fire():
            with self._lock:
                if self._pending.get(uuid) is not timer:
                    return
                del self._pending[uuid]
            self._emit(virtevent.LifecycleEvent(
                uuid, virtevent.EVENT_LIFECYCLE_STOPPED))

        timer = threading.Timer(self._stop_delay, fire)
        timer.daemon = True
        with self._lock:
            if self._stopping.is_set():
                return
            previous = self._pending.pop(uuid, None)
            self._pending[uuid] = timer
        if previous is not None:
            previous.cancel()
        timer.start()
