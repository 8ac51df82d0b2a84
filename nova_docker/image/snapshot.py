"""Container -> Glance image (``nova image-create``).

The container is committed to an untagged engine image, whose ``docker
save`` archive streams through a tar check straight into Glance's upload
(no copy in memory or on disk), and the committed image is removed
again. A failure after the upload began deletes the Glance image, so no
half-uploaded image is ever left behind.

While it is uploaded, the committed image is tagged
``nova-docker-snapshot/<Glance id>:uploading``. If the engine dies before
the image can be removed, that tag is how the next snapshot or image
cache pass finds it (:class:`nova_docker.image.local.LocalImages` owns
those tags and their removal): the driver keeps no record of its own,
and an untagged image would be indistinguishable from anyone else's.
"""

import contextlib
import functools
import io
import time
from collections.abc import Iterable

from nova.compute import task_states
from nova.compute import utils as compute_utils
from nova import conf as nova_conf
from nova import exception
from nova.image import glance
from nova import utils as nova_utils
from oslo_log import log as logging

from nova_docker import exception as docker_exception
from nova_docker.docker import errors as docker_errors
from nova_docker.image import names
from nova_docker.image.local import LocalImages
from nova_docker.image import source
from nova_docker.archive import partial
from nova_docker.archive import tarstream
from nova_docker import labels

CONF = nova_conf.CONF
LOG = logging.getLogger(__name__)

# The instance's identity and its compute host must not travel with the
# image: anyone allowed to boot the image could read them. Every label of
# ours is blanked (the container carries the image's others as they were).
# One LABEL instruction per label: Podman's parser of a commit's changes
# reads the rest of a LABEL line with several pairs as the first one's
# value, leaving the others as they were.
COMMIT_CHANGES = ['LABEL "%s"=""' % label for label in labels.KNOWN_LABELS]

# A failed upload is deleted from Glance with this many tries, the n-th
# after n times this many seconds.
DELETE_ATTEMPTS = 4
DELETE_RETRY_DELAY = 0.5

# Image properties that describe one upload, not how to boot the image.
_NOT_INHERITED = frozenset((
    'img_signature', 'img_signature_hash_method', 'img_signature_key_type',
    'img_signature_certificate_uuid', 'os_hash_algo', 'os_hash_value',
    'checksum', 'size', 'image_location', 'image_state', 'owner_id',
    'base_image_ref', 'image_type', 'instance_uuid', 'user_id',
))
# The registry's records of a push (nova-docker-registry): a snapshot is
# no push, and a copy would make it pull as the old push's image.
REGISTRY_PROPERTY_PREFIX = 'nova_docker_'


def never_inherited(key: str) -> bool:
    """Whether an image property must not pass from the image an instance
    booted from to its snapshot: as nova's API rules it, with this host's
    ``[DEFAULT] non_inheritable_image_properties``, and the registry's."""
    never = (compute_utils.NON_INHERITABLE_IMAGE_PROPERTIES
             | set(CONF.non_inheritable_image_properties))
    prefixes = (('img_signature', REGISTRY_PROPERTY_PREFIX)
                + tuple(compute_utils.NON_INHERITABLE_IMAGE_NAMESPACES))
    return key in never or key.startswith(prefixes)


def boot_properties(instance) -> dict:
    """The image properties the instance was booted with (from its system
    metadata), less those that only describe the original upload and
    those never inherited."""
    if not instance.obj_attr_is_set('system_metadata'):
        return {}
    image = nova_utils.get_image_from_system_metadata(
        instance.system_metadata or {})
    return {key: value for key, value in image['properties'].items()
            if key not in _NOT_INHERITED and not never_inherited(key)}


def snapshot_metadata(instance, current: dict | None = None) -> dict:
    """What the driver sends to Glance with the data, like the libvirt
    driver's ``_create_snapshot_metadata``, plus the boot properties (the
    command above all) so the snapshot boots like the instance did.

    :param current: the properties nova's API gave the snapshot's image
        (copied from the boot image, and the request's own); they win
        over the boot properties, less those never inherited, which the
        upload removes (nova's API copies the registry's).
    """
    properties = boot_properties(instance)
    properties.update({key: value for key, value in (current or {}).items()
                       if not never_inherited(key)})
    properties.update({
        'image_location': 'snapshot',
        'image_state': 'available',
        'owner_id': instance.project_id,
    })
    if instance.obj_attr_is_set('os_type') and instance.os_type:
        properties['os_type'] = instance.os_type
    return {'disk_format': 'raw',
            'container_format': names.DOCKER_CONTAINER_FORMAT,
            'properties': properties}


def commit_failed(image_id: str, instance, exc: docker_errors.DockerError
                  ) -> exception.NovaException:
    """What the engine's refusal to commit the instance's container means
    (the engine boundary's ``api_error`` for a commit)."""
    if isinstance(exc, docker_errors.NotFound):
        # As libvirt says of a missing domain: nova's compute manager
        # then deletes the image it made for the snapshot.
        return exception.InstanceNotRunning(instance_id=instance.uuid)
    return docker_exception.SnapshotFailed(
        image_id=image_id,
        reason='the engine could not commit container %s: %s'
               % (labels.container_name(instance),
                  docker_exception.reason(exc)))


def save_failed(image_id: str, exc: docker_errors.DockerError
                ) -> exception.NovaException:
    """What the engine's failure to save the committed image means."""
    return docker_exception.SnapshotFailed(
        image_id=image_id,
        reason='the engine failed to save the committed image: %s'
               % docker_exception.reason(exc))


def upload_failed(image_id: str, exc: Exception) -> exception.NovaException:
    """What any other failure of the upload means: the engine's save
    stream was no image archive, or Glance failed."""
    if isinstance(exc, tarstream.TarFormatError):
        reason = str(exc)
    else:
        reason = 'the upload to Glance failed: %s' % (
            str(exc) or type(exc).__name__)
    return docker_exception.SnapshotFailed(image_id=image_id, reason=reason)


@contextlib.contextmanager
def upload_errors(image_id: str):
    """An upload's failures in nova's terms: the engine's through the one
    engine boundary, a nova exception as it is, any other by
    :func:`upload_failed`."""
    try:
        with docker_exception.engine_boundary(
                api_error=functools.partial(save_failed, image_id)):
            yield
    except exception.NovaException:
        raise
    except Exception as exc:
        raise upload_failed(image_id, exc) from exc


def check_saved(tar: tarstream.TarStream) -> None:
    """The engine's save stream must be one complete image archive (the
    engine reports an error in the middle of a save by writing it into
    the archive)."""
    if tar.kind != tarstream.DOCKER_SAVE or tar.manifest is None:
        raise tarstream.TarFormatError(
            'the engine\'s `docker save` stream is not an image archive')
    if len(tar.manifest) != 1:
        raise tarstream.TarFormatError(
            'the engine saved %d images instead of one' % len(tar.manifest))


# glanceclient passes each read() of the upload on to urllib3, which
# copies every chunk it frames for chunked transfer: at 1 MiB a piece that
# copy cost 1.1 ms per MiB on the 2-core development machine, at 64 KiB a
# fifth of that (the allocator reuses pieces that small). The engine's
# save stream comes in 32 KiB chunks, handed on as they are.
UPLOAD_PIECE = 64 * 1024


class IterReader(io.RawIOBase):
    """A read-only file over an iterable of bytes (glanceclient uploads
    file-like objects only).

    ``read(n)`` hands out the iterable's own chunks when they fit in
    ``n`` (and in ``piece``), so nothing is copied on the way; only a chunk
    larger than that is cut.
    """

    def __init__(self, chunks: Iterable[bytes], piece: int = UPLOAD_PIECE):
        super().__init__()
        self._chunks = iter(chunks)
        self._piece = piece
        self._rest = b''

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b''
            self._rest = chunk
        take = min(size, self._piece)
        if len(self._rest) <= take:
            piece, self._rest = self._rest, b''
            return piece
        view = memoryview(self._rest)
        piece, self._rest = bytes(view[:take]), view[take:]
        return piece

    def readall(self) -> bytes:
        return b''.join(iter(lambda: self.read(self._piece), b''))

    def readinto(self, buffer) -> int:
        piece = self.read(len(buffer))
        buffer[:len(piece)] = piece
        return len(piece)


class Snapshotter:
    """Uploads a container's file system to a Glance image Nova made."""

    def __init__(self, client, image_api=None):
        self._client = client
        self._image_api = image_api or glance.API()
        self._local = LocalImages(client)

    def snapshot(self, context, instance, image_id: str,
                 update_task_state, held=None) -> None:
        """Commit the instance's workload and upload it into ``image_id``.

        :param held: what the image's receiver holds (a migration's
            target, :class:`nova_docker.migration.PartialBase`): its
            ``layers``, the diff ids of the base the workload was made
            from, are left out when the committed image is that base plus
            one layer, and its ``properties`` then go with the image. A
            save that turns out not to hold them as expected fails with a
            SnapshotFailed caused by :class:`partial.Mismatch`.
        """
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        with self._local.uploading(image_id):
            self._commit_and_upload(context, instance, image_id,
                                    update_task_state, held)
        LOG.info('Snapshot uploaded to image %s', image_id,
                 instance=instance)

    def _commit_and_upload(self, context, instance, image_id: str,
                           update_task_state, held=None) -> None:
        committed = self._commit(instance, image_id)
        try:
            # What an earlier snapshot left while the engine was down: the
            # engine is up again, as this commit shows.
            self._local.remove_leftover_commits()
            update_task_state(
                task_state=task_states.IMAGE_UPLOADING,
                expected_state=task_states.IMAGE_PENDING_UPLOAD)
            self._upload(context, instance, image_id, committed, held)
        finally:
            self._local.remove_commit(image_id, instance=instance)

    def _commit(self, instance, image_id: str) -> str:
        name = labels.container_name(instance)
        with docker_exception.engine_boundary(
                api_error=functools.partial(commit_failed, image_id,
                                            instance)):
            # pause: a consistent file system for a running container;
            # the engine skips it for a stopped or paused one.
            committed = self._client.commit_container(
                name, repo=names.commit_repo(image_id), tag=names.COMMIT_TAG,
                changes=COMMIT_CHANGES, pause=True)
        LOG.debug('Committed container %s as %s', name, committed,
                  instance=instance)
        return committed

    def _upload(self, context, instance, image_id: str,
                committed: str, held=None) -> None:
        try:
            with upload_errors(image_id):
                self._stream_to_glance(context, instance, image_id,
                                       committed, held)
        except Exception:
            self._delete_partial(context, instance, image_id)
            raise

    def _layer_filter(self, instance, committed: str, held
                      ) -> partial.LayerFilter | None:
        """The filter that leaves out ``held``'s layers, if the committed
        image is its base plus one layer; else None (all goes)."""
        if held is None:
            return None
        layers = (self._client.inspect_image(committed).get('RootFS') or
                  {}).get('Layers') or []
        if not partial.on_top(held.layers, layers):
            LOG.info('The committed image is not its base image plus one '
                     'layer (%d layers on a base of %d): sending it whole',
                     len(layers), len(held.layers), instance=instance)
            return None
        return partial.LayerFilter(held.layers)

    def _stream_to_glance(self, context, instance, image_id: str,
                          committed: str, held=None) -> None:
        metadata = snapshot_metadata(instance, self._image_api.get(
            context, image_id).get('properties'))
        layer_filter = self._layer_filter(instance, committed, held)
        if layer_filter is not None:
            metadata['properties'].update(held.properties)
        # The engine's own chunks: IterReader hands them on as they are.
        saved = self._client.save_image(committed, chunk_size=None)
        try:
            chunks = (saved if layer_filter is None
                      else partial.filtered(saved, layer_filter))
            pieces = source.TarPieces(
                chunks, final_checks=[check_saved], rewrite_manifest=False,
                held_layers=held.layers if layer_filter else ())
            # purge_props: the properties not sent are removed.
            image = self._image_api.update(context, image_id, metadata,
                                           data=IterReader(pieces),
                                           purge_props=True)
        finally:
            saved.close()
        if image.get('status') != 'active':
            raise docker_exception.SnapshotFailed(
                image_id=image_id,
                reason='Glance left the image %s after the upload'
                       % image.get('status'))
        if layer_filter is not None:
            LOG.info('Left out %d bytes of the layers the receiver holds '
                     '(%s)', layer_filter.dropped_bytes, held.properties,
                     instance=instance)

    def _delete_partial(self, context, instance, image_id: str) -> None:
        # Glance may still be winding up the aborted upload and refuse
        # (409/500) for a moment: try a few times before giving up.
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            try:
                self._image_api.delete(context, image_id)
            except exception.ImageNotFound:
                return
            except Exception as exc:  # Glance may be the reason we are here.
                if attempt == DELETE_ATTEMPTS:
                    LOG.warning('Could not delete image %s after its failed '
                                'upload: %s', image_id, exc,
                                instance=instance)
                    return
                time.sleep(DELETE_RETRY_DELAY * attempt)
                continue
            LOG.info('Deleted image %s after its failed upload', image_id,
                     instance=instance)
            return
