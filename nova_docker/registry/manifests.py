"""Manifests: the media types, checks of a pushed one, and the manifest
served for a Glance image that was uploaded, not pushed.
"""

import dataclasses
import hashlib
import json

from nova_docker.registry import errors
from nova_docker.registry import references

DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json'
OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar'
DOCKER_LAYER_GZIP = DOCKER_LAYER + '.gzip'
OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar'
OCI_LAYER_GZIP = OCI_LAYER + '+gzip'

IMAGE_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
MANIFEST_TYPES = IMAGE_TYPES + INDEX_TYPES
# Layers a push may carry: the archive it becomes holds them unpacked,
# which the registry can do for these.
PLAIN_LAYERS = (DOCKER_LAYER, OCI_LAYER)
GZIP_LAYERS = (DOCKER_LAYER_GZIP, OCI_LAYER_GZIP)
# zstd layers (containerd, skopeo --dest-compress-format zstd): the
# push's archive gets them unpacked, as it gets gzip ones.
DOCKER_LAYER_ZSTD = DOCKER_LAYER + '.zstd'
OCI_LAYER_ZSTD = OCI_LAYER + '+zstd'
ZSTD_LAYERS = (DOCKER_LAYER_ZSTD, OCI_LAYER_ZSTD)
COMPRESSED_LAYERS = GZIP_LAYERS + ZSTD_LAYERS


@dataclasses.dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict | None = None


@dataclasses.dataclass
class Manifest:
    """A manifest as pushed or served: its exact bytes and what it names."""

    media_type: str
    raw: bytes
    config: Descriptor | None = None
    layers: list[Descriptor] = dataclasses.field(default_factory=list)
    children: list[Descriptor] = dataclasses.field(default_factory=list)

    @property
    def digest(self) -> str:
        return digest_of(self.raw)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def blobs(self) -> list[Descriptor]:
        return ([self.config] if self.config else []) + self.layers


def digest_of(data: bytes) -> str:
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _invalid(message: str) -> errors.ManifestInvalid:
    return errors.ManifestInvalid('invalid manifest: ' + message)


def _descriptor(entry, what: str) -> Descriptor:
    if not isinstance(entry, dict):
        raise _invalid('%s is not an object' % what)
    media_type, digest, size = (entry.get('mediaType'), entry.get('digest'),
                                entry.get('size'))
    if not isinstance(media_type, str) or not media_type:
        raise _invalid('%s has no mediaType' % what)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid('%s has no valid size' % what)
    if entry.get('urls'):
        raise _invalid('%s is a foreign layer (urls); this registry keeps '
                       'every layer in Glance' % what)
    references.check_digest(digest, errors.ManifestInvalid)
    platform = entry.get('platform')
    return Descriptor(media_type, digest, size,
                      platform if isinstance(platform, dict) else None)


def parse(raw: bytes, content_type: str | None) -> Manifest:
    """A pushed manifest, checked for shape (its blobs are checked by the
    storage, which knows what exists)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid('not JSON (%s)' % exc) from None
    if not isinstance(body, dict) or body.get('schemaVersion') != 2:
        raise _invalid('only schemaVersion 2 manifests are kept here')
    declared = body.get('mediaType')
    content_type = (content_type or '').split(';')[0].strip()
    media_type = declared or content_type
    if declared and content_type and content_type != declared:
        raise _invalid('Content-Type %s differs from its mediaType %s'
                       % (content_type, declared))
    if media_type not in MANIFEST_TYPES:
        raise _invalid('media type %r is not one of %s'
                       % (media_type, ', '.join(MANIFEST_TYPES)))
    if media_type in INDEX_TYPES:
        children = body.get('manifests')
        if not isinstance(children, list):
            raise _invalid('an index needs a manifests list')
        return Manifest(media_type, raw, children=[
            _descriptor(c, 'manifests[%d]' % i)
            for i, c in enumerate(children)])
    layers = body.get('layers')
    if not isinstance(layers, list):
        raise _invalid('an image manifest needs a layers list')
    manifest = Manifest(
        media_type, raw, config=_descriptor(body.get('config'), 'config'),
        layers=[_descriptor(layer, 'layers[%d]' % i)
                for i, layer in enumerate(layers)])
    for i, layer in enumerate(manifest.layers):
        if layer.media_type not in PLAIN_LAYERS + COMPRESSED_LAYERS:
            raise errors.ManifestInvalid(
                'layers[%d] has media type %s: Glance keeps images as '
                'docker load archives, which take tar layers, plain, '
                'gzip- or zstd-compressed' % (i, layer.media_type))
    return manifest


def accepted(accept_values: list[str]) -> set[str]:
    """The media types the client's Accept lines name."""
    types = set()
    for value in accept_values:
        for part in value.split(','):
            part = part.split(';')[0].strip()
            if part:
                types.add(part)
    return types


def acceptable(media_type: str, accepts: set[str]) -> bool:
    """No Accept, or */*, takes anything (as Distribution does)."""
    return not accepts or '*/*' in accepts or media_type in accepts


def served_type(accepts: set[str]) -> str | None:
    """The manifest type to generate for an uploaded image: Docker's,
    as docker save data is, else OCI's."""
    for media_type in IMAGE_TYPES:
        if acceptable(media_type, accepts):
            return media_type
    return None


def generated(media_type: str, config: bytes,
              layers: list[tuple[str, int, bool]]) -> Manifest:
    """The manifest of an image given its config and ``(digest, size,
    compression)`` layers (compression: false for plain, true or 'gzip',
    or 'zstd'): the same bytes every time for the same input."""
    docker = media_type == DOCKER_MANIFEST
    types = ((DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_LAYER_ZSTD) if docker
             else (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD))

    def layer_type(compression) -> str:
        return types[2 if compression == 'zstd' else int(bool(compression))]

    body = {
        'schemaVersion': 2,
        'mediaType': media_type,
        'config': {'mediaType': DOCKER_CONFIG if docker else OCI_CONFIG,
                   'size': len(config), 'digest': digest_of(config)},
        'layers': [{'mediaType': layer_type(gz), 'size': size,
                    'digest': digest} for digest, size, gz in layers],
    }
    raw = json.dumps(body, indent=3).encode()
    return parse(raw, media_type)
