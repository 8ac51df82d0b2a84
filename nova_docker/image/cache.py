"""Removal of cached Glance images no instance uses any more.

Which images: those tagged ``glance/<image id>:latest`` (the loader's
names), and nothing else on the engine; plus the committed images that
failed snapshots could not remove (see
:meth:`nova_docker.image.local.LocalImages.remove_leftover_commits`), and
last-use markers (``glance/<id>:used``) whose image lost its main name:
a marker alone would keep the data for ever.

In use: an image that any container on the engine runs (in any state),
or that an instance Nova passes in ``all_instances`` was booted from
(that covers an instance whose container is still being created).

Age: the driver keeps no state of its own, so "last used" lives in the
engine: the image's ``Metadata.LastTagTime``, which the engine sets
whenever the image gets a new name. The loader tags an image when it
loads it and names it anew (``glance/<id>:used``) on every boot that
finds it cached, and this manager does so for every image it finds in
use (the containerd store keeps the time of a name tagged again onto
the image it names: only a new name moves it); so the age is the time
since the image was last loaded, booted or seen in use - the same rule
as the libvirt driver, which touches its cached files. An image never
tagged since an engine upgrade falls back to its ``Created`` time, and
so does every image on Podman, whose Docker API has no LastTagTime
(doc/source/support-matrix.rst).

An image unused and older than ``[image_cache]
remove_unused_original_minimum_age_seconds`` is removed (untagged if
another Glance id names the same data) when ``[image_cache]
remove_unused_base_images`` is true. The check is repeated under the
image's load lock just before removal, so a boot that has just used the
image keeps it.
"""

import datetime

from nova import conf as nova_conf
from oslo_log import log as logging
from oslo_utils import timeutils

from nova_docker.docker import errors as docker_errors
from nova_docker.image import names
from nova_docker.image.local import LocalImages

CONF = nova_conf.CONF
LOG = logging.getLogger(__name__)

_NEVER = '0001-01-01T00:00:00Z'


def cached_images(images: list[dict]) -> dict[str, dict]:
    """Glance id -> engine image summary, for the loader's images."""
    found = {}
    for image in images:
        for tag in image.get('RepoTags') or []:
            image_id = names.glance_id(tag)
            if image_id:
                found[image_id] = image
    return found


def orphan_markers(images: list[dict]) -> set[str]:
    """Glance ids whose last-use marker (``glance/<id>:used``) names an
    image that is no longer cached as ``glance/<id>:latest``: a removal
    of the image's main name alone left it."""
    tags = {tag for image in images for tag in image.get('RepoTags') or []}
    marked = {names.marked_id(tag) for tag in tags} - {None}
    return {image_id for image_id in marked
            if names.local_ref(image_id) not in tags}


def last_used(info: dict) -> datetime.datetime:
    """When an image was last tagged (loaded, booted or seen in use), or
    created if it never was tagged; from ``GET /images/{name}/json``."""
    tagged = (info.get('Metadata') or {}).get('LastTagTime') or _NEVER
    if tagged.startswith('0001-'):
        tagged = info.get('Created') or _NEVER
    return timeutils.normalize_time(timeutils.parse_isotime(tagged))


def images_in_use(containers: list[dict], all_instances) -> tuple[set, set]:
    """(engine image ids run by containers, Glance ids of instances)."""
    engine_ids = {c.get('ImageID') for c in containers if c.get('ImageID')}
    # image_ref is a column nova always loads; never lazy-load it here.
    glance_ids = {inst.image_ref for inst in all_instances
                  if inst.obj_attr_is_set('image_ref') and inst.image_ref}
    return engine_ids, glance_ids


class ImageCache:
    """The driver's ``manage_image_cache``."""

    def __init__(self, client):
        self._client = client
        self._local = LocalImages(client)

    def manage(self, context, all_instances) -> None:
        listed = self._client.list_images()
        self._local.remove_leftover_commits(listed)
        for image_id in sorted(orphan_markers(listed)):
            self._remove_orphan_marker(image_id)
        cached = cached_images(listed)
        if not cached:
            return
        engine_ids, glance_ids = images_in_use(
            self._containers(set(cached), all_instances), all_instances)
        for image_id, image in sorted(cached.items()):
            if image['Id'] in engine_ids or image_id in glance_ids:
                self._mark_in_use(image_id)
            else:
                self._expire(image_id)

    def _containers(self, cached: set, all_instances) -> list[dict]:
        """Every container of the engine, when their images can decide:
        only an image no instance was booted from needs them (an
        operator's container may run it). At hundreds of instances the
        listing of every container is the pass's dearest call, and an
        image cache whose images all belong to instances needs none."""
        _engine_ids, glance_ids = images_in_use([], all_instances)
        if cached <= glance_ids:
            return []
        return self._client.list_containers(all=True)

    def _mark_in_use(self, image_id: str) -> None:
        LOG.debug('Cached image %s is in use', image_id)
        self._local.touch(image_id)

    def _expire(self, image_id: str) -> None:
        max_age = CONF.image_cache.remove_unused_original_minimum_age_seconds
        # The same lock as a load: no load or removal of this image runs
        # at the same time, and a boot that just used it has re-tagged it.
        with self._local.lock(image_id):
            ref = names.local_ref(image_id)
            try:
                info = self._client.inspect_image(ref)
            except docker_errors.NotFound:
                return
            age = (timeutils.utcnow() - last_used(info)).total_seconds()
            if age < max_age:
                LOG.debug('Cached image %s is unused but only %d s old',
                          ref, age)
                return
            if self._used_by_a_container(info['Id']):
                return
            if not CONF.image_cache.remove_unused_base_images:
                LOG.info('Cached image %s is unused for %d s; '
                         '[image_cache] remove_unused_base_images is '
                         'false, so it stays', ref, age)
                return
            self._local.remove_cached(
                image_id, 'cached image, unused for %d s' % age)

    def _remove_orphan_marker(self, image_id: str) -> None:
        # Under the load lock: a load of the image names it ``latest``
        # before it marks it used, so the check below sees it.
        with self._local.lock(image_id):
            try:
                self._client.inspect_image(names.local_ref(image_id))
                return
            except docker_errors.NotFound:
                pass
            self._local.remove(names.used_ref(image_id),
                               'the last-use marker of an image no longer '
                               'cached')

    def _used_by_a_container(self, engine_id: str) -> bool:
        containers = self._client.list_containers(all=True)
        return any(c.get('ImageID') == engine_id for c in containers)
