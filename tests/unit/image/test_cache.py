"""Decisions of the image cache, with a fake engine object (the real one
is in tests/functional)."""

import datetime
import uuid

import pytest
from oslo_utils import fixture as utils_fixture

from nova_docker.docker import errors as docker_errors
from nova_docker.image import cache
from nova_docker.image import names
from tests.fixtures import nova_objects


# -- cache decisions -------------------------------------------------------

def test_cached_images_are_the_loaders_tags_only():
    ids = [str(uuid.uuid4()) for _ in range(2)]
    images = [
        {'Id': 'sha256:1', 'RepoTags': [names.local_ref(ids[0])]},
        {'Id': 'sha256:2', 'RepoTags': ['app:latest']},
        {'Id': 'sha256:3', 'RepoTags': None},
        {'Id': 'sha256:4', 'RepoTags': ['x:y', names.local_ref(ids[1])]},
    ]
    found = cache.cached_images(images)
    assert {k: v['Id'] for k, v in found.items()} == {
        ids[0]: 'sha256:1', ids[1]: 'sha256:4'}


def test_orphan_markers_are_used_names_without_their_latest():
    cached, orphan = (str(uuid.uuid4()) for _ in range(2))
    images = [
        {'Id': 'sha256:1', 'RepoTags': [names.local_ref(cached),
                                        names.used_ref(cached)]},
        {'Id': 'sha256:2', 'RepoTags': [names.used_ref(orphan)]},
        {'Id': 'sha256:3', 'RepoTags': ['app:used']},
    ]
    assert cache.orphan_markers(images) == {orphan}


def test_last_used_is_the_last_tag_time_else_creation():
    tagged = {'Metadata': {'LastTagTime': '2026-11-28T10:29:38.3154Z'},
              'Created': '2023-11-14T22:13:20Z'}
    never = {'Metadata': {'LastTagTime': '0001-01-01T00:00:00Z'},
             'Created': '2023-11-14T22:13:20Z'}
    assert cache.last_used(tagged) == datetime.datetime(
        2026, 11, 28, 10, 29, 38, 315400)
    assert cache.last_used(never) == datetime.datetime(
        2023, 11, 14, 22, 13, 20)


def test_images_in_use_by_containers_and_instances():
    containers = [{'ImageID': 'sha256:1'}, {'ImageID': None}]
    inst = nova_objects.instance(image_ref='glance-id-1')
    assert cache.images_in_use(containers, [inst]) == (
        {'sha256:1'}, {'glance-id-1'})


class CacheClient:
    def __init__(self, images, containers, last_tag):
        self.images = images
        self.containers = containers
        self.last_tag = last_tag
        self.tagged = []
        self.removed = []

    def list_images(self):
        return self.images

    def list_containers(self, all=True):
        return self.containers

    def inspect_image(self, ref):
        image = cache.cached_images(self.images).get(names.glance_id(ref))
        if image is None:
            raise docker_errors.NotFound('no such image: %s' % ref)
        return {'Id': image['Id'],
                'Metadata': {'LastTagTime': self.last_tag}}

    def tag_image(self, ref, repo, tag):
        self.tagged.append(ref)

    def remove_image(self, ref, **kwargs):
        self.removed.append(ref)


@pytest.fixture
def frozen_now():
    fixture = utils_fixture.TimeFixture(
        datetime.datetime(2026, 11, 28, 12, 0, 0))
    fixture.setUp()
    yield
    fixture.cleanUp()


@pytest.mark.parametrize('age_s, removed', [(3599, False), (3601, True)])
def test_unused_images_go_after_the_minimum_age(frozen_now, age_s, removed):
    from nova_docker.image.cache import CONF
    CONF.set_override('remove_unused_original_minimum_age_seconds', 3600,
                      'image_cache')
    try:
        unused, by_container, by_instance = (str(uuid.uuid4())
                                             for _ in range(3))
        images = [{'Id': 'sha256:%d' % i, 'RepoTags': [names.local_ref(g)]}
                  for i, g in enumerate((unused, by_container, by_instance))]
        last = (datetime.datetime(2026, 11, 28, 12, 0, 0)
                - datetime.timedelta(seconds=age_s))
        client = CacheClient(images, [{'ImageID': 'sha256:1'}],
                             last.isoformat() + 'Z')
        cache.ImageCache(client).manage(
            None, [nova_objects.instance(image_ref=by_instance)])
        # Used ones are named anew (the marker removed and tagged again:
        # one tag each); an old unused one loses both names, the marker
        # first.
        in_use = (by_container, by_instance)
        gone = [names.used_ref(unused), names.local_ref(unused)]
        assert sorted(client.removed) == sorted(
            [names.used_ref(g) for g in in_use] + (gone if removed else []))
        if removed:
            assert client.removed.index(gone[0]) < client.removed.index(
                gone[1])
        assert sorted(client.tagged) == sorted(
            [names.local_ref(g) for g in in_use])
    finally:
        CONF.clear_override('remove_unused_original_minimum_age_seconds',
                            'image_cache')


def test_an_orphan_marker_goes_and_a_cached_image_keeps_its_own(
        frozen_now):
    cached, orphan = (str(uuid.uuid4()) for _ in range(2))
    images = [{'Id': 'sha256:0', 'RepoTags': [names.local_ref(cached),
                                              names.used_ref(cached)]},
              {'Id': 'sha256:1', 'RepoTags': [names.used_ref(orphan)]}]
    client = CacheClient(images, [], '2026-11-28T11:59:59Z')
    cache.ImageCache(client).manage(None, [])
    assert client.removed == [names.used_ref(orphan)]


def test_nothing_is_removed_when_removal_is_off(frozen_now):
    from nova_docker.image.cache import CONF
    CONF.set_override('remove_unused_base_images', False, 'image_cache')
    try:
        images = [{'Id': 'sha256:0',
                   'RepoTags': [names.local_ref(str(uuid.uuid4()))]}]
        client = CacheClient(images, [], '2020-01-01T00:00:00Z')
        cache.ImageCache(client).manage(None, [])
        assert client.removed == []
    finally:
        CONF.clear_override('remove_unused_base_images', 'image_cache')
