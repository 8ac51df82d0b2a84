"""Fixtures shared by the unit tests."""

import pytest

from nova_docker.docker import DockerClient
from tests.fixtures.fake_engine import FakeEngine


@pytest.fixture
def fake_engine():
    """A fake Docker Engine on a unix socket (tests.fixtures.fake_engine)."""
    engine = FakeEngine()
    engine.start()
    yield engine
    engine.stop()


@pytest.fixture
def client(fake_engine):
    """A client of the fake engine, with short timeouts."""
    docker = DockerClient(fake_engine.url, connect_timeout=2,
                          read_timeout=5, image_timeout=10)
    yield docker
    docker.close()
