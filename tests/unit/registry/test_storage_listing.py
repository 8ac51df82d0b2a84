"""A tag looked up right after it appeared in Glance is found, though the
registry keeps its listing of images for a moment."""

from nova_docker.registry import auth
from nova_docker.registry import records
from nova_docker.registry import storage

SEALER = records.Sealer('k' * 32)
ALICE = auth.Principal('alice', 'project-a')


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
    store = storage.Storage(glance, None, SEALER, list_ttl=60)
    alice = ALICE
    assert store.tag_image(alice, 'saved', '1') is None

    glance.listed.append({'id': 'i-1', 'name': 'saved:1',
                          'owner': 'project-a', 'visibility': 'private'})

    assert store.tag_image(alice, 'saved', '1')['id'] == 'i-1'


def _listed(*images):
    glance = _Glance()
    glance.listed.extend(images)
    return storage.Storage(glance, None, SEALER)


def test_a_plain_name_is_the_callers_own_or_a_public_image():
    store = _listed(
        {'id': 'community', 'name': 'app:1', 'owner': 'project-b',
         'visibility': 'community', 'created_at': '2030-01-01'},
        {'id': 'public', 'name': 'base:1', 'owner': 'project-admin',
         'visibility': 'public'})
    # A newer community image of another project does not take the name.
    assert store.tag_image(ALICE, 'app', '1') is None
    assert store.tag_image(ALICE, 'project-b/app', '1')['id'] == \
        'community'
    assert store.tag_image(ALICE, 'community', 'latest')['id'] == \
        'community'
    assert store.tag_image(ALICE, 'base', '1')['id'] == 'public'
    assert store.catalog(ALICE) == ['base', 'project-b/app']


def test_the_callers_own_image_wins_its_plain_name():
    store = _listed(
        {'id': 'theirs', 'name': 'app:1', 'owner': 'project-b',
         'visibility': 'public', 'created_at': '2030-01-01'},
        {'id': 'mine', 'name': 'app:1', 'owner': 'project-a',
         'visibility': 'private', 'created_at': '2020-01-01'})
    assert store.tag_image(ALICE, 'app', '1')['id'] == 'mine'
    assert store.tag_image(ALICE, 'project-b/app', '1')['id'] == 'theirs'


def test_a_forged_record_is_not_in_the_listing():
    store = _listed({'id': 'forged', 'name': 'app:1', 'owner': 'project-a',
                     'visibility': 'private',
                     records.MANIFEST: 'sha256:' + 'a' * 64})
    [image] = store.repository(ALICE, 'app')
    assert records.MANIFEST not in image
    assert store.pushed_manifests(image) == []
