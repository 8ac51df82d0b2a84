"""A pushed image boots through the driver on every engine kind: its
tag image in Glance is a ``docker save`` archive whose layers are the
gzip blobs Docker pushed, which each engine (Docker's classic and
containerd image stores, Podman) and the driver's loader take as they
are. Real glance-api, registry and engines.

Every engine: ``NOVA_DOCKER_TEST_ENGINES=host,docker26,docker26-containerd,
podman`` (the default).
"""

import io
import json
import tarfile

import pytest

from tests.fixtures import registry as registry_fx
from tests.fixtures.glance_boot import boot
from tests.fixtures.glance_boot import local_ref
from tests.fixtures.glance_boot import wait_output

pytestmark = pytest.mark.every_engine

CMD = ('/bin/sh', '-c', 'cat /layer1 /layer2')


def _layer_heads(data: bytes) -> list[bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.load(tar.extractfile('manifest.json'))
        return [tar.extractfile(name).read(2)
                for name in manifest[0]['Layers']]


def test_a_pushed_image_boots(registry, alice, glance, glance_images,
                              gdriver, ctx, engine, instances, local_images,
                              engine_refs):
    ref = registry.address + '/bootable:1'
    engine_refs.append(ref)
    registry_fx.build_layered_image(alice, ref, layers=3, cmd=CMD)
    alice.run('push', ref)
    # The host engine keeps no layer of it: the boot there unpacks them.
    alice.run('rmi', ref)
    [tag] = glance_images.list_images(name='eq:bootable:1')
    assert _layer_heads(glance_images.download(tag['id'])) == [
        b'\x1f\x8b'] * 3

    local_images.append(local_ref(tag['id']))
    inst = instances()
    boot(gdriver, ctx, inst, tag['id'])
    assert wait_output(engine, inst) == b'layer 1\nlayer 2\n'
