"""Signed Glance images: the loader with nova's real image API
(``glance.API`` -> ``GlanceImageServiceV2``, its verifier from cursive)
over a fake glanceclient, real RSA-PSS signatures and a fake key manager,
into a fake engine that records what it was sent."""

import hashlib
import uuid

import pytest
from cursive import exception as cursive_exception
from nova import context as nova_context
from nova import exception
from nova import objects
from nova.image import glance

from nova_docker import conf as docker_conf
from nova_docker.docker.load_reply import LoadResult
from nova_docker.image import digest
from nova_docker.image import glance_api
from nova_docker.image import loader
from nova_docker.image import names
from nova_docker.archive import tarstream
from tests.fixtures import image_api
from tests.fixtures import images as fx
from tests.fixtures import signing
from tests.fixtures import nova_objects

CONF = docker_conf.CONF

# The base properties of Glance's image schema that nova reads; the rest
# of an image's keys become nova's ``properties``.
_SCHEMA = {'name': 'image', 'properties': {
    name: {} for name in ('id', 'name', 'status', 'size', 'checksum',
                          'os_hash_algo', 'os_hash_value', 'visibility',
                          'container_format', 'disk_format', 'owner')}}


class GlanceImage(dict):
    """An image as glanceclient returns it (a dict with its schema)."""

    schema = _SCHEMA


class Chunks:
    """glanceclient's ``data()`` reply: an iterable with ``wrapped``."""

    def __init__(self, content):
        self.wrapped = content
        self.chunks_read = 0

    def __iter__(self):
        for chunk in image_api.chunks_of(self.wrapped):
            self.chunks_read += 1
            yield chunk


class FakeGlanceClient:
    """nova's GlanceClientWrapper.call for the calls of a download."""

    def __init__(self):
        self.images = {}
        self.data = {}
        self.replies = []
        self.data_kwargs = []

    def add(self, content, **properties):
        image_id = str(uuid.uuid4())
        self.images[image_id] = GlanceImage(
            properties, id=image_id, name='signed', status='active',
            size=len(content), visibility='public',
            container_format='docker', disk_format='raw',
            os_hash_algo='sha256',
            os_hash_value=hashlib.sha256(content).hexdigest(),
            checksum=hashlib.md5(content).hexdigest())
        self.data[image_id] = content
        return image_id

    def call(self, context, version, method, controller=None, args=None,
             kwargs=None):
        image_id = args[0]
        if method == 'get':
            return GlanceImage(self.images[image_id])
        if method == 'data':
            self.data_kwargs.append(kwargs or {})
            reply = Chunks(self.data[image_id])
            self.replies.append(reply)
            return reply
        raise AssertionError('unexpected glance call %s' % method)


class RecordingEngine:
    """Reads a load's body like the engine, recording what arrived and
    whether the body ended (the end of the archive came) or broke off."""

    def __init__(self):
        self.tags = {}
        self.bodies = []
        self.removed = []

    def tag_image(self, image, repo, tag):
        if not image.startswith('sha256:') and image not in self.tags:
            from nova_docker.docker import errors as docker_errors
            raise docker_errors.NotFound('no such image', 404)
        self.tags['%s:%s' % (repo, tag)] = image

    def load_image(self, body):
        received = bytearray()
        self.bodies.append(received)
        for piece in body:
            received += piece
        return LoadResult(image_ids=('sha256:' + 'a' * 64,))

    def list_images(self):
        return [{'Id': image, 'RepoTags': [tag]}
                for tag, image in self.tags.items()]

    def import_image(self, body, repo, tag, changes=None):
        raise AssertionError('a docker save archive is loaded, not imported')

    def inspect_image(self, name):
        from nova_docker.docker import errors as docker_errors
        raise docker_errors.NotFound('no such image', 404)

    def remove_image(self, name, **kwargs):
        self.removed.append(name)


@pytest.fixture
def signer(monkeypatch):
    signer = signing.Signer()
    signing.use_key_manager(monkeypatch, signing.FakeKeyManager(signer))
    return signer


@pytest.fixture
def glance_client(monkeypatch):
    client = FakeGlanceClient()
    # nova's glance.API picks its GlanceImageServiceV2 here.
    monkeypatch.setattr(glance, 'get_default_image_service',
                        lambda: glance.GlanceImageServiceV2(client=client))
    return client


@pytest.fixture
def engine():
    return RecordingEngine()


# nova's own image API, and the loader's (glanceclient's hash off, since
# the loader checks it): signatures are verified alike.
@pytest.fixture(params=[glance.API, glance_api.ImageAPI],
                ids=['nova', 'loader'])
def image_loader(request, engine, glance_client):
    return loader.ImageLoader(engine, image_api=request.param())


@pytest.fixture
def verify_signatures():
    CONF.set_override('verify_glance_signatures', True, 'glance')
    yield
    CONF.clear_override('verify_glance_signatures', 'glance')


@pytest.fixture
def archive():
    return fx.docker_save_tar(None, ['/bin/sh'])


def context():
    return nova_context.RequestContext('user-a', 'project-a',
                                       auth_token='token', is_admin=False)


def ensure(image_loader, image_id, trusted_certs=None):
    return image_loader.ensure_local(
        context(), nova_objects.image_meta(image_id=image_id),
        trusted_certs=trusted_certs)


def complete(body):
    return bytes(body).endswith(tarstream.END_OF_ARCHIVE)


# -- signed and verified -----------------------------------------------------

def test_signed_image_loads_with_verification_on(
        image_loader, glance_client, engine, signer, archive,
        verify_signatures, monkeypatch):
    image_id = glance_client.add(archive, **signer.properties(archive))
    hashed = []
    real_update = digest.HashCheck.update
    monkeypatch.setattr(digest.HashCheck, 'update',
                        lambda self, chunk: (hashed.append(len(chunk)),
                                             real_update(self, chunk)))

    assert ensure(image_loader, image_id) == names.local_ref(image_id)

    assert len(engine.bodies) == 1 and complete(engine.bodies[0])
    # The data streamed once through nova's verifier and Glance's hash,
    # each byte hashed once.
    assert len(glance_client.replies) == 1
    assert sum(hashed) == len(archive)


def test_the_loader_asks_glanceclient_not_to_hash_again(
        glance_client, engine, archive, monkeypatch):
    # glanceclient's check comes after the last chunk, the loader's before
    # the end of the archive: one is enough, and it must be the loader's.
    image_id = glance_client.add(archive)
    hashed = []
    real_update = digest.HashCheck.update
    monkeypatch.setattr(digest.HashCheck, 'update',
                        lambda self, chunk: (hashed.append(len(chunk)),
                                             real_update(self, chunk)))
    ensure(loader.ImageLoader(engine), image_id)
    assert glance_client.data_kwargs == [{'do_checksum': False}]
    assert sum(hashed) == len(archive) and complete(engine.bodies[0])


def test_a_corrupt_download_is_caught_without_glanceclient_s_check(
        glance_client, engine, archive):
    image_id = glance_client.add(archive)
    glance_client.data[image_id] = archive[:-1] + b'x'
    with pytest.raises(exception.ImageUnacceptable,
                       match='checksum mismatch'):
        ensure(loader.ImageLoader(engine), image_id)
    assert len(engine.bodies) == 1 and not complete(engine.bodies[0])


def test_trusted_certs_of_the_instance_are_checked(
        image_loader, glance_client, engine, signer, archive):
    image_id = glance_client.add(archive, **signer.properties(archive))
    trusted = objects.TrustedCerts(ids=[signer.cert_uuid])
    ensure(image_loader, image_id, trusted_certs=trusted)
    assert complete(engine.bodies[0])


def test_untrusted_certificate_is_refused_before_the_download(
        image_loader, glance_client, engine, signer, archive, monkeypatch):
    other = signing.Signer('someone else')
    signing.use_key_manager(monkeypatch,
                            signing.FakeKeyManager(signer, other))
    image_id = glance_client.add(archive, **signer.properties(archive))
    trusted = objects.TrustedCerts(ids=[other.cert_uuid])
    with pytest.raises(exception.CertificateValidationFailed,
                       match=signer.cert_uuid):
        ensure(image_loader, image_id, trusted_certs=trusted)
    assert engine.bodies == [] and glance_client.replies == []


# -- refused -----------------------------------------------------------------

def test_wrong_signature_fails_after_the_data_and_the_end_stays_held(
        image_loader, glance_client, engine, signer, archive,
        verify_signatures):
    props = signer.properties(archive + b'something else')
    image_id = glance_client.add(archive, **props)

    with pytest.raises(cursive_exception.SignatureVerificationError,
                       match='%s does not match its signature' % image_id):
        ensure(image_loader, image_id)

    # nova verified after the last chunk; all of the data but the end of
    # the archive may have reached the engine, which cannot complete it.
    assert glance_client.replies[0].chunks_read == len(
        list(image_api.chunks_of(archive)))
    assert len(engine.bodies) == 1 and not complete(engine.bodies[0])
    assert names.local_ref(image_id) in engine.removed


def test_wrong_signature_with_a_spool_sends_nothing(
        image_loader, glance_client, engine, signer, archive,
        verify_signatures, tmp_path):
    image_id = glance_client.add(archive,
                                 **signer.properties(b'other data'))
    CONF.set_override('image_download_dir', str(tmp_path), 'docker')
    try:
        with pytest.raises(cursive_exception.SignatureVerificationError,
                           match='does not match its signature'):
            ensure(image_loader, image_id)
    finally:
        CONF.clear_override('image_download_dir', 'docker')
    assert engine.bodies == []
    assert list(tmp_path.iterdir()) == []


def test_signed_image_loads_through_the_spool(
        image_loader, glance_client, engine, signer, archive,
        verify_signatures, tmp_path):
    image_id = glance_client.add(archive, **signer.properties(archive))
    CONF.set_override('image_download_dir', str(tmp_path), 'docker')
    try:
        ensure(image_loader, image_id)
    finally:
        CONF.clear_override('image_download_dir', 'docker')
    assert complete(engine.bodies[0])


def test_unsigned_image_is_refused_before_any_byte(
        image_loader, glance_client, engine, archive, verify_signatures):
    image_id = glance_client.add(archive)
    with pytest.raises(cursive_exception.SignatureVerificationError,
                       match='Missing property'):
        ensure(image_loader, image_id)
    assert engine.bodies == [] and glance_client.replies == []


def test_verification_off_loads_unsigned_images_as_before(
        image_loader, glance_client, engine, archive):
    image_id = glance_client.add(archive)
    ensure(image_loader, image_id)
    assert complete(engine.bodies[0])


def test_verification_off_ignores_a_bad_signature(
        image_loader, glance_client, engine, signer, archive):
    # As for libvirt: without verify_glance_signatures or trusted_certs,
    # nova does not look at the signature properties.
    image_id = glance_client.add(archive, **signer.properties(b'other'))
    ensure(image_loader, image_id)
    assert complete(engine.bodies[0])


def test_cache_image_verifies_too(image_loader, glance_client, engine,
                                  signer, archive, verify_signatures):
    image_id = glance_client.add(archive, **signer.properties(b'other'))
    with pytest.raises(cursive_exception.SignatureVerificationError):
        image_loader.cache(context(), image_id)
    assert not complete(engine.bodies[0])
