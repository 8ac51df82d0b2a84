"""Glance's hash, checked once as the data passes."""

import pytest
from nova import exception

from nova_docker.image import digest
from tests.fixtures.byte_streams import glance_image


# -- hash check -----------------------------------------------------------

def test_multihash_is_preferred_and_verified():
    data = b'data' * 1000
    check = digest.HashCheck.for_image(glance_image(data))
    assert check.algo == 'sha256'
    check.update(data)
    assert check.complete
    check.verify()


@pytest.mark.parametrize('over, algo', [
    ({'os_hash_algo': 'no-such-hash'}, 'md5'),
    ({'os_hash_algo': None, 'os_hash_value': None}, 'md5'),
    ({'os_hash_algo': None, 'os_hash_value': None, 'checksum': None}, None),
])
def test_hash_fallbacks(over, algo):
    data = b'x' * 10
    check = digest.HashCheck.for_image(glance_image(data, **over))
    assert check.algo == (algo if algo else None)
    check.update(data)
    check.verify()


def test_mismatch_says_checksum_mismatch_and_image_id():
    check = digest.HashCheck.for_image(glance_image(b'good'))
    check.update(b'evil')
    with pytest.raises(exception.ImageUnacceptable,
                       match='img-1.*checksum mismatch'):
        check.verify()
