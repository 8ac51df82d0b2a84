"""A blob sent into Glance while its PATCH arrives.

Docker sends a layer in one PATCH, as fast as it compresses it, then a
PUT with the digest. Copying the upload file into Glance at that PUT
made every push wait for Glance to ingest each blob once more; a stream
started with the PATCH hides that copy behind the upload itself.

The image it fills has no records (nothing trusts or serves it) until
the PUT's digest verifies and :meth:`.storage.Storage.store_blob` seals
it; the upload's side file names it, so a cancelled, refused or expired
upload deletes it (see :mod:`.uploads`).
"""

import queue
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# 1 MiB pieces held between the PATCH and Glance: the registry's memory
# stays flat whatever the blob's size.
DEPTH = 4
_DONE = object()


class BlobStream:
    """One Glance upload fed chunk by chunk from another thread.

    :param upload: ``upload(image_id, chunks)``, Glance's data PUT.
    :param delete: ``delete(image_id)``, quiet.

    A Glance that fails the stream fails only the stream: :meth:`feed`
    drops what follows and :meth:`close` says None, and the blob is
    copied from the upload file at the PUT as before.
    """

    def __init__(self, image_id: str, upload, delete):
        self.image_id = image_id
        self._delete = delete
        self._queue = queue.Queue(DEPTH)
        self._failed = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(upload,), daemon=True,
            name='blob-stream-%s' % image_id)
        self._thread.start()

    def _chunks(self):
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._stopped.is_set():
                raise RuntimeError('the upload was abandoned')
            yield item

    def _run(self, upload) -> None:
        try:
            upload(self.image_id, self._chunks())
        except Exception as exc:
            if not self._stopped.is_set():
                LOG.info('Streaming into Glance image %s failed (%s); the '
                         'blob is copied at its PUT instead', self.image_id,
                         exc)
            self._failed.set()
        finally:
            # Let a feeder blocked on a full queue go.
            while not self._queue.empty():
                self._queue.get_nowait()

    def _put(self, item) -> None:
        while not self._failed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def feed(self, chunk: bytes) -> None:
        if not self._failed.is_set():
            self._put(chunk)

    def close(self) -> str | None:
        """End the data; the image id once Glance holds all of it, else
        None (and the image is gone)."""
        self._put(_DONE)
        self._thread.join()
        if self._failed.is_set():
            self._delete(self.image_id)
            return None
        return self.image_id

    def abort(self) -> None:
        """Stop the stream and delete its image."""
        self._stopped.set()
        self._failed.set()
        try:
            self._queue.put_nowait(_DONE)
        except queue.Full:
            pass
        self._thread.join()
        self._delete(self.image_id)
