"""The one image an OCI image layout describes, read strictly.

A ``docker save`` of the containerd image store writes an OCI image
layout (``oci-layout``, ``index.json``, ``blobs/sha256/<hex>``) beside
Docker's ``manifest.json``; ``skopeo copy ... oci-archive:`` writes the
layout alone. :func:`resolve` walks ``index.json`` -> (an image index ->)
the manifest of the engine's platform -> its config and layers, and
returns the entry of a classic ``manifest.json`` for that image, without
names. The loader forwards the archive to the engine in that classic
form (``manifest.json``, no ``index.json``): every engine reads it, and
no engine names an image from an annotation the driver did not write.

Everything two readers could take differently, or that would make the
engine fetch or trust something the archive does not hold, is refused
(:class:`TarFormatError`, with what to do): more than one image, an index
inside an image index, a blob the archive lacks, a blob whose bytes or
size do not match its descriptor, foreign or non-distributable layers,
media types this reader does not know, a layer whose unpacked data does
not hash to the diff id its config records.
"""

from collections.abc import Callable
import dataclasses
import json
import re

from nova_docker.archive.members import TarFormatError

BLOBS = 'blobs'
BLOB_NAME = re.compile(r'blobs/sha256/([0-9a-f]{64})\Z')
BLOB_DIRS = frozenset(('blobs', 'blobs/sha256'))
DIGEST = re.compile(r'sha256:[0-9a-f]{64}\Z')

INDEX_TYPES = frozenset((
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json'))
MANIFEST_TYPES = frozenset((
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json'))
CONFIG_TYPES = frozenset((
    'application/vnd.oci.image.config.v1+json',
    'application/vnd.docker.container.image.v1+json'))
# Layer media type -> the compression its bytes must have.
LAYER_TYPES = {
    'application/vnd.oci.image.layer.v1.tar': 'plain',
    'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
    'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
    'application/vnd.docker.image.rootfs.diff.tar': 'plain',
    'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
    'application/vnd.docker.image.rootfs.diff.tar.zstd': 'zstd',
}
FOREIGN_TYPES = frozenset((
    'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
    'application/vnd.oci.image.layer.nondistributable.v1.tar',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd'))
# An image index may list attestations (buildx) beside the platforms.
_ATTESTATION = 'vnd.docker.reference.type'


@dataclasses.dataclass(frozen=True)
class Blob:
    """What the archive held under ``blobs/sha256/<hex>``."""

    size: int
    compression: str | None
    diff_id: str | None
    json: bytes | None


@dataclasses.dataclass(frozen=True)
class Platform:
    """The engine's platform, as ``/version`` says it (Go's names)."""

    os: str
    architecture: str

    def matches(self, platform: dict) -> bool:
        return (platform.get('os') == self.os and
                platform.get('architecture') == self.architecture)


def _refuse(what: str) -> TarFormatError:
    return TarFormatError('%s; save the image again with `docker save` '
                          '(or `skopeo copy ... oci-archive:`) from an engine'
                          ' that holds it' % what)


def blob_name(digest: str) -> str:
    return 'blobs/sha256/' + digest.split(':', 1)[1]


def _descriptor(entry, what: str) -> dict:
    if not isinstance(entry, dict):
        raise _refuse('the %s is not a descriptor' % what)
    digest = entry.get('digest')
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise _refuse('the %s names the digest %r, not a sha256 digest'
                      % (what, digest))
    if entry.get('urls'):
        raise _refuse('the %s %s is to be fetched from elsewhere (urls); '
                      'the archive must hold every blob' % (what, digest))
    return entry


def _blob(blobs: dict, entry: dict, what: str) -> Blob:
    digest = entry['digest']
    blob = blobs.get(digest)
    if blob is None:
        raise _refuse('the %s %s is not in the archive' % (what, digest))
    if entry.get('size') != blob.size:
        raise _refuse('the %s %s is %r bytes by its descriptor but %d in '
                      'the archive' % (what, digest, entry.get('size'),
                                       blob.size))
    return blob


def _json(blobs: dict, entry: dict, what: str) -> dict:
    blob = _blob(blobs, entry, what)
    try:
        doc = json.loads(blob.json) if blob.json is not None else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise _refuse('the %s %s is not a JSON object' % (what,
                                                          entry['digest']))
    if doc.get('mediaType') not in (None, entry.get('mediaType')):
        raise _refuse('the %s %s says it is %r, its descriptor %r'
                      % (what, entry['digest'], doc.get('mediaType'),
                         entry.get('mediaType')))
    return doc


def _entries(index: dict, what: str) -> list:
    entries = index.get('manifests')
    if not isinstance(entries, list) or not entries:
        raise _refuse('the %s lists no image' % what)
    return [_descriptor(entry, 'entry of the %s' % what)
            for entry in entries]


def _platform_entry(entries: list, platform, what: str) -> dict:
    images = [e for e in entries
              if (e.get('annotations') or {}).get(_ATTESTATION) is None]
    if callable(platform):
        platform = platform()
    if platform is not None:
        images = [e for e in images
                  if platform.matches(e.get('platform') or {})]
    if len(images) != 1:
        raise _refuse('the %s lists %d images for the platform %s' % (
            what, len(images), '%s/%s' % (platform.os, platform.architecture)
            if platform else '(any)'))
    return images[0]


def _manifest_entry(blobs: dict, index: dict,
                    platform: Platform | None) -> dict:
    entries = _entries(index, 'index.json')
    if all(entry.get('platform') for entry in entries):
        # skopeo copy --all: index.json is the image index itself.
        entries = [_platform_entry(entries, platform, 'index.json')]
    if len(entries) != 1:
        raise _refuse('index.json lists %d images; a Glance image must '
                      'hold exactly one' % len(entries))
    entry = entries[0]
    if entry.get('mediaType') in INDEX_TYPES:
        image_index = _json(blobs, entry, 'image index')
        entry = _platform_entry(_entries(image_index, 'image index'),
                                platform, 'image index')
        if entry.get('mediaType') in INDEX_TYPES:
            raise _refuse('the image index %s names another index; nested '
                          'indexes are not taken' % entry['digest'])
    if entry.get('mediaType') not in MANIFEST_TYPES:
        raise _refuse('the image manifest %s has the media type %r, which '
                      'this driver does not know'
                      % (entry['digest'], entry.get('mediaType')))
    return entry


def _held(blobs: dict, entry: dict, diff_id, held_diff_id) -> bool:
    """Whether the layer of ``entry`` is left out of the archive because
    the engine holds it: an uncompressed layer (its digest its diff id)
    of the image's first layers, those the receiver said it holds."""
    return (held_diff_id is not None and entry['digest'] not in blobs and
            entry['digest'] == diff_id == held_diff_id and
            LAYER_TYPES.get(entry.get('mediaType')) == 'plain')


def _layer(blobs: dict, entry, diff_id, check_data: bool = True,
           engine_checks_diff_ids: bool | Callable[[], bool] = False,
           held_diff_id: str | None = None) -> str:
    entry = _descriptor(entry, 'layer')
    media = entry.get('mediaType')
    if media in FOREIGN_TYPES:
        raise _refuse('the layer %s is foreign (non-distributable, %s): '
                      'the archive must hold every layer the image needs'
                      % (entry['digest'], media))
    if media not in LAYER_TYPES:
        raise _refuse('the layer %s has the media type %r, which this '
                      'driver does not know' % (entry['digest'], media))
    if _held(blobs, entry, diff_id, held_diff_id):
        # The engine looks it up by its chain id and reads no file.
        return blob_name(entry['digest'])
    blob = _blob(blobs, entry, 'layer')
    if not check_data:
        return blob_name(entry['digest'])
    if blob.compression != LAYER_TYPES[media]:
        raise _refuse('the layer %s is %s data, but its media type %s says '
                      '%s' % (entry['digest'], blob.compression, media,
                              LAYER_TYPES[media]))
    if blob.diff_id is None and (engine_checks_diff_ids()
                                 if callable(engine_checks_diff_ids)
                                 else engine_checks_diff_ids):
        # Not hashed on the way (BlobMeter hash_unpacked): the engine
        # refuses the load itself if the layer unpacks to anything else.
        return blob_name(entry['digest'])
    if blob.diff_id != diff_id:
        raise _refuse('the layer %s unpacks to %s, but the image config '
                      'records the diff id %r' % (entry['digest'],
                                                  blob.diff_id, diff_id))
    return blob_name(entry['digest'])


def resolve(index_json: bytes, blobs: dict[str, Blob],
            platform: Platform | Callable[[], Platform] | None = None,
            check_data: bool = True,
            engine_checks_diff_ids: bool | Callable[[], bool] = False,
            held: tuple = ()) -> dict:
    """The classic ``manifest.json`` entry (without ``RepoTags``) of the
    one image of ``index_json`` for ``platform`` (or what a callable
    returns, called only for an index that lists platforms); ``blobs``
    maps every digest the archive held to what it held. ``check_data``
    False: the layers' compression and diff ids are not known (the
    registry, which serves them as they are, to a client that checks).
    ``engine_checks_diff_ids`` True (or a callable returning True): a
    compressed layer whose unpacked data was not hashed (its diff id None)
    is left to the engine, which refuses a layer that does not unpack to
    the config's diff id. ``held``: the diff ids of the image's first
    layers that the engine holds and the archive may lack (a partial
    migration transfer, :mod:`nova_docker.archive.partial`)."""
    try:
        index = json.loads(index_json)
    except ValueError:
        index = None
    if not isinstance(index, dict):
        raise _refuse('index.json is not an OCI image index')
    entry = _manifest_entry(blobs, index, platform)
    manifest = _json(blobs, entry, 'image manifest')
    config_entry = _descriptor(manifest.get('config'), 'image config')
    if config_entry.get('mediaType') not in CONFIG_TYPES:
        raise _refuse('the image config %s has the media type %r, which '
                      'this driver does not know'
                      % (config_entry['digest'], config_entry.get(
                          'mediaType')))
    config = _json(blobs, dict(config_entry, mediaType=None), 'image config')
    layers = manifest.get('layers')
    diff_ids = (config.get('rootfs') or {}).get('diff_ids')
    if (not isinstance(layers, list) or not isinstance(diff_ids, list) or
            len(layers) != len(diff_ids)):
        raise _refuse('the image manifest %s and its config do not list the'
                      ' same number of layers' % entry['digest'])
    pairs = zip(layers, diff_ids, strict=True)
    return {'Config': blob_name(config_entry['digest']), 'RepoTags': None,
            'Layers': [_layer(blobs, layer, diff_id, check_data,
                              engine_checks_diff_ids,
                              held[n] if n < len(held) else None)
                       for n, (layer, diff_id) in enumerate(pairs)]}
