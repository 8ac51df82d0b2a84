"""Repositories, tags, manifests and blobs, kept in Glance.

* A tag ``app:1`` is the active Glance image named ``app:1`` with
  container format ``docker`` that the caller may see, its own project's
  first. A push stores it as a ``docker load``-able archive and records
  the manifest's digest in ``nova_docker_manifest``.
* Every pushed blob (layer, config, manifest) is a hidden Glance image of
  the pusher's project whose ``nova_docker_blob`` property is its digest,
  so any registry process finds it from Glance alone.
* An image that was uploaded (``docker save``, a root file system tar, a
  Nova snapshot) is served from its own data (:mod:`.saved`).

A blob or manifest is readable in repository R when the caller's project
pushed it, or when a tag of R that the caller may see names it, and then
only as the tag's owner holds it: a digest resolves inside the project
that owns the tag naming it, never in any other. A push that names
another project's blobs (readable through a public tag, say) copies them
into the pusher's project, as a mount does, so no tag depends on what
another project may later delete or hide.

Every record (``nova_docker_*`` property) is believed only when its seal
verifies (:mod:`.records`): an image the registry did not write is, at
most, an uploaded image served from its own data.

Names (:func:`answers_to`): a plain ``app:1`` is the caller's own
project's image of that name, else a public one; an image shared with
the caller or a community image answers only under its owner's project
id (``<project id>/app:1``) or as its Glance id (``<image id>:latest``),
so no project can put an image under a name another project pulls.
"""

import contextlib
import functools
import io
import json
import time
import uuid
from collections.abc import Iterator

from oslo_log import log as logging

from nova_docker.archive.compression import GZIP_MAGIC
from nova_docker.archive.layers import ZSTD_MAGIC
from nova_docker.registry import access
from nova_docker.registry import archive
from nova_docker.registry import bounded_cache
from nova_docker.registry import errors
from nova_docker.registry import manifests
from nova_docker.registry import parallel
from nova_docker.registry import records
from nova_docker.registry import references
from nova_docker.registry import saved
from nova_docker.registry import streaming

LOG = logging.getLogger(__name__)

BLOB = records.BLOB
DIFF_ID = records.DIFF_ID
DIFF_SIZE = records.DIFF_SIZE
MEDIA_TYPE = records.MEDIA_TYPE
REPOSITORY = records.REPOSITORY
MANIFEST = records.MANIFEST
REPLACED_BY = records.REPLACED_BY
REPLACED_TAG = records.REPLACED_TAG
MAX_CONFIG = 8 * 1024 * 1024
# What the registry keeps between requests, whatever tenants push.
MANIFEST_CACHE_BYTES = 32 * 1024 * 1024
LISTING_CACHE_BYTES = 32 * 1024 * 1024
UPLOAD_ATTEMPTS = 3
_GLANCE_ARCH = {'amd64': 'x86_64', 'arm64': 'aarch64', '386': 'i686'}


class _NotStored(Exception):
    """A manifest of the push could not be stored: the tag's archive
    must not complete."""


def _ending_after(chunks: Iterator[bytes], storing) -> Iterator[bytes]:
    """``chunks``, whose end waits for ``storing``: _NotStored if that
    failed, so the upload they feed fails."""
    yield from chunks
    if storing.exception() is not None:
        raise _NotStored()


def _blob_of(image: dict) -> saved.Blob:
    diff = None
    if image.get(DIFF_ID):
        diff = image[DIFF_ID], int(image[DIFF_SIZE])
    return saved.Blob(image['id'], 0, image['size'], image[BLOB], diff,
                      owner=image.get('owner'))


def _opened(payload):
    """Something ``contextlib.closing`` can close: a file or a
    generator as it is, a list wrapped."""
    return payload if hasattr(payload, 'close') else iter(payload)


def replaced_name(glance_name: str) -> str:
    """What a replaced tag image is renamed to: no longer a tag (the
    space can't be in one), and it stays within Glance's 255."""
    return ('(replaced) ' + glance_name)[:references.GLANCE_NAME_MAX]


def _listing_size(images: list[dict]) -> int:
    return sum(len(json.dumps(image, default=str)) for image in images)


def answers_to(image: dict, principal) -> set[tuple[str, str]]:
    """The ``(repository, tag)`` pairs ``image`` is pulled as by
    ``principal`` (who may see it): its Glance id as a repository of one
    tag, latest; its name qualified by its owner's project id; and its
    plain name when it is the caller's own or public."""
    pairs = {(image['id'], references.DEFAULT_TAG)}
    parsed = references.split_glance_name(image.get('name'))
    if parsed:
        if image.get('owner'):
            pairs.add((image['owner'] + '/' + parsed[0], parsed[1]))
        if access.answers_plain_name(image, principal):
            pairs.add(parsed)
    return pairs


class Storage:
    """The registry's view of Glance, for one caller at a time.

    :param sealer: a :class:`records.Sealer` holding the registry's key.
    :param max_ratio: the bound uploads' gzip layers were held to
        (``max_layer_unpack_ratio``; None: none), which decides whether a
        tag's archive may hold them as they are
        (:func:`archive.keeps_compressed`).
    :param gzip_layers: False to unpack every layer into a tag's archive
        (``archive_gzip_layers``).
    """

    def __init__(self, glance, indexer, sealer, arch: str | None = None,
                 list_ttl: float = 1.0,
                 manifest_cache_bytes: int = MANIFEST_CACHE_BYTES,
                 listing_cache_bytes: int = LISTING_CACHE_BYTES,
                 max_ratio: int | None = None, gzip_layers: bool = True):
        self._glance = glance
        self._indexer = indexer
        self._sealer = sealer
        self._arch = arch
        self._max_ratio = max_ratio
        self._gzip_layers = gzip_layers
        self._listed = bounded_cache.BoundedCache(listing_cache_bytes,
                                                  ttl=list_ttl)
        self._manifests = bounded_cache.BoundedCache(manifest_cache_bytes)

    # -- what a caller sees ----------------------------------------------

    def _for(self, principal):
        return self._glance.as_user(principal.token)

    def _member_status(self, principal):
        return lambda image_id: self._glance.member_status(
            image_id, principal.project_id)

    def trusted(self, image: dict) -> dict:
        """``image`` without the records the registry can't verify."""
        return self._sealer.trusted(image)

    def _docker_images(self, principal, fresh: bool = False) -> list[dict]:
        key = (principal.project_id, principal.token, principal.admin)
        cached = None if fresh else self._listed.get(key)
        if cached is not None:
            return cached
        images = [self.trusted(image) for image in self._for(principal).images(
            container_format='docker', status='active', visibility='all')]
        seen = access.ranked(images, principal,
                             self._member_status(principal))
        self._listed.put(key, seen, _listing_size(seen))
        return seen

    def _changed(self) -> None:
        self._listed.clear()

    def repository(self, principal, name: str,
                   fresh: bool = False) -> list[dict]:
        """The tag images of ``name`` the caller sees, best first."""
        return [image for image in self._docker_images(principal, fresh)
                if any(repo == name
                       for repo, _ in answers_to(image, principal))]

    def tag_image(self, principal, name: str, tag: str) -> dict | None:
        # The short-lived listing may predate an image uploaded straight
        # to Glance a moment ago: a miss is asked of Glance again.
        for fresh in (False, True):
            for image in self.repository(principal, name, fresh):
                if (name, tag) in answers_to(image, principal):
                    return image
        return None

    def tags(self, principal, name: str) -> list[str]:
        images = self.repository(principal, name)
        if not images:
            raise errors.NameUnknown('repository %s is not known here'
                                     % name, detail={'name': name})
        return sorted({tag for image in images
                       for repo, tag in answers_to(image, principal)
                       if repo == name})

    def catalog(self, principal) -> list[str]:
        names = set()
        for image in self._docker_images(principal):
            parsed = references.split_glance_name(image.get('name'))
            if not parsed:
                continue
            if access.answers_plain_name(image, principal):
                names.add(parsed[0])
            elif image.get('owner'):
                names.add(image['owner'] + '/' + parsed[0])
        return sorted(names)

    # -- manifests ---------------------------------------------------------

    def _blob_images(self, digest: str, owner: str) -> list[dict]:
        """The sealed blob images of ``owner`` holding ``digest``: never
        another project's, whoever asks."""
        found = self._glance.images(**{BLOB: digest, 'owner': owner,
                                       'os_hidden': 'true',
                                       'status': 'active'})
        return [image for image in found
                if image.get('owner') == owner and
                self._sealer.verified(image)]

    def _own_blob(self, principal, digest: str) -> dict | None:
        if principal.anonymous:
            return None
        found = self._blob_images(digest, principal.project_id)
        return found[0] if found else None

    def _stored_manifest(self, digest: str,
                         owner: str) -> manifests.Manifest:
        cached = self._manifests.get((owner, digest))
        if cached is not None:
            return cached
        found = self._blob_images(digest, owner)
        if not found:
            raise errors.ManifestUnknown('manifest %s is gone from Glance'
                                         % digest)
        raw = self._glance.read(found[0]['id'], 0, found[0]['size'])
        manifest = manifests.parse(raw, found[0].get(MEDIA_TYPE))
        if manifest.digest != digest:
            raise errors.ManifestUnknown('manifest %s in Glance image %s does '
                                         'not match its digest'
                                         % (digest, found[0]['id']))
        self._manifests.put((owner, digest), manifest, len(raw))
        return manifest

    def pushed_manifests(self, image: dict) -> list[manifests.Manifest]:
        """The manifest a push recorded on a tag image, and an index's
        children after it, as the image's owner holds them; none for an
        image whose record does not verify."""
        image = self.trusted(image)
        if not image.get(MANIFEST):
            return []
        owner = image.get('owner')
        top = self._stored_manifest(image[MANIFEST], owner)
        return [top] + [self._stored_manifest(child.digest, owner)
                        for child in top.children]

    def manifest(self, principal, name: str, reference: str,
                 accepts: set[str]) -> manifests.Manifest:
        if references.is_digest(reference):
            return self._manifest_by_digest(principal, name, reference)
        image = self.tag_image(principal, name, reference)
        if image is None:
            raise self._manifest_unknown(principal, name, reference)
        if image.get(MANIFEST):
            manifest = self.pushed_manifests(image)[0]
            if not manifests.acceptable(manifest.media_type, accepts):
                raise errors.ManifestUnknown(
                    '%s:%s is a %s, which the client does not accept'
                    % (name, reference, manifest.media_type))
            return manifest
        found = self._indexer.index(image)
        types = ([manifests.OCI_MANIFEST] if found.zstd
                 else manifests.IMAGE_TYPES)
        media_type = manifests.served_type(accepts)
        if found.zstd and not manifests.acceptable(manifests.OCI_MANIFEST,
                                                   accepts):
            media_type = None
        elif found.zstd:
            media_type = manifests.OCI_MANIFEST
        if media_type is None:
            raise errors.ManifestUnknown(
                '%s:%s can be served as %s only, which the client does not '
                'accept' % (name, reference, ' or '.join(types)))
        return found.manifest(media_type)

    def _manifest_unknown(self, principal, name, reference):
        if not self.repository(principal, name):
            return errors.NameUnknown('repository %s is not known here'
                                      % name, detail={'name': name})
        return errors.ManifestUnknown('%s has no tag %s' % (name, reference),
                                      detail={'tag': reference})

    def _manifest_by_digest(self, principal, name, digest):
        references.check_digest(digest)
        own = self._own_blob(principal, digest)
        if own is not None and own.get(MEDIA_TYPE):
            return self._stored_manifest(digest, own.get('owner'))
        for image in self.repository(principal, name):
            if image.get(MANIFEST):
                for manifest in self.pushed_manifests(image):
                    if manifest.digest == digest:
                        return manifest
                continue
            saved = self._indexer.index(image)
            for media_type in manifests.IMAGE_TYPES:
                manifest = saved.manifest(media_type)
                if manifest.digest == digest:
                    return manifest
        raise errors.ManifestUnknown('%s has no manifest %s' % (name, digest),
                                     detail={'digest': digest})

    # -- blobs -------------------------------------------------------------

    def blob(self, principal, name: str, digest: str) -> saved.Blob:
        """Where blob ``digest`` of repository ``name`` is, if the caller
        may read it; BLOB_UNKNOWN otherwise."""
        references.check_digest(digest)
        own = self._own_blob(principal, digest)
        if own is not None:
            return _blob_of(own)
        for image in self.repository(principal, name):
            found = self._blob_in(image, digest)
            if found is not None:
                return found
        raise errors.BlobUnknown('blob %s is not known in %s'
                                 % (digest, name), detail={'digest': digest})

    def _blob_in(self, image: dict, digest: str) -> saved.Blob | None:
        if not image.get(MANIFEST):
            return self._indexer.index(image).blob(digest)
        for manifest in self.pushed_manifests(image):
            if digest in {d.digest for d in manifest.blobs()}:
                found = self._blob_images(digest, image.get('owner'))
                return _blob_of(found[0]) if found else None
        return None

    def store_blob(self, principal, name: str, finished,
                   streamed: tuple[str, int | None] | None = None) -> bool:
        """Make a verified upload a blob image of the caller's project:
        the image ``streamed`` names when it holds every byte of the
        upload (True: it was kept), else a copy of the upload file."""
        if self._own_blob(principal, finished.digest) is not None:
            return False
        began = time.monotonic()
        kept = (streamed is not None and streamed[1] == finished.size and
                self._seal_streamed(principal, name, finished, streamed[0]))
        if not kept:
            self._create_blob(principal, name, finished.digest, finished.diff,
                              lambda: open(finished.path, 'rb'))
        LOG.info('Stored blob %s of %s (%d bytes) in Glance in %.2f s%s',
                 finished.digest, name, finished.size,
                 time.monotonic() - began,
                 ' (streamed with its upload)' if kept else '')
        return kept

    def start_stream(self, principal, name: str) -> streaming.BlobStream:
        """A hidden Glance image of the caller's project, with no records
        (nothing serves it), filled while an upload arrives."""
        glance = self._for(principal)
        body = {'owner': principal.project_id} if not principal.token else {}
        image = glance.create(
            id=str(uuid.uuid4()), name=('%s@upload' % name)[:255],
            container_format='bare', disk_format='raw', os_hidden=True,
            visibility='private', **body)
        try:
            self._check_owner(image, principal)
        except errors.RegistryError:
            self._delete_quietly(image['id'])
            raise
        return streaming.BlobStream(image['id'], glance.upload,
                                    self.discard_stream)

    def _seal_streamed(self, principal, name, finished, image_id) -> bool:
        """Seal a streamed image as blob ``finished`` once Glance says it
        holds that many bytes; False (and it is deleted) otherwise."""
        image = self._glance.image(image_id)
        if (not image or image.get('status') != 'active' or
                image.get('size') != finished.size or
                image.get('owner') != principal.project_id):
            self._delete_quietly(image_id)
            return False
        props = {BLOB: finished.digest, REPOSITORY: name}
        if finished.diff:
            props[DIFF_ID] = finished.diff[0]
            props[DIFF_SIZE] = str(finished.diff[1])
        try:
            self._glance.patch(image_id,
                               name=('%s@%s' % (name, finished.digest))[:255],
                               **self._sealer.sealed(
                                   image_id, principal.project_id, **props))
        except BaseException:
            self._delete_quietly(image_id)
            raise
        self._changed()
        return True

    def discard_stream(self, image_id: str) -> None:
        self._delete_quietly(image_id)

    def _create_blob(self, principal, name, digest, diff, data) -> None:
        props = {BLOB: digest, REPOSITORY: name}
        if diff:
            props[DIFF_ID], props[DIFF_SIZE] = diff[0], str(diff[1])
        self._create_with_data(
            principal, data, name=('%s@%s' % (name, digest))[:255],
            container_format='bare', disk_format='raw', os_hidden=True,
            **props)

    def _adopt(self, principal, name: str, blob: saved.Blob) -> None:
        """Make ``blob`` (readable by the caller, maybe as another
        project's) one of the caller's project's own: a copy, so the
        caller's tags never resolve a digest outside their project, nor
        depend on what another project deletes or hides later."""
        if blob.owner is not None and blob.owner == principal.project_id:
            # Found as a sealed blob image of the caller's project: one
            # Glance query per blob less in every manifest PUT.
            return
        if self._own_blob(principal, blob.digest) is None:
            self._create_blob(principal, name, blob.digest, blob.diff,
                              lambda: self._chunks(blob))

    def mount(self, principal, name: str, digest: str, source: str) -> bool:
        """Cross-repository mount: True when ``digest`` is readable in
        ``source`` (and so, for the caller's project, in ``name``)."""
        try:
            found = self.blob(principal, source, digest)
        except errors.RegistryError:
            return False
        self._adopt(principal, name, found)
        return True

    def _chunks(self, blob: saved.Blob):
        if blob.data is not None:
            return iter([blob.data])
        if blob.offset == 0:
            return self._glance.download(blob.image_id)
        return self._glance.download(blob.image_id, blob.offset,
                                     blob.offset + blob.size)

    def _starts_with(self, blob: saved.Blob, magic: bytes) -> bool:
        head = b''.join(self.chunks(blob, 0, min(len(magic), blob.size)))
        return head == magic

    def chunks(self, blob: saved.Blob, start: int = 0, end: int | None = None):
        """Bytes ``[start, end)`` of a blob."""
        end = blob.size if end is None else end
        if blob.data is not None:
            return iter([blob.data[start:end]])
        if start == 0 and end == blob.size:
            return self._chunks(blob)
        return self._glance.download(blob.image_id, blob.offset + start,
                                     blob.offset + end)

    def _create_with_data(self, principal, data, **body) -> dict:
        """A new Glance image of the caller's project holding what
        ``data()`` gives (a file or an iterable), its records sealed; a
        failed upload leaves no image behind.

        A Glance that fails an upload at once (a 5xx: its database was
        busy, say) is tried again with a new image, as a client would.
        """
        glance = self._for(principal)
        if not principal.token:
            body['owner'] = principal.project_id
        body.setdefault('visibility', 'private')
        props = {key: body.pop(key) for key in records.KEYS if key in body}
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            # The seal binds the id, so the id is chosen here.
            image_id = str(uuid.uuid4())
            image = glance.create(id=image_id, **body, **self._sealer.sealed(
                image_id, principal.project_id, **props))
            try:
                self._check_owner(image, principal)
                with contextlib.closing(_opened(data())) as payload:
                    glance.upload(image['id'], payload)
            except errors.Unavailable:
                self._delete_quietly(image['id'])
                if attempt == UPLOAD_ATTEMPTS:
                    raise
                LOG.info('Glance failed the upload of %s (attempt %d); '
                         'trying again', body.get('name'), attempt)
                time.sleep(0.2 * attempt)
                continue
            except BaseException:
                self._delete_quietly(image['id'])
                raise
            self._changed()
            return image

    @staticmethod
    def _check_owner(image: dict, principal) -> None:
        if image.get('owner') != principal.project_id:
            raise errors.RegistryError(
                'Glance made image %s owned by %s, not by the pusher\'s '
                'project %s: check the [glance] credentials and Glance\'s '
                'owner policy' % (image['id'], image.get('owner'),
                                  principal.project_id))

    def _delete_quietly(self, image_id: str) -> None:
        try:
            self._glance.delete(image_id)
        except Exception:
            LOG.warning('Could not delete Glance image %s after a failed '
                        'push; delete it by hand', image_id, exc_info=True)

    # -- pushes of manifests -------------------------------------------------

    def put_manifest(self, principal, name: str, reference: str, raw: bytes,
                     content_type: str | None) -> manifests.Manifest:
        manifest = manifests.parse(raw, content_type)
        if references.is_digest(reference):
            references.check_digest(reference)
            if manifest.digest != reference:
                raise errors.DigestInvalid(
                    'the manifest\'s digest is %s, not %s'
                    % (manifest.digest, reference),
                    detail={'digest': reference})
        else:
            references.check_tag(name, reference)
        children = [self._child(principal, name, child)
                    for child in manifest.children]
        image_manifest = (self._platform_child(manifest, children)
                          if manifest.is_index else manifest)
        tagged = not references.is_digest(reference)
        if tagged and image_manifest is None:
            # Checked before anything is stored: a refused push leaves
            # nothing in Glance.
            raise errors.ManifestInvalid(
                'the index names no image manifest this registry keeps')
        layers, config = None, None
        if image_manifest is not None:
            config, layers, blobs = self._checked_image(principal, name,
                                                        image_manifest)
            for blob in blobs:
                self._adopt(principal, name, blob)
        to_store = children + [manifest]
        if tagged:
            self._tag(principal, name, reference, manifest, config, layers,
                      to_store)
        else:
            self._store_manifests(principal, name, to_store)
        return manifest

    def _store_manifests(self, principal, name, to_store) -> None:
        for manifest in to_store:
            self._store_manifest(principal, name, manifest)

    def _child(self, principal, name, child) -> manifests.Manifest:
        try:
            return self._manifest_by_digest(principal, name, child.digest)
        except errors.ManifestUnknown:
            raise errors.ManifestBlobUnknown(
                'the index names manifest %s, which is not in %s: push it '
                'first' % (child.digest, name),
                detail={'digest': child.digest}) from None

    def _platform_child(self, index, children):
        """The child this host boots: linux on our architecture, else the
        first image manifest."""
        arch = saved.goarch(self._arch)
        usable = [(d, m) for d, m in zip(index.children, children,
                                                  strict=True)
                  if m.media_type in manifests.IMAGE_TYPES]
        for descriptor, manifest in usable:
            plat = descriptor.platform or {}
            if plat.get('os') == 'linux' and plat.get('architecture') == arch:
                return manifest
        return usable[0][1] if usable else None

    def _checked_image(self, principal, name, manifest):
        """The config, the archive layers and the blobs of an image
        manifest, after checking every blob it names exists and
        matches."""
        blobs = parallel.in_parallel(
            functools.partial(self._named_blob, principal, name, descriptor)
            for descriptor in manifest.blobs())
        config_blob, layer_blobs = blobs[0], blobs[1:]
        if config_blob.size > MAX_CONFIG:
            raise errors.ManifestInvalid('the image config is larger than '
                                         '%d bytes' % MAX_CONFIG)
        config = b''.join(self.chunks(config_blob))
        try:
            diff_ids = json.loads(config)['rootfs']['diff_ids']
        except (ValueError, KeyError, TypeError):
            raise errors.ManifestInvalid(
                'the image config has no rootfs.diff_ids') from None
        if len(diff_ids) != len(layer_blobs):
            raise errors.ManifestInvalid(
                'the config names %d layers, the manifest %d'
                % (len(diff_ids), len(layer_blobs)))
        layers = parallel.in_parallel(
            functools.partial(self._layer, blob, descriptor, diff_id)
            for blob, descriptor, diff_id in zip(
                layer_blobs, manifest.layers, diff_ids, strict=True))
        return config, layers, blobs

    def _named_blob(self, principal, name, descriptor) -> saved.Blob:
        """The blob a manifest names, checked to exist with its size."""
        try:
            blob = self.blob(principal, name, descriptor.digest)
        except errors.BlobUnknown:
            raise errors.ManifestBlobUnknown(
                'the manifest names blob %s, which is not in %s: push '
                'it first' % (descriptor.digest, name),
                detail={'digest': descriptor.digest}) from None
        if blob.size != descriptor.size:
            raise errors.ManifestInvalid(
                'blob %s has %d bytes, the manifest says %d'
                % (descriptor.digest, blob.size, descriptor.size))
        return blob

    def _layer(self, blob: saved.Blob, descriptor,
               diff_id: str) -> archive.Layer:
        gz: bool | str = descriptor.media_type in manifests.GZIP_LAYERS
        if descriptor.media_type in manifests.ZSTD_LAYERS:
            gz = 'zstd'
        diff = blob.diff if gz else (blob.digest, blob.size)
        magic = (ZSTD_MAGIC if gz == 'zstd' else GZIP_MAGIC) if gz else None
        if gz and (diff is None or not self._starts_with(blob, magic)):
            # The probe unpacks whichever of the two it finds: the media
            # type must say the one the archive's build will undo.
            raise errors.ManifestInvalid(
                'layer %s is not a %s-compressed tar, as its media type %s '
                'says' % (blob.digest, 'zstd' if gz == 'zstd' else 'gzip',
                          descriptor.media_type))
        if diff[0] != diff_id:
            raise errors.ManifestInvalid(
                'layer %s unpacks to %s, but the config says %s'
                % (blob.digest, diff[0], diff_id))
        kept = self._gzip_layers and archive.keeps_compressed(
            gz, blob.size, diff[1], self._max_ratio)
        return archive.Layer(diff_id, diff[1], gz,
                             lambda: self.chunks(blob),
                             blob.size if kept else None)

    def _store_manifest(self, principal, name, manifest) -> None:
        if self._own_blob(principal, manifest.digest) is None:
            self._create_with_data(
                principal, lambda: io.BytesIO(manifest.raw),
                name=('%s@%s' % (name, manifest.digest))[:255],
                container_format='bare', disk_format='raw', os_hidden=True,
                **{BLOB: manifest.digest, REPOSITORY: name,
                   MEDIA_TYPE: manifest.media_type})

    def _tag(self, principal, name, tag, manifest, config, layers,
             to_store) -> None:
        """Store ``to_store`` (the manifests) and the tag's archive side
        by side; the archive's upload ends only once they are stored, so
        no pull finds the tag before its manifest."""
        glance_name = references.glance_name(name, tag)
        props = {MANIFEST: manifest.digest, REPOSITORY: name}
        arch = json.loads(config).get('architecture')
        if isinstance(arch, str) and arch:
            props['architecture'] = _GLANCE_ARCH.get(arch, arch)
        storing = parallel.started(functools.partial(
            self._store_manifests, principal, name, to_store))

        def data():
            return _ending_after(archive.archive(
                config, manifests.digest_of(config), layers, glance_name),
                storing)
        began = time.monotonic()
        try:
            new = self._create_with_data(
                principal, data, name=glance_name,
                container_format='docker', disk_format='raw', **props)
        except BaseException as exc:
            # A manifest that could not be stored is the first error, as
            # when the two were stored one after the other.
            failed = storing.exception()
            if failed is not None:
                raise failed from None
            if isinstance(exc, ValueError):
                raise errors.ManifestInvalid(str(exc)) from None
            raise
        LOG.info('Wrote the archive of %s (%d bytes of layers) to Glance in '
                 '%.2f s', glance_name, sum(layer.size for layer in layers),
                 time.monotonic() - began)
        self._replace_older(principal, glance_name, new)

    def _replace_older(self, principal, glance_name: str, new: dict) -> None:
        """The tag now answers with ``new``; the caller's earlier images
        of it stay (servers may use them) under a name that is no tag."""
        for old in self._glance.images(name='eq:' + glance_name,
                                       container_format='docker'):
            if (old['id'] == new['id'] or not access.may_change(old, principal)
                    or (old.get('created_at') or '') >
                    (new.get('created_at') or '')):
                continue
            self._mark_replaced(old, new['id'], glance_name)
        self._changed()

    def _mark_replaced(self, old: dict, new_id: str, glance_name: str):
        """Rename ``old`` and record what replaced it, sealed. Records on
        it that do not verify are removed, not sealed along."""
        kept = records.records_of(self.trusted(old))
        forged = [key for key in records.records_of(old) if key not in kept]
        kept.update({REPLACED_BY: new_id, REPLACED_TAG: glance_name})
        self._glance.patch(
            old['id'], remove=forged, name=replaced_name(glance_name),
            **self._sealer.sealed(old['id'], old.get('owner'), **kept))

    # -- deletes -------------------------------------------------------------

    def delete_manifest(self, principal, name: str, reference: str) -> None:
        if references.is_digest(reference):
            references.check_digest(reference)
            doomed = [i for i in self.repository(principal, name)
                      if i.get(MANIFEST) == reference]
            own = self._own_blob(principal, reference)
            if own is None and not doomed:
                raise errors.ManifestUnknown('%s has no manifest %s'
                                             % (name, reference))
        else:
            image = self.tag_image(principal, name, reference)
            if image is None:
                raise self._manifest_unknown(principal, name, reference)
            doomed, own = [image], None
        for image in doomed:
            if not access.may_change(image, principal):
                raise errors.Denied('%s belongs to another project'
                                    % image['name'])
        for image in doomed:
            self._glance.delete(image['id'])
        if own is not None:
            self._glance.delete(own['id'])
        self._changed()
