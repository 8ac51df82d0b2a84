"""The engine-local names of Glance images."""

import uuid


from nova_docker.image import names


# -- names -----------------------------------------------------------------

def test_local_names_round_trip():
    image_id = str(uuid.uuid4())
    assert names.local_ref(image_id) == 'glance/%s:latest' % image_id
    assert names.glance_id(names.local_ref(image_id)) == image_id
    for other in ('glance/x:latest', 'app:latest',
                  'glance/%s:v1' % image_id, 'x/glance/%s:latest' % image_id):
        assert names.glance_id(other) is None
