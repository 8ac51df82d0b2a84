"""A tag looked up right after it appeared in Glance is found, though the
registry keeps its listing of images for a moment."""

from nova_docker.registry import auth
from nova_docker.registry import storage


class _Glance:
    """Glance's image list, as the storage asks for it."""

    def __init__(self):
        self.listed = []

    def as_user(self, token):
        return self

    def images(self, **filters):
        return list(self.listed)

    def member_status(self, image_id, project_id):
        return None


def test_an_image_uploaded_within_the_listing_ttl_is_found():
    glance = _Glance()
    store = storage.Storage(glance, None, list_ttl=60)
    alice = auth.Principal('alice', 'project-a')
    assert store.tag_image(alice, 'saved', '1') is None

    glance.listed.append({'id': 'i-1', 'name': 'saved:1',
                          'owner': 'project-a', 'visibility': 'private'})

    assert store.tag_image(alice, 'saved', '1')['id'] == 'i-1'
