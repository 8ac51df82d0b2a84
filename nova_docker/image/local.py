"""The engine-local copies of Glance images, and the snapshots' commits.

One owner for what the loader, the snapshotter, the image cache and the
driver each need of them:

* a Glance image lives on the engine as ``glance/<image id>:latest``
  (the names in :mod:`nova_docker.image.names`), loaded and removed under
  one lock per image id, and on every use named anew
  ``glance/<image id>:used`` (its age for the cache);
* a snapshot's committed image is tagged
  ``nova-docker-snapshot/<Glance id>:uploading`` while it uploads, so
  that one a failed snapshot could not remove is found again by the
  next snapshot or cache pass (the driver keeps no record of its own);
* removal is quiet: an image already gone (NotFound) or still used by a
  container (Conflict) stays as it is, and any other refusal is logged
  with the engine's reason, never raised - a removal is always cleanup
  after something else, which is the news.
"""

from collections.abc import Iterator
import contextlib
import threading

from oslo_concurrency import lockutils
from nova import exception
from oslo_log import log as logging

from nova_docker import exception as docker_exception
from nova_docker.docker import errors as docker_errors
from nova_docker.image import names

LOG = logging.getLogger(__name__)

# Glance ids of the snapshots this process is uploading now; any other
# committed image is a leftover (after a restart of nova-compute, all are).
_uploading: set[str] = set()
_uploading_lock = threading.Lock()


def leftover_commits(images: list[dict]) -> list[str]:
    """Tags of committed images (from ``GET /images/json``) that no
    snapshot of this process is uploading."""
    with _uploading_lock:
        busy = {names.commit_ref(image_id) for image_id in _uploading}
    return sorted(tag for image in images
                  for tag in image.get('RepoTags') or []
                  if tag.startswith(names.COMMIT_REPO_PREFIX)
                  and tag not in busy)


class LocalImages:
    """The engine's copies of Glance images and the snapshots' commits:
    their lock, last use, tagging and quiet removal."""

    def __init__(self, client):
        self._client = client

    # -- Glance images on the engine ---------------------------------------

    @staticmethod
    def lock(image_id: str):
        """The lock that serialises loading and removal of one image."""
        return lockutils.lock(names.lock_name(image_id))

    def touch(self, image_id: str) -> bool:
        """True if the engine holds Glance image ``image_id``; naming it
        anew records the time it was last used (the image cache ages
        images by that)."""
        try:
            self._mark_used(image_id)
        except (docker_errors.NotFound, docker_errors.Conflict):
            # Removed meanwhile (its last name, the marker, could not go
            # while a container uses it: Conflict): load it again.
            return False
        return True

    def _mark_used(self, image_id: str) -> None:
        # The containerd image store keeps a name's time when it is tagged
        # again onto the image it already names; a name made anew is new
        # on every store, and the image's LastTagTime is its newest name's.
        try:
            self._client.remove_image(names.used_ref(image_id))
        except docker_errors.NotFound:
            pass
        self._client.tag_image(names.local_ref(image_id),
                               names.local_repo(image_id), names.USED_TAG)

    def tag(self, engine_image: str, image_id: str) -> None:
        """Name ``engine_image`` (an id or a reference) as Glance image
        ``image_id``."""
        self._client.tag_image(engine_image, names.local_repo(image_id),
                               names.LOCAL_TAG)

    def config(self, image_id: str) -> dict | None:
        """The image config (``Config`` of its inspect) of loaded Glance
        image ``image_id``: what the workload's create body must pin or
        may take from it."""
        def unshown(exc: docker_errors.DockerError) -> Exception:
            return exception.InstanceDeployFailure(
                reason='the engine could not show the image %s: %s'
                       % (names.local_ref(image_id),
                          docker_exception.reason(exc)))
        with docker_exception.engine_boundary(api_error=unshown):
            return self._client.inspect_image(
                names.local_ref(image_id)).get('Config')

    def layers(self, image_id: str) -> tuple | None:
        """The diff ids (``RootFS.Layers``) of loaded Glance image
        ``image_id``, None if the engine does not hold it."""
        with docker_exception.engine_boundary():
            try:
                info = self._client.inspect_image(names.local_ref(image_id))
            except docker_errors.NotFound:
                return None
        return tuple((info.get('RootFS') or {}).get('Layers') or ())

    def forget_refused(self, image_id: str, instance=None) -> bool:
        """Remove loaded Glance image ``image_id`` that no instance may
        boot (it was refused after it was loaded); one that a container
        still uses (booted before it was refused) stays. Quiet: see
        :meth:`remove`."""
        return self.remove_cached(image_id, 'a refused image',
                                  instance=instance)

    def remove_cached(self, image_id: str, why: str, instance=None) -> bool:
        """Remove loaded Glance image ``image_id`` (both its names)
        quietly: see :meth:`remove`. The marker of its last use goes
        first, so that the last name removed is ``latest``, which the
        engine keeps (Conflict) while a container uses the image."""
        self.remove(names.used_ref(image_id), why, instance=instance)
        return self.remove(names.local_ref(image_id), why,
                           instance=instance)

    def remove(self, ref: str, why: str, instance=None) -> bool:
        """Remove engine image ``ref`` quietly; True if it was removed.

        Already gone (NotFound) or still used by a container (Conflict):
        it stays as it is. Any other refusal, the engine being down
        included, is logged with the engine's reason and not raised.

        :param why: what the image is, for the log, e.g. ``left by the
            failed load of image <id>``.
        """
        try:
            self._client.remove_image(ref)
        except docker_errors.NotFound:
            return False
        except docker_errors.Conflict as exc:
            LOG.info('%s (%s) stays, a container uses it: %s', ref, why,
                     docker_exception.reason(exc), instance=instance)
            return False
        except docker_errors.DockerError as exc:
            LOG.warning('Could not remove %s (%s): %s', ref, why,
                        docker_exception.reason(exc), instance=instance)
            return False
        LOG.info('Removed %s (%s)', ref, why, instance=instance)
        return True

    # -- snapshots' commits -------------------------------------------------

    @staticmethod
    @contextlib.contextmanager
    def uploading(image_id: str) -> Iterator[None]:
        """While a snapshot into ``image_id`` uploads, its committed image
        is no leftover."""
        with _uploading_lock:
            _uploading.add(image_id)
        try:
            yield
        finally:
            with _uploading_lock:
                _uploading.discard(image_id)

    def remove_commit(self, image_id: str, instance=None) -> bool:
        """Remove the committed image of the snapshot into ``image_id``
        (quietly: the next snapshot or image cache pass tries again)."""
        return self.remove(names.commit_ref(image_id),
                           'the committed image of snapshot %s' % image_id,
                           instance=instance)

    def remove_leftover_commits(self, images: list[dict] | None = None
                                ) -> None:
        """Remove committed images that failed snapshots could not remove
        (the engine was down then); ``images`` is a listing the caller
        already has."""
        if images is None:
            try:
                images = self._client.list_images(
                    filters={'reference': [names.COMMIT_REPO_PREFIX + '*']})
            except docker_errors.DockerError as exc:
                LOG.warning('Could not look for images left by failed '
                            'snapshots: %s', docker_exception.reason(exc))
                return
        for ref in leftover_commits(images):
            self.remove(ref, 'left by a failed snapshot')
