"""Fixtures of the Docker client's unit tests."""

import pytest

from tests.unit.docker.helpers import RequestSpy


@pytest.fixture
def spy(client):
    """Records the arguments the client passes to requests."""
    return RequestSpy(client)
