"""skopeo (Debian's), a second client independent of Docker: copy in,
inspect, copy out, in Docker's and in OCI's manifest formats."""

import hashlib
import io
import json
import subprocess
import tarfile

import pytest

from tests.fixtures import images as image_fx
from tests.fixtures.registry import USERS


def _skopeo(*args):
    proc = subprocess.run(['skopeo'] + list(args), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _creds(user='alice'):
    return '%s:%s' % (user, USERS[user][0])


@pytest.mark.parametrize('fmt', ['v2s2', 'oci'])
def test_skopeo_copies_in_and_out(registry, glance_images, tmp_path, fmt):
    archive = tmp_path / 'in.tar'
    archive.write_bytes(image_fx.docker_save_tar('skopeo:in', ['/bin/sh']))
    config_digest = 'sha256:' + image_fx.saved_image_id(archive.read_bytes())
    dest = 'docker://%s/skopeo-%s:1' % (registry.address, fmt)

    _skopeo('copy', '--format', fmt, '--dest-tls-verify=false',
            '--dest-creds', _creds(), 'docker-archive:%s' % archive, dest)

    assert glance_images.list_images(name='eq:skopeo-%s:1' % fmt)
    inspected = json.loads(_skopeo('inspect', '--tls-verify=false',
                                   '--creds', _creds(), dest))
    assert inspected['Name'] == '%s/skopeo-%s' % (registry.address, fmt)
    assert len(inspected['Layers']) == 1
    raw = json.loads(_skopeo('inspect', '--raw', '--tls-verify=false',
                             '--creds', _creds(), dest))
    if fmt == 'v2s2':
        # Docker's format keeps the config as it was; OCI's converts it.
        assert raw['config']['digest'] == config_digest
    out = tmp_path / 'out'
    _skopeo('copy', '--src-tls-verify=false', '--src-creds', _creds(),
            dest, 'dir:%s' % out)
    config = (out / raw['config']['digest'].split(':')[1]).read_bytes()
    assert 'sha256:' + hashlib.sha256(config).hexdigest() == \
        raw['config']['digest']
    assert json.loads(config)['rootfs']['diff_ids'] == json.loads(
        _config_of(archive.read_bytes()))['rootfs']['diff_ids']


def _config_of(save_tar: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(save_tar)) as tar:
        manifest = json.load(tar.extractfile('manifest.json'))
        return tar.extractfile(manifest[0]['Config']).read()


def test_skopeo_pulls_an_uploaded_archive(registry, glance_images,
                                          tmp_path):
    archive = image_fx.docker_save_tar(None, ['/bin/true'])
    glance_images.create_image('uploaded:1', archive, visibility='public')
    out = tmp_path / 'out'

    _skopeo('copy', '--src-tls-verify=false', '--src-creds',
            _creds('bob'), 'docker://%s/uploaded:1' % registry.address,
            'dir:%s' % out)

    # The config as the archive holds it, and its one layer unchanged.
    assert (out / image_fx.saved_image_id(archive)).read_bytes() == \
        _config_of(archive)
    layer = hashlib.sha256(image_fx.busybox_rootfs_tar()).hexdigest()
    assert (out / layer).read_bytes() == image_fx.busybox_rootfs_tar()


def test_skopeo_pushes_zstd_layers(registry, glance_images, tmp_path):
    archive = tmp_path / 'in.tar'
    archive.write_bytes(image_fx.docker_save_tar('zstd:in', ['/bin/sh']))
    dest = 'docker://%s/skopeo-zstd:1' % registry.address

    _skopeo('copy', '--format', 'oci', '--dest-compress',
            '--dest-compress-format', 'zstd', '--dest-tls-verify=false',
            '--dest-creds', _creds(), 'docker-archive:%s' % archive, dest)

    assert glance_images.list_images(name='eq:skopeo-zstd:1')
    out = tmp_path / 'out'
    _skopeo('copy', '--src-tls-verify=false', '--src-creds', _creds(),
            dest, 'dir:%s' % out)
    # Served as pushed: the zstd blob, which unpacks to the layer.
    import zstandard
    manifest = json.loads((out / 'manifest.json').read_bytes())
    layer = manifest['layers'][0]
    assert layer['mediaType'].endswith('+zstd')
    blob = (out / layer['digest'].split(':')[1]).read_bytes()
    assert zstandard.ZstdDecompressor().stream_reader(
        io.BytesIO(blob)).read() == image_fx.busybox_rootfs_tar()


@pytest.mark.parametrize('compression', ['gzip', 'zstd'])
@pytest.mark.parametrize('manifest_json', [True, False],
                         ids=['containerd-save', 'oci-archive'])
def test_skopeo_pulls_an_uploaded_oci_layout(registry, glance_images,
                                             tmp_path, compression,
                                             manifest_json):
    made = image_fx.OciLayout(['/bin/true'], compression=compression,
                              manifest_json=manifest_json,
                              platforms=['s390x'])
    name = 'uploaded-oci-%s-%d:1' % (compression, manifest_json)
    glance_images.create_image(name, made.tar(), visibility='public')
    out = tmp_path / 'out'

    _skopeo('copy', '--src-tls-verify=false', '--src-creds',
            _creds('bob'), 'docker://%s/%s' % (registry.address, name),
            'dir:%s' % out)

    # The config and the layer as the archive holds them.
    assert (out / image_fx.sha256_hex(made.config)).read_bytes() == \
        made.config
    assert (out / image_fx.sha256_hex(made.layer)).read_bytes() == made.layer
