"""Glance image -> engine-local image ``glance/<image id>:latest``.

The data streams from nova's image API through the checks of
:mod:`nova_docker.image.source` into the engine, with no copy in memory
and no file unless ``[docker] image_download_dir`` asks for one:

* a ``docker save`` archive (classic, or an OCI layout as the containerd
  image store and skopeo write it) goes to ``POST /images/load`` in the
  classic form with a ``manifest.json`` without ``RepoTags`` and no
  ``index.json`` (the engine never sees the user's name, so two projects'
  ``app:latest`` cannot meet even while both load), then the loaded id is
  tagged ``glance/<id>:latest``;
* a root file system tar goes to ``POST /images/create?fromSrc=-`` as
  ``glance/<id>:latest`` with ``CMD`` from the image property
  ``os_command_line``.

Whatever a failed load left on the engine is removed again.
"""

import contextlib
import functools
import json
import shlex

from nova import exception
from oslo_log import log as logging
from oslo_utils import units

from nova_docker import conf as docker_conf
from nova_docker import exception as docker_exception
from nova_docker import engine_facts
from nova_docker.docker import errors as docker_errors
from nova_docker.docker.load_reply import LoadResult
from nova_docker.image import glance_api
from nova_docker.image.local import LocalImages
from nova_docker.image import names
from nova_docker.image import source
from nova_docker.archive import oci
from nova_docker.archive import tarstream
from nova_docker.image.digest import HashCheck

CONF = docker_conf.CONF
LOG = logging.getLogger(__name__)

def size_limit_gb(root_gb: int | None) -> int:
    """How large, in GB, an image may unpack to for a flavor's root disk."""
    return root_gb if root_gb else CONF.docker.max_image_size_gb


def too_large(image_id: str, root_gb: int | None) -> exception.NovaException:
    if root_gb:
        return docker_exception.ImageLargerThanFlavorDisk(image_id=image_id,
                                                flavor_gb=root_gb)
    return docker_exception.ImageLargerThanLimit(image_id=image_id,
                                       limit_gb=size_limit_gb(root_gb))


def command_line(image: dict) -> list[str]:
    """``os_command_line`` of a Glance image as an argv list.

    ImageUnacceptable if it is missing or not a valid command line: a
    root file system tar has no command of its own.
    """
    image_id = image['id']
    line = (image.get('properties') or {}).get('os_command_line')
    try:
        argv = shlex.split(line or '')
    except ValueError as exc:
        raise exception.ImageUnacceptable(
            image_id=image_id,
            reason='its os_command_line %r is not a valid command line '
                   '(%s): fix the image property' % (line, exc)) from None
    if not argv:
        raise exception.ImageUnacceptable(
            image_id=image_id,
            reason='it is a root file system tar, which has no command of '
                   'its own: set the image property os_command_line, e.g. '
                   '`openstack image set --property '
                   'os_command_line="/bin/sh" %s`' % image_id)
    return argv


def refused_load(image_id: str, exc: docker_errors.DockerError
                 ) -> exception.NovaException:
    """What the engine's refusal of a load means (the engine boundary's
    ``api_error`` for a load)."""
    if isinstance(exc, docker_errors.StreamError):
        # The engine read the data and refused it, or ran out of room.
        if docker_exception.NO_SPACE in (exc.explanation or '').lower():
            return docker_exception.engine_failed(image_id, exc.explanation)
        return docker_exception.unloadable(
            image_id, 'the engine said: %s' % exc.explanation)
    return docker_exception.engine_failed(image_id,
                                          docker_exception.reason(exc))


# Failures of the data itself, not of the engine.
DATA_ERRORS = (tarstream.TarFormatError, source.SourceStalled)


def data_error(image_id: str, exc: Exception, root_gb: int
               ) -> exception.NovaException:
    """What a failure of the data (one of DATA_ERRORS) means."""
    if isinstance(exc, tarstream.ArchiveTooLarge):
        return too_large(image_id, root_gb)
    if isinstance(exc, source.SourceStalled):
        return docker_exception.ImageDownloadStalled(image_id=image_id,
                                                     seconds=exc.seconds)
    return docker_exception.unloadable(image_id, exc)


@contextlib.contextmanager
def load_errors(image_id: str, root_gb: int):
    """A load's failures in nova's terms: the engine's through the one
    engine boundary, the data's by :func:`data_error`."""
    try:
        with docker_exception.engine_boundary(
                api_error=functools.partial(refused_load, image_id)):
            yield
    except DATA_ERRORS as exc:
        raise data_error(image_id, exc, root_gb) from exc


def check_manifest(image_id: str, tar: tarstream.TarStream) -> None:
    """A docker save archive must describe exactly one image."""
    if tar.kind != tarstream.DOCKER_SAVE:
        return
    if tar.manifest is None:
        raise docker_exception.unloadable(
            image_id, 'the archive has no manifest.json and no OCI '
                      'index.json (a save made by Docker older than 1.10?);'
                      ' save the image again with `docker save`')
    if len(tar.manifest) != 1:
        raise docker_exception.unloadable(
            image_id, 'the docker save archive holds %d images; a Glance '
                      'image must hold exactly one' % len(tar.manifest))


class ImageLoader:
    """Makes a Glance image available on the engine, once per image id."""

    def __init__(self, client, image_api=None, facts=None):
        self._client = client
        self._local = LocalImages(client)
        # Its downloads are hashed once, by HashCheck (see glance_api).
        self._image_api = image_api or glance_api.ImageAPI()
        self._facts = facts or self._read_facts
        self._own_facts: engine_facts.EngineFacts | None = None

    def ensure_local(self, context, image_meta, root_gb: int = 0,
                     trusted_certs=None, held_layers: tuple = ()) -> str:
        """The engine-local reference of ``image_meta``, loading it first
        when the engine does not have it.

        :param root_gb: the flavor's root disk: an image that unpacks to
            more is refused (FlavorDiskSmallerThanImage), as libvirt
            refuses it; 0 means [docker] max_image_size_gb.
        :param trusted_certs: the instance's ``trusted_certs`` (a
            TrustedCerts or None): nova's image API verifies the image's
            signing certificate against them, as for libvirt.
        :param held_layers: the diff ids of the image's first layers,
            which the engine holds (another image's), and the archive may
            lack: a partial migration transfer (nova_docker.migration).
        """
        self._ensure(context, image_meta.id, root_gb, trusted_certs,
                     held_layers)
        return names.local_ref(image_meta.id)

    def cache(self, context, image_id: str) -> bool:
        """Load ``image_id`` ahead of any boot (nova's image pre-caching);
        True if it was loaded now, False if the engine had it."""
        image = self._image_api.get(context, image_id)
        if image.get('container_format') != names.DOCKER_CONTAINER_FORMAT:
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason='container_format is %r, not %r: the Docker driver '
                       'cannot boot it, so it is not cached'
                       % (image.get('container_format'),
                          names.DOCKER_CONTAINER_FORMAT))
        # No instance, so no trusted certificates of its own: nova's
        # [glance] default_trusted_certificate_ids still apply.
        return self._ensure(context, image_id, 0, None)

    def _ensure(self, context, image_id: str, root_gb: int,
                trusted_certs, held_layers: tuple = ()) -> bool:
        with docker_exception.engine_boundary():
            return self._ensure_loaded(context, image_id, root_gb,
                                       trusted_certs, held_layers)

    def _ensure_loaded(self, context, image_id: str, root_gb: int,
                       trusted_certs, held_layers: tuple) -> bool:
        if self._cached(image_id, root_gb):
            return False
        # Concurrent boots of one image wait for a single load.
        with self._local.lock(image_id):
            if self._cached(image_id, root_gb):
                return False
            self._load(context, image_id, root_gb, trusted_certs,
                       held_layers)
        return True

    def _cached(self, image_id: str, root_gb: int) -> bool:
        if not self._local.touch(image_id):
            return False
        if root_gb:
            # Loaded for a bigger flavor (or under a larger option) before.
            size = self._client.inspect_image(
                names.local_ref(image_id)).get('Size') or 0
            if size > root_gb * units.Gi:
                raise too_large(image_id, root_gb)
        return True

    # -- loading ----------------------------------------------------------

    def _load(self, context, image_id: str, root_gb: int,
              trusted_certs, held_layers: tuple = ()) -> None:
        image = self._image_api.get(context, image_id)
        if image.get('status') not in (None, 'active'):
            raise exception.ImageNotActive(image_id=image_id)
        LOG.info('Loading Glance image %s (%s bytes) into the engine',
                 image_id, image.get('size'))
        pieces = source.TarPieces(
            self._download(context, image, trusted_certs),
            final_checks=[lambda tar: check_manifest(image_id, tar),
                          lambda tar: self._still_in_glance(context,
                                                            image_id)],
            max_size=size_limit_gb(root_gb) * units.Gi,
            platform=self._engine_platform,
            engine_checks_diff_ids=self._engine_checks_diff_ids,
            spool=functools.partial(source.LayerSpool, image_id,
                                    CONF.docker.image_download_dir or None),
            held_layers=held_layers)
        try:
            with load_errors(image_id, root_gb):
                self._send(image, pieces)
        except Exception:
            self._remove_partial(image_id, pieces.tar)
            raise
        finally:
            pieces.close()
        LOG.info('Loaded Glance image %s as %s', image_id,
                 names.local_ref(image_id))

    def _read_facts(self) -> engine_facts.EngineFacts:
        """The engine's facts, read once, for a loader made without the
        Host's (tools and tests)."""
        if self._own_facts is None:
            self._own_facts = engine_facts.read(
                self._client.api_version, self._client.version(),
                self._client.info())
        return self._own_facts

    def _engine_platform(self) -> oci.Platform:
        """The image of a multi-platform archive to load: the engine's
        own platform."""
        return self._facts().platform

    def _engine_checks_diff_ids(self) -> bool:
        """Whether the engine refuses a layer that does not unpack to its
        config's diff id, leaving nothing (see :func:`nova_docker.
        engine_facts.checks_diff_ids`), asked at the first compressed
        layer of an OCI layout: then such a layer is not hashed unpacked
        on the way."""
        return self._facts().checks_diff_ids

    def _download(self, context, image: dict, trusted_certs):
        # Push-style (data=sink): without a destination, nova's image API
        # consumes its chunk iterator to verify a signature and returns it
        # exhausted. The Prefetch thread runs the download, so it streams.
        def fetch(sink):
            self._image_api.download(context, image['id'], data=sink,
                                     trusted_certs=trusted_certs)

        check = HashCheck.for_image(image)
        return source.Prefetch.pushed(
            source.downloaded(fetch, check,
                              CONF.docker.image_download_dir or None),
            stall=source.Stall(CONF.docker.image_timeout, check.idle))

    def _still_in_glance(self, context, image_id: str) -> None:
        # An image deleted while it downloaded must not appear on the
        # engine: ImageNotFound stops the load before its last bytes.
        try:
            image = self._image_api.get(context, image_id)
        except exception.ImageNotFound:
            LOG.warning('Image %s was deleted from Glance while it was '
                        'downloaded; not loading it', image_id)
            raise
        if image.get('status') not in (None, 'active'):
            raise exception.ImageNotActive(image_id=image_id)

    def _send(self, image: dict, pieces: source.TarPieces) -> None:
        image_id = image['id']
        kind = pieces.kind()
        if kind == tarstream.ROOTFS:
            argv = command_line(image)
            self._client.import_image(
                pieces, names.local_repo(image_id), names.LOCAL_TAG,
                changes=['CMD ' + json.dumps(argv)])
            return
        if kind is None:
            raise docker_exception.unloadable(
                image_id, 'the tar archive holds no named file')
        before = self._tags()
        loaded = self._client.load_image(pieces)
        self._tag_loaded(image_id, loaded, pieces.tar, before)

    def _tags(self) -> dict[str, str]:
        """``{tag: image id}`` of every tagged image on the engine: what
        a name the load should not have applied was on before it. Only
        Docker's classic store says so in its reply; its containerd
        store and Podman move a tag silently."""
        return {tag: image['Id'] for image in self._client.list_images()
                for tag in image.get('RepoTags') or ()
                if tag != '<none>:<none>'}

    def _tag_loaded(self, image_id: str, loaded: LoadResult,
                    tar: tarstream.TarStream,
                    before: dict[str, str]) -> None:
        self._check_no_names_applied(image_id, loaded, before)
        ids = list(loaded.image_ids) or tarstream.config_digests(
            tar.manifest or [])
        if len(ids) != 1:
            last = [loaded.last] if loaded.last is not None else []
            raise docker_exception.unloadable(
                image_id, 'the engine did not say which image it loaded '
                          '(%s)' % last)
        self._local.tag(ids[0], image_id)

    def _check_no_names_applied(self, image_id: str, loaded: LoadResult,
                                before: dict[str, str]) -> None:
        """The archive went in without names; if the engine applied one
        anyway, another image may have lost it: give it back, refuse.

        :param before: the engine's tags before the load (:meth:`_tags`),
            for the names the engine's reply does not say it took.
        """
        tags = list(loaded.names)
        renamed = {tag: before[tag] for tag in tags if tag in before}
        renamed.update(loaded.renamed)
        if not tags and not renamed:
            return
        LOG.error('Loading Glance image %s applied the names %s (taken '
                  'from %s); putting them back', image_id, tags, renamed)
        # The loaded image, by the ids the engine gives it (the containerd
        # store's are manifest digests, not the archive's config digest).
        loaded_ids = self._ids_of(tags)
        for tag in tags:
            if tag not in renamed:
                self._remove_left(tag, image_id)
        lost = [tag for tag, previous in sorted(renamed.items())
                if not self._put_back(tag, previous, image_id)]
        self._remove_untagged(loaded_ids - set(renamed.values()), image_id)
        applied = ', '.join(sorted(set(tags) | set(renamed)))
        reason = ('the engine applied the image names %s from it, which '
                  'the driver never asked for; they were put back as they '
                  'were' % applied)
        if lost:
            reason += (', but for %s: the engine dropped the image that '
                       'held it, so it names nothing now (load or pull it '
                       'again; a glance/ name is loaded again from Glance '
                       'at its next boot)' % ', '.join(lost))
        raise docker_exception.unloadable(image_id, reason)

    def _put_back(self, tag: str, previous: str, image_id: str) -> bool:
        """Give ``tag`` back to the image ``previous``; False when the
        engine no longer has it (the containerd store drops an image
        whose only name a load moved): the name is then removed, never
        left on the archive's image."""
        repo, _sep, name = tag.rpartition(':')
        try:
            self._client.tag_image(previous, repo, name)
            return True
        except docker_errors.NotFound:
            LOG.error('Image %s, which held the name %s, is gone from the '
                      'engine; removing the name', previous, tag)
            self._remove_left(tag, image_id)
            return False

    def _ids_of(self, refs) -> set[str]:
        ids = set()
        for ref in refs:
            try:
                ids.add(self._client.inspect_image(ref)['Id'])
            except docker_errors.NotFound:
                pass
        return ids

    # -- failures ---------------------------------------------------------

    def _remove_partial(self, image_id: str, tar: tarstream.TarStream
                        ) -> None:
        """Remove what a failed load may have left: our tag, and the
        untagged image(s) the archive describes."""
        self._remove_left(names.local_ref(image_id), image_id)
        self._remove_untagged(tarstream.config_digests(tar.manifest or []),
                              image_id)

    def _remove_untagged(self, refs, image_id: str) -> None:
        for ref in refs:
            try:
                info = self._client.inspect_image(ref)
            except docker_errors.NotFound:
                continue
            # A tagged image with this id was there before (the same
            # data under another Glance id): not ours to remove.
            if not [t for t in info.get('RepoTags') or []
                    if t != '<none>:<none>']:
                self._remove_left(ref, image_id)

    def _remove_left(self, ref: str, image_id: str) -> None:
        self._local.remove(ref, 'left by the failed load of image %s'
                           % image_id)
