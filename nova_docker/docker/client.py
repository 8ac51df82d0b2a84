"""DockerClient: the Docker Engine API client nova-docker uses."""

from __future__ import annotations

from nova_docker.docker.attach import AttachMixin
from nova_docker.docker.connection import Connection
from nova_docker.docker.containers import ContainersMixin
from nova_docker.docker.images import ImagesMixin
from nova_docker.docker.system import SystemMixin


class DockerClient(SystemMixin, ContainersMixin, AttachMixin, ImagesMixin,
                   Connection):
    """A small client of the Docker Engine HTTP API.

    ``base_url`` is ``unix:///path`` or ``tcp://host:port``. A tcp
    engine is reached over TLS (system CAs) unless ``tls`` is a
    TLSConfig with other settings, or None for plain HTTP. The API
    version is negotiated with the engine on first use. One client may be
    shared by any number of threads.

    Timeouts are seconds: ``connect_timeout`` to connect,
    ``read_timeout`` of silence for ordinary calls, ``image_timeout``
    for load, save, import, pull, push and commit.
    """
