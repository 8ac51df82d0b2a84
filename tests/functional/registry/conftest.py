"""(glance_server, a real glance-api, comes from tests/functional's
conftest.) nova-docker-registry as its own process in front of
it, and the docker CLI logged in as two users of two projects."""

import subprocess

import pytest

from tests.fixtures import engine as engine_fixtures
from tests.fixtures import registry as registry_fx


@pytest.fixture(scope='module')
def registry(glance_server):
    engine_fixtures.require_engine()
    server = registry_fx.RegistryServer(glance_server.url,
                                        registry_fx.USERS)
    server.setUp()
    yield server
    server.cleanUp()


def _cli(registry, user):
    cli = registry_fx.DockerCLI()
    cli.setUp()
    cli.login(registry.address, user, registry_fx.USERS[user][0])
    return cli


@pytest.fixture(scope='module')
def alice(registry):
    cli = _cli(registry, 'alice')
    yield cli
    cli.cleanUp()


@pytest.fixture(scope='module')
def bob(registry):
    cli = _cli(registry, 'bob')
    yield cli
    cli.cleanUp()


@pytest.fixture
def engine_refs():
    """Engine image references to remove after the test."""
    refs = []
    yield refs
    for ref in refs:
        subprocess.run(['docker', 'rmi', '-f', ref], capture_output=True)


@pytest.fixture
def glance_images(glance_server):
    """Every Glance image a test made (tag images and hidden blobs) is
    deleted after it, so tests don't see each other's."""
    yield glance_server
    for image in glance_server.list_images(os_hidden='true'):
        glance_server.delete_image(image['id'])
    for image in glance_server.list_images():
        glance_server.delete_image(image['id'])
