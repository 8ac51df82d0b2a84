"""The registry believes only the records it sealed itself."""

import pytest

from nova_docker.registry import records

SEALER = records.Sealer('s' * 40)
DIGEST = 'sha256:' + 'b' * 64


def _image(image_id='i-1', owner='project-a', **props):
    image = {'id': image_id, 'owner': owner, 'name': 'app:1'}
    image.update(SEALER.sealed(image_id, owner, **props))
    return image


def test_a_sealed_record_verifies():
    image = _image(**{records.MANIFEST: DIGEST, records.REPOSITORY: 'app'})
    assert SEALER.verified(image)
    assert SEALER.trusted(image) is image


@pytest.mark.parametrize('change', [
    {records.MANIFEST: 'sha256:' + 'c' * 64},  # another digest
    {'owner': 'project-b'},                    # another project's image
    {'id': 'i-2'},                             # copied onto another image
    {records.REPLACED_BY: 'i-3'},              # a record added by hand
    {records.SEAL: 'v1:' + '0' * 64},          # a seal made up
])
def test_a_changed_record_does_not_verify(change):
    image = _image(**{records.MANIFEST: DIGEST, records.REPOSITORY: 'app'})
    image.update(change)
    assert not SEALER.verified(image)
    trusted = SEALER.trusted(image)
    assert not records.has_records(trusted)
    assert trusted['name'] == 'app:1'


def test_an_unsealed_record_is_dropped():
    image = {'id': 'i-1', 'owner': 'project-a', 'name': 'app:1',
             records.MANIFEST: DIGEST, 'nova_docker_anything': 'x'}
    assert SEALER.trusted(image) == {'id': 'i-1', 'owner': 'project-a',
                                     'name': 'app:1'}


def test_another_key_does_not_verify():
    image = _image(**{records.BLOB: DIGEST})
    assert not records.Sealer('t' * 40).verified(image)


def test_an_image_without_records_is_kept_as_is():
    image = {'id': 'i-1', 'owner': 'project-a', 'name': 'saved:1'}
    assert SEALER.trusted(image) is image


@pytest.mark.parametrize('key', [None, '', 'short'])
def test_a_missing_or_short_key_says_what_to_set(key):
    with pytest.raises(ValueError, match=r'\[registry\] record_key'):
        records.Sealer(key)
