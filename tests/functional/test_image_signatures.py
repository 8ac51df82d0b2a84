"""Signed Glance images on the real engine: nova's real image API against
a real glance-api, ``[glance] verify_glance_signatures`` on, RSA-PSS
signatures made here and a fake key manager (there is no Barbican: see
tests/fixtures/signing.py).

Glance checks a signature at upload only when its key manager finds the
certificate; the properties are set after the upload instead.
"""

import pytest
from cursive import exception as cursive_exception

from nova_docker import driver as driver_mod
from tests.fixtures import glance_boot as base
from tests.fixtures.glance_boot import assert_nothing_left
from tests.fixtures.glance_boot import boot
from tests.fixtures.glance_boot import engine_has
from tests.fixtures.glance_boot import local_ref
from tests.fixtures.glance_boot import wait_output
from tests.fixtures.images import save_tar
from tests.fixtures import signing
from tests.fixtures.spies import CountingCalls


@pytest.fixture
def signer(monkeypatch):
    signer = signing.Signer()
    signing.use_key_manager(monkeypatch, signing.FakeKeyManager(signer))
    return signer


@pytest.fixture
def verify_signatures():
    driver_mod.CONF.set_override('verify_glance_signatures', True, 'glance')
    yield
    driver_mod.CONF.clear_override('verify_glance_signatures', 'glance')


def signed_image(glance, local_images, data, signature_props):
    image = glance.create_image('signed', data)
    local_images.append(local_ref(image['id']))
    glance.set_properties(image['id'], **signature_props)
    return image


def test_signed_image_boots_with_verification_on(
        gdriver, glance, ctx, engine, instances, local_images, signer,
        verify_signatures):
    tar = save_tar(['/bin/echo', 'signed and verified'])
    image = signed_image(glance, local_images, tar, signer.properties(tar))
    inst = instances()
    boot(gdriver, ctx, inst, image['id'])
    assert wait_output(engine, inst) == b'signed and verified\n'


def test_wrong_signature_fails_the_boot_and_leaves_nothing(
        gdriver, glance, ctx, engine, instances, local_images, signer,
        verify_signatures):
    tar = save_tar()
    image = signed_image(glance, local_images, tar,
                         signer.properties(tar + b'not this'))
    inst = instances()
    with pytest.raises(cursive_exception.SignatureVerificationError,
                       match='%s does not match its signature'
                             % image['id']):
        boot(gdriver, ctx, inst, image['id'])
    assert_nothing_left(engine, image['id'], tar)
    assert engine.get('/containers/nova-%s/json' % inst.uuid
                      ).status_code == 404


def test_unsigned_image_is_refused_before_the_engine_sees_a_byte(
        gdriver, glance, ctx, engine, instances, local_images,
        verify_signatures, monkeypatch, engine_client):
    tar = save_tar()
    image = glance.create_image('unsigned', tar)
    loads = CountingCalls(monkeypatch, engine_client, 'load_image')
    imports = CountingCalls(monkeypatch, engine_client, 'import_image')
    with pytest.raises(cursive_exception.SignatureVerificationError,
                       match='Missing property'):
        boot(gdriver, ctx, instances(), image['id'])
    assert (loads.count, imports.count) == (0, 0)
    assert_nothing_left(engine, image['id'], tar)


def test_verification_off_loads_a_badly_signed_image_as_before(
        gdriver, glance, ctx, engine, local_images, signer, loader):
    tar = save_tar()
    image = signed_image(glance, local_images, tar,
                         signer.properties(b'other data'))
    loader.ensure_local(ctx, base.image_meta(image['id']))
    assert engine_has(engine, local_ref(image['id']))
