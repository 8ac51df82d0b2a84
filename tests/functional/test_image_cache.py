"""DockerDriver.manage_image_cache against the real engine.

The cache manager looks at every ``glance/<id>:latest`` image of the
engine, which other test runs may share: each test passes instances that
reference the cached images it did not make (the product's own "in use"
rule protects them), and its own images are made old by waiting out a
short minimum age, so an image another run loads meanwhile is too young
to go.
"""

import time
import urllib.parse
import uuid

import pytest

from nova_docker import driver as driver_mod
from nova_docker.docker import references
from nova_docker.image import names
from tests.fixtures.glance_boot import boot
from tests.fixtures.glance_boot import engine_has
from tests.fixtures.glance_boot import local_ref
from tests.fixtures.images import save_tar
from tests.fixtures import nova_objects

pytestmark = pytest.mark.every_engine

MIN_AGE = 2


@pytest.fixture
def short_min_age():
    conf = driver_mod.CONF
    conf.set_override('remove_unused_original_minimum_age_seconds', MIN_AGE,
                      'image_cache')
    yield
    conf.clear_override('remove_unused_original_minimum_age_seconds',
                        'image_cache')
    conf.clear_override('remove_unused_base_images', 'image_cache')


def load(drv, ctx, glance, local_images, tar=None):
    image = glance.create_image('cached', tar or save_tar())
    local_images.append(local_ref(image['id']))
    drv.cache_image(ctx, image['id'])
    return image['id']


def others_in_use(engine, mine):
    """Instances standing for every cached image this test did not make
    (Podman names them docker.io/glance/...: read in Docker's form, or
    the pass removes the other modules' images of the session)."""
    cached = [names.glance_id(references.familiar(tag))
              for i in engine.images() for tag in i.get('RepoTags') or []]
    return [nova_objects.instance(image_ref=image_id) for image_id in cached
            if image_id and image_id not in mine]


def last_tag_time(engine, image_id):
    return engine.inspect_image(local_ref(image_id))['Metadata'][
        'LastTagTime']


def test_unused_old_images_go_used_and_young_ones_stay(
        gdriver, glance, ctx, engine, instances, local_images,
        short_min_age):
    if engine.kind == 'podman':
        # Its Docker API has no LastTagTime: the age is the image's
        # Created, so a young unused image goes (the support matrix).
        pytest.xfail('Podman keeps no time of last tagging')
    used_running, used_stopped, by_instance, unused = (
        load(gdriver, ctx, glance, local_images) for _ in range(4))
    # Not in all_instances below: only their containers keep the images.
    running, stopped = instances(), instances()
    boot(gdriver, ctx, running, used_running)
    boot(gdriver, ctx, stopped, used_stopped)
    gdriver.power_off(stopped, timeout=0)
    time.sleep(MIN_AGE + 0.5)
    young = load(gdriver, ctx, glance, local_images)
    before = last_tag_time(engine, used_running)
    mine = {used_running, used_stopped, by_instance, unused, young}
    all_instances = others_in_use(engine, mine) + [
        nova_objects.instance(image_ref=by_instance)]

    gdriver.manage_image_cache(ctx, all_instances)

    assert not engine_has(engine, local_ref(unused))
    for kept in (used_running, used_stopped, by_instance, young):
        assert engine_has(engine, local_ref(kept)), kept
    # In use: marked used now, so it ages from this pass on.
    assert last_tag_time(engine, used_running) > before
    assert engine.get('/containers/nova-%s/json' % running.uuid
                      ).json()['State']['Running'] is True


def test_nothing_goes_when_removal_is_off(
        gdriver, glance, ctx, engine, local_images, short_min_age):
    driver_mod.CONF.set_override('remove_unused_base_images', False,
                                 'image_cache')
    unused = load(gdriver, ctx, glance, local_images)
    time.sleep(MIN_AGE + 0.5)
    gdriver.manage_image_cache(ctx, others_in_use(engine, {unused}))
    assert engine_has(engine, local_ref(unused))


def test_same_data_under_two_glance_ids(
        gdriver, glance, ctx, engine, instances, local_images,
        short_min_age):
    """One engine image, two Glance ids: while a container runs it, both
    stay; once unused, each id's tag goes on its own."""
    tar = save_tar()
    first = load(gdriver, ctx, glance, local_images, tar)
    second = load(gdriver, ctx, glance, local_images, tar)
    engine_id = engine.inspect_image(local_ref(first))['Id']
    assert engine.inspect_image(local_ref(second))['Id'] == engine_id
    inst = instances()
    boot(gdriver, ctx, inst, first)
    time.sleep(MIN_AGE + 0.5)

    gdriver.manage_image_cache(ctx, others_in_use(engine, {first, second}))
    assert engine_has(engine, local_ref(first))
    assert engine_has(engine, local_ref(second))

    gdriver.destroy(ctx, inst, None)
    time.sleep(MIN_AGE + 0.5)
    gdriver.manage_image_cache(ctx, others_in_use(engine, {first, second}))
    assert not engine_has(engine, local_ref(first))
    assert not engine_has(engine, local_ref(second))
    assert not engine_has(engine, engine_id)


def test_capability_is_advertised():
    assert driver_mod.DockerDriver.capabilities['has_imagecache'] is True


def test_a_removed_image_loads_again_on_the_next_boot(
        gdriver, glance, ctx, engine, instances, local_images,
        short_min_age):
    image_id = load(gdriver, ctx, glance, local_images)
    time.sleep(MIN_AGE + 0.5)
    gdriver.manage_image_cache(ctx, others_in_use(engine, {image_id}))
    assert not engine_has(engine, local_ref(image_id))
    inst = instances(uuid=str(uuid.uuid4()))
    boot(gdriver, ctx, inst, image_id)
    assert engine_has(engine, local_ref(image_id))


def test_a_last_use_marker_left_alone_is_removed(
        gdriver, glance, ctx, engine, local_images):
    """A ``glance/<id>:used`` without its ``glance/<id>:latest`` (the
    main name was removed alone) would keep the image's data forever:
    the next pass removes it."""
    image_id = load(gdriver, ctx, glance, local_images)
    used = names.used_ref(image_id)
    local_images.append(used)
    assert gdriver._local_images.touch(image_id)
    engine.delete('/images/%s' % urllib.parse.quote(local_ref(image_id),
                                                    safe=''))
    assert engine_has(engine, used)
    gdriver.manage_image_cache(ctx, others_in_use(engine, {image_id}))
    assert not engine_has(engine, used)
