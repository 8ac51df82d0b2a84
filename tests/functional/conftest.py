"""Fixtures for tests against the real Docker Engine."""

import uuid

import pytest
from nova import context as nova_context

from nova_docker import driver as driver_mod
from nova_docker import host as host_mod
from nova_docker.image import glance_api
from nova_docker import images
from tests.fixtures import engine as engine_fixtures
from tests.fixtures import engines as engines_fx
from tests.fixtures import glance as glance_fx
from tests.fixtures import image_api as image_api_fixtures
from tests.fixtures import images as image_fixtures
from tests.fixtures import nova_objects


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'every_engine: run the module once per engine kind '
        '(tests/fixtures/engines.py)')


def pytest_generate_tests(metafunc):
    # A module marked every_engine runs once per engine (see
    # tests/fixtures/engines.py); session scope: each engine starts once.
    uses = {'engine', 'private_engine'} & set(metafunc.fixturenames)
    if uses and metafunc.definition.get_closest_marker('every_engine'):
        metafunc.parametrize('engine_kind', engines_fx.kinds_to_run(),
                             indirect=True, scope='session')


@pytest.fixture(scope='session', autouse=True)
def run_instances_path(tmp_path_factory):
    """[DEFAULT] instances_path of every driver of the tier (config
    drives, resolution files): a directory of the run's own, which must
    be empty again at the end."""
    path = tmp_path_factory.mktemp('instances')
    driver_mod.CONF.set_override('instances_path', str(path))
    yield path
    driver_mod.CONF.clear_override('instances_path')
    left = sorted(p.name for p in path.iterdir())
    assert not left, 'instance directories left behind: %s' % left


@pytest.fixture(scope='session')
def engine_kind(request):
    """Which engine ``engine`` is: 'host' unless parametrized."""
    return getattr(request, 'param', engines_fx.HOST)


@pytest.fixture(scope='session')
def private_engines():
    pool = engines_fx.Pool()
    yield pool
    pool.teardown()


@pytest.fixture(scope='session')
def engine(engine_kind, private_engines):
    """A raw view of the real engine, independent of the product client:
    the host's, or the private one of ``engine_kind``. ``url`` is its
    address for ``[docker] host_url``."""
    if engine_kind == engines_fx.HOST:
        engine_fixtures.require_engine()
        api = engine_fixtures.EngineAPI()
        api.url = None  # [docker] host_url as configured
    else:
        engines_fx.require(engine_kind)
        private = private_engines.get(engine_kind)
        api = private.api()
        api.url = private.url
    api.kind = engine_kind
    yield api
    api.close()


def _load_as(engine, image_id, cmd):
    """Put a busybox image on the engine as the driver would name the
    Glance image ``image_id``."""
    tar = image_fixtures.docker_save_tar(None, cmd)
    # Docker: 'Loaded image ID: sha256:...'; Podman: 'Loaded image:
    # sha256:...'.
    loaded = engine.load(tar).rsplit(' ', 1)[1]
    engine.post('/images/%s/tag' % loaded,
                params={'repo': 'glance/' + image_id, 'tag': 'latest'})
    return 'glance/%s:latest' % image_id


@pytest.fixture(scope='session')
def busybox_image(engine):
    """ImageMeta of a cached image whose command is an idle shell."""
    image_id = str(uuid.uuid4())
    ref = _load_as(engine, image_id, ['/bin/sh'])
    yield nova_objects.image_meta(image_id=image_id)
    engine.remove_image(ref)


@pytest.fixture
def image_api():
    return image_api_fixtures.LocalImageAPI()


@pytest.fixture
def engine_client(engine):
    """The product's client of the engine, as the drivers of a test get
    it: a test may wrap its calls to make the engine fail at a point.
    ``[docker] host_url`` points at the engine while the test runs."""
    if engine.url:
        host_mod.CONF.set_override('host_url', engine.url, 'docker')
    client = host_mod.client_from_conf()
    yield client
    client.close()
    if engine.url:
        host_mod.CONF.clear_override('host_url', 'docker')


@pytest.fixture
def driver(engine_client, image_api):
    drv = driver_mod.DockerDriver(virtapi=None,
                                  host=host_mod.Host(engine_client),
                                  image_api=image_api)
    drv.init_host('test-node')
    return drv


@pytest.fixture
def instances(driver, engine):
    """Factory of instances whose containers are removed (and checked
    gone) after the test."""
    made = []

    def make(**kwargs):
        inst = nova_objects.instance(**kwargs)
        made.append(inst)
        return inst

    yield make
    for inst in made:
        driver.destroy(None, inst, network_info=None)
    names = {n.lstrip('/') for c in engine.containers()
             for n in c.get('Names') or []}
    left = [i.uuid for i in made
            if {'nova-' + i.uuid, 'nova-%s-sandbox' % i.uuid} & names]
    assert not left, 'containers left behind for %s' % left


# -- Glance-backed fixtures of the test_image* and test_hostile_images modules

@pytest.fixture(scope='module')
def glance_server():
    server = glance_fx.GlanceServer()
    server.setUp()
    yield server
    server.cleanUp()


@pytest.fixture
def glance(glance_server):
    """The Glance server, with nova's image API pointed at it."""
    glance_fx.point_nova_at(glance_server)
    yield glance_server
    glance_fx.unpoint_nova()


@pytest.fixture
def ctx():
    return nova_context.RequestContext('user-a', 'project-a',
                                       auth_token='token', is_admin=True)


@pytest.fixture
def gdriver(engine_client, glance_image_api, local_images):
    """A DockerDriver as nova-compute builds it, reading from Glance.

    It depends on ``local_images`` so that the images are removed after
    the containers of ``instances`` (set up later, torn down earlier): a
    running container would keep a removed image as a dangling one.
    """
    drv = driver_mod.DockerDriver(virtapi=None,
                                  host=host_mod.Host(engine_client),
                                  image_api=glance_image_api)
    drv.init_host('test-node')
    return drv


@pytest.fixture
def glance_image_api(glance):
    """The image API the driver reads Glance with by default."""
    return glance_api.ImageAPI()


@pytest.fixture
def loader(engine_client, glance_image_api):
    """The image loader of ``gdriver``'s kind, on the same client and
    image API: what a test of loading calls directly."""
    return images.ImageLoader(engine_client, image_api=glance_image_api)


@pytest.fixture
def local_images(engine):
    """Engine references to remove after the test (missing ones are
    fine)."""
    refs = []
    yield refs
    for ref in refs:
        engine.remove_image(ref)
