"""Decisions of the loader, with fake engine and image API objects (the
real ones are in tests/functional)."""

import hashlib
import threading
import uuid

import pytest
from nova import exception

from nova_docker.docker import errors as docker_errors
from nova_docker.docker.load_reply import LoadResult
from nova_docker import exception as docker_exception
from nova_docker.image import loader
from nova_docker.image import names
from nova_docker.archive import oci
from nova_docker.archive import tarstream
from nova_docker import engine_facts
from tests.fixtures import image_api
from tests.fixtures import images as fx
from tests.fixtures import nova_objects


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


def test_size_limit_is_the_flavor_disk_else_the_option():
    assert loader.size_limit_gb(3) == 3
    assert loader.size_limit_gb(0) == loader.CONF.docker.max_image_size_gb
    assert isinstance(loader.too_large('i', 3),
                      exception.FlavorDiskSmallerThanImage)
    assert 'max_image_size_gb' in str(loader.too_large('i', 0))


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
        return LoadResult(image_ids=('sha256:' + 'a' * 64,))

    def list_images(self):
        return [{'Id': image, 'RepoTags': [tag]}
                for tag, image in self.tags.items()]

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


class SilentMover(FakeClient):
    """An engine whose load moves a name without saying from which image
    (Docker's containerd store, Podman); ``drops`` as the containerd
    store does the image that held it."""

    def __init__(self, drops=False):
        super().__init__()
        self.tags = {'victim:latest': 'sha256:' + 'v' * 64}
        self.drops = drops

    def load_image(self, body):
        b''.join(body)
        self.tags['victim:latest'] = 'sha256:' + 'e' * 64
        return LoadResult(names=('victim:latest',))

    def tag_image(self, image, repo, tag):
        if self.drops and image == 'sha256:' + 'v' * 64:
            raise docker_errors.NotFound('no such image', 404)
        super().tag_image(image, repo, tag)

    def remove_image(self, name, **kwargs):
        self.removed.append(name)
        self.tags.pop(name, None)


@pytest.mark.parametrize('drops', [False, True])
def test_a_name_moved_silently_is_put_back_or_removed(drops):
    api = FakeImageAPI(fx.docker_save_tar(None, ['/bin/sh']))
    client = SilentMover(drops=drops)
    image_loader = loader.ImageLoader(client, image_api=api)
    meta = nova_objects.image_meta(image_id=api.image['id'])
    with pytest.raises(exception.ImageUnacceptable,
                       match='applied the image names victim:latest') as exc:
        image_loader.ensure_local(None, meta)
    if drops:
        assert 'victim:latest' not in client.tags
        assert 'but for victim:latest' in str(exc.value)
    else:
        assert client.tags['victim:latest'] == 'sha256:' + 'v' * 64


def test_a_loader_given_the_hosts_facts_asks_the_engine_for_none():
    # A multi-platform OCI archive with a gzip layer needs both the
    # engine's platform and whether its load checks diff ids: the
    # driver's loader takes them from the Host, which read them once at
    # start (FakeClient has no version() or info() to ask).
    archive = fx.OciLayout(platforms=['arm64']).tar()
    api = FakeImageAPI(archive)
    client = FakeClient()
    asked = []

    def facts():
        asked.append(1)
        return engine_facts.EngineFacts(
            api_version='1.41', product=engine_facts.DOCKER, cpus=2,
            arch='x86_64', storage=None,
            platform=oci.Platform('linux', fx.host_arch()),
            checks_diff_ids=True)

    loader.ImageLoader(client, image_api=api, facts=facts).ensure_local(
        None, nova_objects.image_meta(image_id=api.image['id']))
    assert ('load',) in client.calls
    assert asked
