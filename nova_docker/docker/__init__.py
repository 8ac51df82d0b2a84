"""Docker Engine API client (knows nothing about Nova)."""

from nova_docker.docker import errors
from nova_docker.docker.client import DockerClient
from nova_docker.docker.connection import MAX_API
from nova_docker.docker.connection import MIN_API
from nova_docker.docker.connection import TLSConfig

__all__ = ['DockerClient', 'MAX_API', 'MIN_API', 'TLSConfig', 'errors']
