"""Docker Engine API client (knows nothing about Nova)."""

from nova_docker.docker import errors
from nova_docker.docker.client import DockerClient
from nova_docker.docker.connection import MAX_API
from nova_docker.docker.connection import MIN_API
from nova_docker.docker.connection import TLSConfig
from nova_docker.docker.load_reply import LoadResult

__all__ = ['DockerClient', 'LoadResult', 'MAX_API', 'MIN_API', 'TLSConfig',
           'errors']
