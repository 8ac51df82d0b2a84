"""A member's metering in a thread of its own, beside the send.

Hashing a gzip layer twice (its bytes and what it unpacks to) and
inflating it cost about as much CPU as the engine's own unpacking; done
in the thread that sends the archive to the engine, that work and the
engine's waited for each other. :class:`Background` feeds a
:class:`~nova_docker.archive.layers.BlobMeter` from a bounded queue in a
thread (hashlib, zlib and zstd release the GIL), so the next piece goes
to the engine while the last one is measured. Its failures are raised to
the feeder at its next piece, and :meth:`Background.close` waits for the
rest (at most :data:`DEPTH` pieces) before the member's results are read.
"""

import queue
import threading

# Pieces (up to 1 MiB each) measured behind the send.
DEPTH = 8
# A worker with nothing to do for this long ends (an abandoned archive);
# the next piece starts another.
_IDLE = 10.0
_POLL = 0.1
_END = object()


class Background:
    """Feeds ``meter`` in order from a thread of its own."""

    def __init__(self, meter):
        self.meter = meter
        self._queue: queue.Queue = queue.Queue(DEPTH)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def feed(self, data) -> None:
        """Queue ``data``; raises what the meter raised before."""
        self._check()
        self._put(data)

    def close(self) -> None:
        """Wait for the queued pieces; raise what the meter raised."""
        self._put(_END)
        if self._thread is not None:
            self._thread.join()
        self._check()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _put(self, item) -> None:
        while True:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, daemon=True,
                    name='nova-docker-layer-meter')
                self._thread.start()
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                self._check()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=_IDLE)
            except queue.Empty:
                return
            if item is _END:
                return
            if self._error is None:
                try:
                    self.meter.feed(item)
                except BaseException as exc:  # raised to the feeder
                    self._error = exc
