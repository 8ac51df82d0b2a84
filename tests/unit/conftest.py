"""Fixtures shared by the unit tests."""

import pytest

from tests.fixtures.fake_engine import FakeEngine


@pytest.fixture
def fake_engine():
    """A fake Docker Engine on a unix socket (tests.fixtures.fake_engine)."""
    engine = FakeEngine()
    engine.start()
    yield engine
    engine.stop()
