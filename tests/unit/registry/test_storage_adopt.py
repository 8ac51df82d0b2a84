"""A blob the caller's project already holds is not looked up again to be
adopted: a manifest PUT asks Glance once per blob, not twice."""

from nova_docker.registry import auth
from nova_docker.registry import records
from nova_docker.registry import storage

SEALER = records.Sealer('k' * 32)
ALICE = auth.Principal('alice', 'project-a')
DIGEST = 'sha256:' + 'a' * 64


class _Glance:
    """Glance's blob images, counting the lookups by digest."""

    def __init__(self, *images):
        self.images_held = list(images)
        self.lookups = 0
        self.created = []

    def as_user(self, token):
        return self

    def images(self, **filters):
        if storage.BLOB in filters:
            self.lookups += 1
        return [i for i in self.images_held
                if all(i.get(k) == v for k, v in filters.items()
                       if k in (storage.BLOB, 'owner'))]

    def create(self, **body):
        self.created.append(body)
        raise AssertionError('nothing is to be copied')


def _blob_image(owner):
    image = {'id': 'blob-1', 'owner': owner, 'size': 10, 'status': 'active',
             'os_hidden': True}
    image.update(SEALER.sealed('blob-1', owner, **{
        storage.BLOB: DIGEST, storage.REPOSITORY: 'app'}))
    return image


def test_a_mount_of_an_own_blob_asks_glance_once():
    glance = _Glance(_blob_image('project-a'))
    store = storage.Storage(glance, None, SEALER)
    assert store.mount(ALICE, 'other', DIGEST, 'app')
    assert glance.lookups == 1
    assert glance.created == []
