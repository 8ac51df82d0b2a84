"""The engine-side names of Glance images (pure; the engine's copies
themselves are :mod:`nova_docker.image.local`'s).

A Glance image lives on the engine as ``glance/<image id>:latest`` (and
``glance/<image id>:used``, the image cache's record of its last use),
never under the name a user gave it: two projects' ``app:latest`` never
meet, and a cached private image is reached only through an image_ref
Nova has already authorised. A snapshot into Glance image ``<id>``
commits to ``nova-docker-snapshot/<id>:uploading`` while it uploads.
"""

import re

from nova import exception

LOCAL_REPO_PREFIX = 'glance/'
LOCAL_TAG = 'latest'
# A second name of a cached image, made anew on every use: the engine's
# LastTagTime is then the time of that use on both image stores (the
# containerd store keeps the old time when a name is tagged again onto
# the image it already names).
USED_TAG = 'used'
DOCKER_CONTAINER_FORMAT = 'docker'
COMMIT_REPO_PREFIX = 'nova-docker-snapshot/'
COMMIT_TAG = 'uploading'

_LOCAL_REF = re.compile(r'glance/([0-9a-f-]{36}):latest\Z')
_USED_REF = re.compile(r'glance/([0-9a-f-]{36}):used\Z')


def local_repo(image_id: str) -> str:
    return LOCAL_REPO_PREFIX + image_id


def local_ref(image_id: str) -> str:
    return '%s:%s' % (local_repo(image_id), LOCAL_TAG)


def used_ref(image_id: str) -> str:
    return '%s:%s' % (local_repo(image_id), USED_TAG)


def glance_id(ref: str) -> str | None:
    """The Glance image id of a local ref made by :func:`local_ref`."""
    match = _LOCAL_REF.match(ref)
    return match.group(1) if match else None


def marked_id(ref: str) -> str | None:
    """The Glance image id of a last-use marker made by :func:`used_ref`.
    """
    match = _USED_REF.match(ref)
    return match.group(1) if match else None


def lock_name(image_id: str) -> str:
    """The lock that serialises loading and removal of one image."""
    return 'nova-docker-image-' + image_id


def commit_repo(image_id: str) -> str:
    """The repository a snapshot into Glance image ``image_id`` commits
    to while it uploads."""
    return COMMIT_REPO_PREFIX + image_id


def commit_ref(image_id: str) -> str:
    return '%s:%s' % (commit_repo(image_id), COMMIT_TAG)


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
