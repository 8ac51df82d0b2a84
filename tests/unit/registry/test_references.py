"""Names, tags and Glance names of the registry."""

import pytest

from nova_docker.registry import errors
from nova_docker.registry import references


@pytest.mark.parametrize('name', [
    'app', 'a/b/c', 'my-app', 'my--app', 'my_app', 'my__app', 'a.b',
    'library/busybox', 'x' * 253])
def test_good_names(name):
    assert references.check_name(name) == name


@pytest.mark.parametrize('name', [
    '', 'App', '..', 'a/../b', 'a//b', '/a', 'a/', '-a', 'a-', 'a..b',
    'a___b', 'a b', 'a:b'])
def test_bad_names_say_why(name):
    with pytest.raises(errors.NameInvalid) as raised:
        references.check_name(name)
    assert 'lowercase' in raised.value.message
    assert raised.value.detail == {'name': name}


def test_a_name_that_leaves_no_room_for_a_tag_is_invalid():
    with pytest.raises(errors.NameInvalid) as raised:
        references.check_name('x' * 254)
    assert 'Glance image name (255' in raised.value.message


@pytest.mark.parametrize('tag', ['latest', '1.0', 'v1-rc_2', '_x', 't' * 128,
                                 'A'])
def test_good_tags(tag):
    assert references.check_tag('app', tag) == tag


@pytest.mark.parametrize('tag', ['', '.x', '-x', 't' * 129, 'a+b', 'a/b',
                                 'a:b'])
def test_bad_tags(tag):
    with pytest.raises(errors.TagInvalid) as raised:
        references.check_tag('app', tag)
    assert 'up to 128' in raised.value.message


def test_a_name_and_tag_longer_than_a_glance_name_is_tag_invalid():
    name = 'n' * 250
    assert references.check_tag(name, 'abcd')  # 255 exactly
    with pytest.raises(errors.TagInvalid) as raised:
        references.check_tag(name, 'abcde')
    assert '256 characters' in raised.value.message


@pytest.mark.parametrize('digest', [None, '', 'sha256', 'sha256:', 'abc',
                                    'SHA256:' + 'a' * 64])
def test_malformed_digests(digest):
    with pytest.raises(errors.DigestInvalid, match='invalid digest'):
        references.check_digest(digest)


@pytest.mark.parametrize('digest', ['sha512:' + 'a' * 128, 'sha256:abc',
                                    'sha256:' + 'A' * 64])
def test_digests_other_than_sha256_are_unsupported(digest):
    with pytest.raises(errors.DigestInvalid, match='unsupported digest'):
        references.check_digest(digest)


def test_check_digest_raises_the_error_asked_for():
    with pytest.raises(errors.ManifestInvalid):
        references.check_digest('x', errors.ManifestInvalid)


@pytest.mark.parametrize('glance_name,expected', [
    ('app:1', ('app', '1')),
    ('a/b:latest', ('a/b', 'latest')),
    ('app:1:2', None),  # 'app:1' is not a name
    ('App:1', None),
    ('app', ('app', 'latest')),  # a Nova snapshot's name, say
    ('My Snapshot', None),
    ('', None),
    (None, None),
    ('(replaced) app:1', None),
    ('app@sha256:' + 'a' * 64, None),
    ('app:.x', None),
])
def test_split_glance_name(glance_name, expected):
    assert references.split_glance_name(glance_name) == expected


def test_glance_name_round_trips():
    assert references.split_glance_name(
        references.glance_name('a/b', 'v1')) == ('a/b', 'v1')
