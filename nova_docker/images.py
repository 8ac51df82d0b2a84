"""Glance <-> engine images: what the driver uses of ``nova_docker.image``.

A Glance image lives on the engine as ``glance/<image id>:latest`` only
(see :mod:`nova_docker.image.names`); :class:`ImageLoader` puts it there,
:class:`Snapshotter` makes Glance images of containers,
:class:`ImageCache` removes cached images no instance uses, and
:class:`LocalImages` owns those copies (lock, last use, quiet removal).
"""

from nova_docker.image.cache import ImageCache
from nova_docker.image.loader import ImageLoader
from nova_docker.image.local import LocalImages
from nova_docker.image.names import check_acceptable
from nova_docker.image.names import LOCAL_REPO_PREFIX
from nova_docker.image.names import LOCAL_TAG
from nova_docker.image.names import local_ref
from nova_docker.image.names import local_repo
from nova_docker.image.snapshot import Snapshotter

__all__ = ['ImageCache', 'ImageLoader', 'LOCAL_REPO_PREFIX', 'LOCAL_TAG',
           'LocalImages', 'Snapshotter', 'check_acceptable', 'local_ref',
           'local_repo']
