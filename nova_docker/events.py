"""Engine events -> Nova lifecycle events.

A container that exits on its own is seen at once instead of at the next
``_sync_power_states`` (ten minutes by default). Only start and stop are
reported: a pause seen here cannot tell Nova's pause from its suspend
(both freeze the container, see DockerDriver.suspend), and Nova records
those itself as it makes them.

Like the libvirt driver, a stop is held back for a while and dropped if the
container starts again in that time: a reboot is a stop and a start, and
Nova must not act on the half of it that arrives after the reboot ended.
"""

import threading

from nova.virt import event as virtevent
from oslo_log import log as logging

from nova_docker import container
from nova_docker.docker import errors

LOG = logging.getLogger(__name__)

FILTERS = {
    'type': ['container'],
    'event': ['start', 'die', 'destroy'],
    'label': [container.LABEL_INSTANCE_UUID],
}
RECONNECT_DELAY = 5.0


def instance_uuid(engine_event: dict) -> str | None:
    attributes = (engine_event.get('Actor') or {}).get('Attributes') or {}
    return attributes.get(container.LABEL_INSTANCE_UUID)


class EventWatcher:
    """Follows the engine's event stream in a thread of its own and hands
    lifecycle events to ``emit``, resuming where it left off when the
    stream breaks (e.g. dockerd restarts)."""

    def __init__(self, client, emit, stop_delay: float):
        self._client = client
        self._emit = emit
        self._stop_delay = stop_delay
        self._stopping = threading.Event()
        self._pending: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()
        self._stream = None
        self._since: str | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='nova-docker-events')

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        with self._lock:
            for timer in self._pending.values():
                timer.cancel()
            self._pending.clear()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._follow()
            except errors.DockerError as exc:
                if self._stopping.is_set():
                    return
                LOG.warning('Lost the Docker Engine event stream (%s); '
                            'reconnecting in %.0f s', exc, RECONNECT_DELAY)
                self._stopping.wait(RECONNECT_DELAY)
            except Exception:
                if self._stopping.is_set():
                    return
                LOG.exception('Unexpected error in the event stream')
                self._stopping.wait(RECONNECT_DELAY)

    def _follow(self) -> None:
        # 'since' replays what happened while we were disconnected.
        self._stream = self._client.events(since=self._since,
                                           filters=FILTERS)
        for engine_event in self._stream:
            if self._stopping.is_set():
                return
            nanos = engine_event.get('timeNano')
            if nanos:
                self._since = '%d.%09d' % divmod(int(nanos), 10 ** 9)
            self.handle(engine_event)

    def handle(self, engine_event: dict) -> None:
        uuid = instance_uuid(engine_event)
        action = engine_event.get('Action') or engine_event.get('status')
        if uuid is None:
            return
        self._cancel_pending_stop(uuid)
        if action == 'start':
            self._emit(virtevent.LifecycleEvent(
                uuid, virtevent.EVENT_LIFECYCLE_STARTED))
        elif action == 'die':
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
            self._pending[uuid] = timer
        timer.start()
