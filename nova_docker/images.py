"""Glance images -> engine-local images.

A Glance image lives on the engine under a name derived from its Glance id
(``glance/<id>:latest``), never under the name a user gave it: two projects'
``app:latest`` never meet, and a cached private image is only reachable
through an image_ref Nova has already authorised.
"""

from nova import exception
from nova.image import glance
from oslo_concurrency import lockutils
from oslo_log import log as logging

from nova_docker.docker import errors

LOG = logging.getLogger(__name__)

LOCAL_REPO_PREFIX = 'glance/'
LOCAL_TAG = 'latest'
DOCKER_CONTAINER_FORMAT = 'docker'


def local_repo(image_id: str) -> str:
    return LOCAL_REPO_PREFIX + image_id


def local_ref(image_id: str) -> str:
    return '%s:%s' % (local_repo(image_id), LOCAL_TAG)


def check_acceptable(image_meta) -> None:
    """Only container_format docker boots on this driver."""
    fmt = image_meta.container_format if image_meta.obj_attr_is_set(
        'container_format') else None
    if fmt != DOCKER_CONTAINER_FORMAT:
        raise exception.ImageUnacceptable(
            image_id=image_meta.id,
            reason='container_format is %r; the Docker driver boots only '
                   'images with container_format %r (upload a `docker '
                   'save` tar or a root filesystem tar with that format)'
                   % (fmt, DOCKER_CONTAINER_FORMAT))


def loaded_name(lines: list[dict]) -> str | None:
    """What ``POST /images/load`` says it loaded, from its last line."""
    for line in reversed(lines):
        stream = (line.get('stream') or '').strip()
        for prefix in ('Loaded image ID: ', 'Loaded image: '):
            if stream.startswith(prefix):
                return stream[len(prefix):]
    return None


class ImageLoader:
    """Makes a Glance image available on the engine, once per image id."""

    def __init__(self, client, image_api=None):
        self._client = client
        self._image_api = image_api or glance.API()

    def ensure_local(self, context, image_meta) -> str:
        """The engine-local reference of ``image_meta``, loading it first
        when the engine does not have it."""
        ref = local_ref(image_meta.id)
        if self._exists(ref):
            return ref
        # Concurrent boots of one image wait for a single load.
        with lockutils.lock('nova-docker-image-' + image_meta.id):
            if not self._exists(ref):
                self._load(context, image_meta.id)
        return ref

    def _exists(self, ref: str) -> bool:
        try:
            self._client.inspect_image(ref)
            return True
        except errors.NotFound:
            return False

    def _load(self, context, image_id: str) -> None:
        LOG.info('Loading Glance image %s into the engine', image_id)
        chunks = self._image_api.download(context, image_id)
        try:
            lines = self._client.load_image(chunks)
        except errors.DockerError as exc:
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason='its data is not a loadable Docker image '
                       '(engine said: %s)' % exc.explanation) from exc
        name = loaded_name(lines)
        if name is None:
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason='the engine loaded it but did not say what it loaded')
        self._client.tag_image(name, local_repo(image_id), LOCAL_TAG)
        if not name.startswith('sha256:'):
            # Keep only the id-derived name: the user-chosen one would let
            # a later load of another image with that name replace it.
            self._client.remove_image(name, noprune=True)
