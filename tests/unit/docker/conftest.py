"""Fixtures of the Docker client's unit tests."""

import pytest

from nova_docker.docker import DockerClient
from tests.unit.docker.helpers import RequestSpy


@pytest.fixture
def client(fake_engine):
    """A client of the fake engine, with short timeouts."""
    docker = DockerClient(fake_engine.url, connect_timeout=2,
                          read_timeout=5, image_timeout=10)
    yield docker
    docker.close()


@pytest.fixture
def spy(client):
    """Records the arguments the client passes to requests."""
    return RequestSpy(client)
