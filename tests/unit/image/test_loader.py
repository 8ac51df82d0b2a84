"""Decisions of the loader, snapshotter and cache, with fake engine and
image API objects (the real ones are in tests/functional)."""

import datetime
import hashlib
import threading
import uuid

import pytest
from nova.compute import task_states
from nova import conf as nova_conf
from nova import exception
from oslo_utils import fixture as utils_fixture

from nova_docker.docker import errors as docker_errors
from nova_docker.image import cache
from nova_docker import exception as docker_exception
from nova_docker.image import loader
from nova_docker.image import names
from nova_docker.image import snapshot
from nova_docker.archive import tarstream
from nova_docker import labels
from tests.fixtures import image_api
from tests.fixtures import images as fx
from tests.unit import nova_objects


# -- names -----------------------------------------------------------------

def test_local_names_round_trip():
    image_id = str(uuid.uuid4())
    assert names.local_ref(image_id) == 'glance/%s:latest' % image_id
    assert names.glance_id(names.local_ref(image_id)) == image_id
    for other in ('glance/x:latest', 'app:latest',
                  'glance/%s:v1' % image_id, 'x/glance/%s:latest' % image_id):
        assert names.glance_id(other) is None


# -- loader decisions ------------------------------------------------------

@pytest.mark.parametrize('line, argv', [
    ('/bin/sh', ['/bin/sh']),
    ("/bin/sh -c 'echo a b'", ['/bin/sh', '-c', 'echo a b']),
])
def test_command_line_is_shell_split(line, argv):
    image = {'id': 'i', 'properties': {'os_command_line': line}}
    assert loader.command_line(image) == argv


@pytest.mark.parametrize('props, reason', [
    ({}, 'set the image property os_command_line'),
    ({'os_command_line': '   '}, 'set the image property os_command_line'),
    ({'os_command_line': "sh -c 'x"}, 'not a valid command line'),
])
def test_missing_or_bad_command_line_is_refused(props, reason):
    with pytest.raises(exception.ImageUnacceptable, match=reason):
        loader.command_line({'id': 'i', 'properties': props})


def test_names_a_load_applied_are_read_from_its_reply():
    lines = [
        {'stream': 'The image victim:x already exists, renaming the old one '
                   'with ID sha256:91228d to empty string\n'},
        {'stream': 'Loaded image: victim:x\n'},
        {'stream': 'Loaded image: new:y\n'},
        {'stream': 'Loaded image ID: sha256:abc\n'},
    ]
    assert loader.applied_names(lines) == (
        ['victim:x', 'new:y'], {'victim:x': 'sha256:91228d'})
    assert loader.applied_names(lines[3:]) == ([], {})


def test_size_limit_is_the_flavor_disk_else_the_option():
    assert loader.size_limit_gb(3) == 3
    assert loader.size_limit_gb(0) == loader.CONF.docker.max_image_size_gb
    assert isinstance(loader.too_large('i', 3),
                      exception.FlavorDiskSmallerThanImage)
    assert 'max_image_size_gb' in str(loader.too_large('i', 0))


def test_loaded_ids_from_engine_lines():
    lines = [{'stream': 'Loaded image ID: sha256:abc\n'},
             {'stream': 'Loaded image: x:y\n'}, {'status': 'x'}]
    assert loader.loaded_ids(lines) == ['sha256:abc']


def manifest_stream(manifest):
    stream = tarstream.TarStream()
    stream.kind = tarstream.DOCKER_SAVE
    stream.manifest = manifest
    return stream


def test_manifest_must_name_one_image():
    loader.check_manifest('i', manifest_stream([{'Config': 'a'}]))
    with pytest.raises(exception.ImageUnacceptable, match='holds 2 images'):
        loader.check_manifest('i', manifest_stream([{}, {}]))
    with pytest.raises(exception.ImageUnacceptable, match='no manifest'):
        loader.check_manifest('i', manifest_stream(None))


class FakeImageAPI:
    def __init__(self, data, **props):
        self.image = {'id': str(uuid.uuid4()), 'status': 'active',
                      'size': len(data), 'os_hash_algo': 'sha256',
                      'os_hash_value': hashlib.sha256(data).hexdigest(),
                      'properties': props}
        self.data = data
        self.downloads = 0

    def get(self, context, image_id):
        return dict(self.image)

    def download(self, context, image_id, data=None, dst_path=None,
                 trusted_certs=None):
        self.downloads += 1
        return image_api.deliver(image_api.chunks_of(self.data), data,
                                 dst_path)


class FakeClient:
    """Records calls; ``load_image`` reads the whole body like the
    engine, then answers as configured."""

    def __init__(self, load_error=None):
        self.tags = {}
        self.calls = []
        self.load_error = load_error
        self.removed = []
        self.lock = threading.Lock()

    def tag_image(self, image, repo, tag):
        self.calls.append(('tag', image))
        ref = '%s:%s' % (repo, tag)
        if image.startswith('sha256:'):
            self.tags[ref] = image
        elif image not in self.tags:
            raise docker_errors.NotFound('no such image', 404)

    def load_image(self, body):
        with self.lock:
            self.calls.append(('load',))
        data = b''.join(body)
        if self.load_error:
            raise self.load_error
        assert data.endswith(tarstream.END_OF_ARCHIVE)
        return [{'stream': 'Loaded image ID: sha256:%s\n'
                           % ('a' * 64)}]

    def import_image(self, body, repo, tag, changes=None):
        self.calls.append(('import', changes))
        b''.join(body)
        self.tags['%s:%s' % (repo, tag)] = 'sha256:' + 'b' * 64
        return [{'status': 'sha256:' + 'b' * 64}]

    def inspect_image(self, name):
        raise docker_errors.NotFound('no such image', 404)

    def remove_image(self, name, **kwargs):
        self.removed.append(name)
        raise docker_errors.NotFound('no such image', 404)


def test_concurrent_boots_of_one_image_load_it_once():
    api = FakeImageAPI(fx.docker_save_tar(None, ['/bin/sh']))
    client = FakeClient()
    image_loader = loader.ImageLoader(client, image_api=api)
    meta = nova_objects.image_meta(image_id=api.image['id'])
    refs = []
    threads = [threading.Thread(
        target=lambda: refs.append(image_loader.ensure_local(None, meta)))
        for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert refs == [names.local_ref(api.image['id'])] * 8
    assert [c for c in client.calls if c[0] == 'load'] == [('load',)]
    assert api.downloads == 1


def test_rootfs_is_imported_with_its_command():
    api = FakeImageAPI(fx.busybox_rootfs_tar(),
                       os_command_line="/bin/sh -c 'sleep 1'")
    client = FakeClient()
    loader.ImageLoader(client, image_api=api).ensure_local(
        None, nova_objects.image_meta(image_id=api.image['id']))
    assert ('import', ['CMD ["/bin/sh", "-c", "sleep 1"]']) in client.calls


@pytest.mark.parametrize('explanation, exc_type, match', [
    ('write /var/lib/docker/tmp/x: no space left on device',
     docker_exception.ImageLoadFailed, 'Free space'),
    ('invalid diffID for layer 0', exception.ImageUnacceptable,
     'not a loadable Docker image.*invalid diffID'),
])
def test_engine_stream_errors_are_told_apart(explanation, exc_type, match):
    api = FakeImageAPI(fx.docker_save_tar(None, ['/bin/sh']))
    client = FakeClient(load_error=docker_errors.StreamError(
        'error', 200, explanation))
    with pytest.raises(exc_type, match=match):
        loader.ImageLoader(client, image_api=api).ensure_local(
            None, nova_objects.image_meta(image_id=api.image['id']))
    assert names.local_ref(api.image['id']) in client.removed


def test_engine_gone_mid_load_is_hypervisor_unavailable():
    api = FakeImageAPI(fx.docker_save_tar(None, ['/bin/sh']))
    client = FakeClient(load_error=docker_errors.EngineUnreachable(
        'Cannot talk to the Docker Engine'))
    with pytest.raises(exception.HypervisorUnavailable, match='Cannot talk'):
        loader.ImageLoader(client, image_api=api).ensure_local(
            None, nova_objects.image_meta(image_id=api.image['id']))


# -- snapshot metadata ------------------------------------------------------

def test_snapshot_metadata_keeps_boot_properties_only():
    inst = nova_objects.instance(project_id='proj-1', os_type='linux')
    inst.system_metadata = {
        'image_os_command_line': '/bin/sh -c x',
        'image_hypervisor_type': 'docker',
        'image_img_signature': 'sig',
        'image_os_hash_value': 'abc',
        'image_min_ram': '0',
        'image_base_image_ref': 'old',
        'other': 'not an image key',
    }
    meta = snapshot.snapshot_metadata(inst)
    assert meta['container_format'] == 'docker'
    assert meta['disk_format'] == 'raw'
    props = meta['properties']
    assert props['os_command_line'] == '/bin/sh -c x'
    assert props['hypervisor_type'] == 'docker'
    assert props['owner_id'] == 'proj-1'
    assert props['image_location'] == 'snapshot'
    assert props['os_type'] == 'linux'
    for gone in ('img_signature', 'os_hash_value', 'min_ram',
                 'base_image_ref'):
        assert gone not in props


def test_snapshot_metadata_without_system_metadata():
    meta = snapshot.snapshot_metadata(nova_objects.instance())
    assert meta['properties']['owner_id'] == 'project-a'


def test_commit_blanks_the_instance_labels():
    change, = snapshot.COMMIT_CHANGES
    assert change.startswith('LABEL ')
    assert '"org.openstack.nova.instance-uuid"=""' in change
    assert '"org.openstack.nova.project-id"=""' in change


def test_commit_blanks_the_compute_host_and_every_label_of_ours():
    change, = snapshot.COMMIT_CHANGES
    assert '"org.openstack.nova.host"=""' in change
    assert '"org.openstack.nova.node"=""' in change
    for label in labels.KNOWN_LABELS:
        assert '"%s"=""' % label in change


@pytest.fixture
def non_inheritable():
    nova_conf.CONF.set_override('non_inheritable_image_properties',
                                ['cache_in_nova', 'base_only_note'])
    yield
    nova_conf.CONF.clear_override('non_inheritable_image_properties')


def test_snapshot_metadata_drops_registry_records_and_non_inheritable(
        non_inheritable):
    inst = nova_objects.instance()
    inst.system_metadata = {
        'image_os_command_line': '/bin/sh',
        'image_nova_docker_manifest': 'sha256:' + '1' * 64,
        'image_cache_in_nova': 'True',
        'image_base_only_note': 'x',
        'image_os_glance_import_task': 'y',
        'image_cinder_encryption_key_id': 'k',
    }
    # As nova's API made the snapshot's image (it copies the registry's
    # records); what the driver leaves out, the upload purges.
    current = {'nova_docker_manifest': 'sha256:' + '1' * 64,
               'nova_docker_tag': '1', 'image_type': 'snapshot',
               'instance_uuid': inst.uuid, 'base_image_ref': 'b-1',
               'os_command_line': '/bin/sh -c "asked for"',
               'cache_in_nova': 'True'}
    props = snapshot.snapshot_metadata(inst, current)['properties']
    for gone in ('nova_docker_manifest', 'nova_docker_tag', 'cache_in_nova',
                 'base_only_note', 'os_glance_import_task',
                 'cinder_encryption_key_id'):
        assert gone not in props, gone
    # nova's own properties of the snapshot stay; the request's win.
    assert props['image_type'] == 'snapshot'
    assert props['instance_uuid'] == inst.uuid
    assert props['base_image_ref'] == 'b-1'
    assert props['os_command_line'] == '/bin/sh -c "asked for"'


def test_snapshot_task_states_and_missing_container():
    class Client:
        def commit_container(self, *args, **kwargs):
            raise docker_errors.NotFound('no such container', 404)

    states = []
    inst = nova_objects.instance()
    with pytest.raises(exception.InstanceNotRunning):
        snapshot.Snapshotter(Client(), image_api=object()).snapshot(
            None, inst, 'img', lambda **kw: states.append(kw))
    assert states == [{'task_state': task_states.IMAGE_PENDING_UPLOAD}]


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
        image = cache.cached_images(self.images)[names.glance_id(ref)]
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
        assert client.removed == ([names.local_ref(unused)] if removed
                                  else [])
        assert sorted(client.tagged) == sorted(
            [names.local_ref(by_container), names.local_ref(by_instance)])
    finally:
        CONF.clear_override('remove_unused_original_minimum_age_seconds',
                            'image_cache')


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
