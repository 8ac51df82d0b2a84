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


def test_a_snapshot_commits_under_its_glance_id():
    image_id = str(uuid.uuid4())
    assert names.commit_ref(image_id) == (
        'nova-docker-snapshot/%s:uploading' % image_id)
    assert names.glance_id(names.commit_ref(image_id)) is None
