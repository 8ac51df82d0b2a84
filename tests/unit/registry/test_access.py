"""Who sees which Glance image, and in what order."""

from nova_docker.registry import access
from nova_docker.registry.auth import ANONYMOUS
from nova_docker.registry.auth import Principal

ALICE = Principal('alice', 'project-a')
ADMIN = Principal('root', 'project-admin', admin=True)


def _image(image_id, owner='project-b', visibility='private',
           created='2024-01-01'):
    return {'id': image_id, 'owner': owner, 'visibility': visibility,
            'created_at': created}


def _members(accepted=()):
    return lambda image_id: 'accepted' if image_id in accepted else 'pending'


def test_standing():
    none = _members()
    assert access.standing(_image('1', 'project-a'), ALICE, none) == \
        access.OWN
    assert access.standing(_image('2', visibility='public'), ALICE, none) \
        == access.PUBLIC
    assert access.standing(_image('3', visibility='community'), ALICE,
                           none) == access.COMMUNITY
    assert access.standing(_image('4'), ALICE, none) is None
    assert access.standing(_image('5', visibility='shared'), ALICE,
                           none) is None
    assert access.standing(_image('5', visibility='shared'), ALICE,
                           _members({'5'})) == access.SHARED
    assert access.standing(_image('6'), ADMIN, none) == access.COMMUNITY


def test_anonymous_sees_public_only():
    none = _members()
    assert access.standing(_image('1', visibility='public'), ANONYMOUS,
                           none) == access.PUBLIC
    for visibility in ('community', 'shared', 'private'):
        assert access.standing(_image('1', visibility=visibility),
                               ANONYMOUS, none) is None
    # An image with no owner is not the anonymous caller's own.
    assert access.standing(_image('1', owner=None), ANONYMOUS, none) is None


def test_ranked_own_first_then_newest():
    images = [_image('public-old', visibility='public', created='2024-01'),
              _image('own-old', 'project-a', created='2024-01'),
              _image('hidden'),
              _image('public-new', visibility='public', created='2024-03'),
              _image('own-new', 'project-a', created='2024-02'),
              _image('shared', visibility='shared')]
    ranked = access.ranked(images, ALICE, _members({'shared'}))
    assert [i['id'] for i in ranked] == [
        'own-new', 'own-old', 'shared', 'public-new', 'public-old']


def test_may_change_own_only():
    assert access.may_change(_image('1', 'project-a'), ALICE)
    assert not access.may_change(_image('1'), ALICE)
    assert not access.may_change(_image('1', owner=None), ANONYMOUS)


def test_plain_names_answer_own_and_public_images_only():
    assert access.answers_plain_name(_image('1', 'project-a'), ALICE)
    assert access.answers_plain_name(_image('2', visibility='public'), ALICE)
    for visibility in ('community', 'shared', 'private'):
        assert not access.answers_plain_name(
            _image('3', visibility=visibility), ALICE)
    # Not even an admin's view makes another project's image take a name.
    assert not access.answers_plain_name(_image('4'), ADMIN)
    assert not access.answers_plain_name(_image('5', owner=None), ANONYMOUS)
